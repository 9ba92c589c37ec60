"""Layers at /opt, the code read-only at /var/task, and AWS_LAMBDA_EXEC_WRAPPER, through the real CLI (issue 11).

The function, its layers and the wrapper live in `code_dir` (never under /tmp); a zip layer is extracted into
lambdatui's own state folder, which goes with the run. Where this machine cannot lay out /var/task and /opt
(no mount namespace), the tests that need the layout skip and say why; the fallback itself is tested by putting
lambdatui's state folder under /var, which the layout would make read-only.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from e2e_support import CLI_TIMEOUT, REPO, lambdatui_argv, platform_lines, run_cli, write_file
from lambdatui.processes.filesystem import FunctionFiles
from lambdatui.processes.sandbox import Sandbox
from lambdatui.run_folders import state_root
from lambdatui.runtime_choice import BOOTSTRAP_DIR

HANDLER = '''import errno
import os
import sys

import greeting


def attempt(path):
    try:
        with open(path, "w") as fh:
            fh.write("x")
        return "written"
    except OSError as exc:
        return errno.errorcode[exc.errno]


def handler(event, context):
    return {
        "who": greeting.WHO,
        "greeting_file": greeting.__file__,
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "cwd": os.getcwd(),
        "path": sys.path[:3],
        "PATH": os.environ["PATH"].split(":")[-1],
        "LD_LIBRARY_PATH": os.environ["LD_LIBRARY_PATH"].split(":")[-1],
        "tool": os.popen("layer-tool").read().strip(),
        "write_task": attempt(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "new.txt")),
        "write_opt": attempt("/opt/new.txt"),
        "wrapped": os.environ.get("WRAPPED_BY"),
    }
'''

# AWS's pattern (python-example-extension): /opt/extensions/NAME is a small script that execs the real program
# from its own folder under /opt, which registers with the script's file name.
EXTENSION_LAUNCHER = '''#!/bin/sh
echo "launching $(basename "$0") from $0 in $(pwd)"
exec "{python}" -S /opt/audit-impl/main.py "$(basename "$0")"
'''

EXTENSION_MAIN = '''import json, os, sys, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
request = urllib.request.Request(api + "/register", data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
                                 headers={"Lambda-Extension-Name": sys.argv[1]}, method="POST")
ident = urllib.request.urlopen(request).headers["Lambda-Extension-Identifier"]
print("registered", flush=True)
while True:
    nxt = urllib.request.Request(api + "/event/next", headers={"Lambda-Extension-Identifier": ident})
    event = json.load(urllib.request.urlopen(nxt))
    print("event", event["eventType"], flush=True)
    if event["eventType"] == "SHUTDOWN":
        break
'''

WRAPPER = '''#!/bin/sh
echo "wrapper runs: $*" >&2
export WRAPPED_BY="$0"
exec "$@"
'''


def layout_expected(code_dir: Path) -> Sandbox:
    """The decision lambdatui will make for a Python function in `code_dir` (its state folder is state_root())."""
    needed = [str(code_dir), sys.executable, str(BOOTSTRAP_DIR)]
    env_dir = state_root() / f"layout-probe-{secrets.token_hex(4)}"
    (env_dir / "tmp").mkdir(parents=True)
    try:
        return Sandbox.create(env_dir / "tmp", needed, files=FunctionFiles(code_dir))
    finally:
        shutil.rmtree(env_dir)


@pytest.fixture
def laid_out(code_dir: Path) -> Path:
    """`code_dir`, where lambdatui lays out /var/task and /opt; else a skip that says why."""
    sandbox = layout_expected(code_dir)
    sandbox.close()
    if sandbox.layout is None:
        pytest.skip(f"lambdatui cannot lay out /var/task and /opt here: {sandbox.files_note}")
    return code_dir


def first_layer(root: Path) -> Path:
    layer = root / "layer-one"
    write_file(layer / "python" / "greeting.py", "WHO = 'first layer'\n")
    write_file(layer / "python" / "only_first.py", "X = 1\n")
    write_file(layer / "extensions" / "audit", EXTENSION_LAUNCHER.format(python=sys.executable), executable=True)
    write_file(layer / "audit-impl" / "main.py", EXTENSION_MAIN)
    write_file(layer / "wrapper", WRAPPER, executable=True)
    return layer


def second_layer_zip(root: Path) -> Path:
    """A later layer, as a .zip: its greeting.py replaces the first layer's; it ships a tool in bin/."""
    archive = root / "layer-two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("python/greeting.py", "WHO = 'second layer'\n")
        tool = zipfile.ZipInfo("bin/layer-tool")
        tool.external_attr = 0o100755 << 16
        zf.writestr(tool, "#!/bin/sh\necho tool from $0\n")
    return archive


def test_layers_merge_at_opt_their_extension_runs_and_the_code_is_read_only_at_var_task(laid_out: Path) -> None:
    code = laid_out / "function"
    handler = write_file(code / "handler.py", HANDLER)
    one, two = first_layer(laid_out), second_layer_zip(laid_out)
    result = run_cli("invoke", str(handler), "--layer", str(one), "--layer", str(two))
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert response == {
        "who": "second layer",  # a later layer's file replaces an earlier one's
        "greeting_file": "/opt/python/greeting.py",
        "task_root": "/var/task",
        "cwd": "/var/task",
        "path": ["/var/task", f"/opt/python/lib/{version}/site-packages", "/opt/python"],
        "PATH": "/opt/bin",
        "LD_LIBRARY_PATH": "/opt/lib",
        "tool": "tool from /opt/bin/layer-tool",
        "write_task": "EROFS",
        "write_opt": "EROFS",
        "wrapped": None,
    }
    assert not (code / "new.txt").exists()
    assert "[audit]      launching audit from /opt/extensions/audit in /var/task" in result.stderr
    assert "[audit]      registered" in result.stderr
    assert any(line.startswith("EXTENSION\tName: audit\tState: Ready") for line in platform_lines(result.stderr))
    assert "[audit]      event SHUTDOWN" in result.stderr
    assert "not laid out" not in result.stderr


def test_the_runtime_starts_through_the_exec_wrapper(laid_out: Path) -> None:
    handler = write_file(laid_out / "function" / "handler.py", HANDLER)
    layer = first_layer(laid_out)
    result = run_cli("invoke", str(handler), "--layer", str(layer), "--env", "AWS_LAMBDA_EXEC_WRAPPER=/opt/wrapper")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["wrapped"] == "/opt/wrapper"
    # The wrapper gets the runtime's own command line: the interpreter, then its arguments.
    wrapped = [line for line in result.stderr.splitlines() if "wrapper runs: " in line]
    assert len(wrapped) == 1, result.stderr
    interpreter, bootstrap = wrapped[0].split("wrapper runs: ", 1)[1].split(" ")
    # The interpreter lambdatui chose (the active virtualenv's python, which pytest's python3 may be a link to).
    # (and the installed bootstrap, which is the checkout's own only in an editable install).
    assert os.path.realpath(interpreter) == os.path.realpath(sys.executable)
    assert bootstrap.endswith(os.sep + os.path.join("lambdatui", "bootstrap"))


def test_a_wrapper_that_cannot_run_fails_init(laid_out: Path) -> None:
    handler = write_file(laid_out / "handler.py", HANDLER)
    result = run_cli("invoke", str(handler), "--env", "AWS_LAMBDA_EXEC_WRAPPER=/opt/missing-wrapper")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["errorType"] == "Runtime.InvalidEntrypoint"
    init_report = [line for line in platform_lines(result.stderr) if line.startswith("INIT_REPORT")]
    assert init_report and "Status: error" in init_report[0], result.stderr
    assert "AWS_LAMBDA_EXEC_WRAPPER=/opt/missing-wrapper: no such file: /opt/missing-wrapper" in result.stderr


SLOW = '''import time


def wait_here():
    time.sleep(30)


def handler(event, context):
    wait_here()
'''

TIMEOUT_SCENARIO = '''[function]
timeout = 1

[[step]]
invoke = {}
expect.error_type = "Sandbox.Timedout"
'''


def test_where_it_hung_names_the_users_file_not_var_task(laid_out: Path) -> None:
    handler = write_file(laid_out / "handler.py", SLOW)
    scenario = write_file(laid_out / "timeout.toml", TIMEOUT_SCENARIO)
    result = run_cli("replay", str(handler), str(scenario), "--layer", str(first_layer(laid_out / "layers")))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("stack"))
    assert "where the handler was at the timeout" in lines[start], result.stdout
    assert lines[start + 1:start + 3] == ["handler.py:5 in wait_here", "handler.py:9 in handler"]


def test_without_the_layout_the_real_folders_are_used_and_one_line_says_so(code_dir: Path) -> None:
    """lambdatui's state folder under /var: the layout would make it read-only, so the real paths are used."""
    if not os.access("/var/tmp", os.W_OK):
        pytest.skip("needs a writable /var/tmp for lambdatui's state folder")
    state = Path("/var/tmp") / f"lambdatui-test-state-{secrets.token_hex(6)}"
    code = code_dir / "function"
    handler = write_file(code / "handler.py", HANDLER.replace('"/opt/new.txt"', '"layer.txt"'))
    layer = code_dir / "layer"
    write_file(layer / "python" / "greeting.py", "WHO = 'first layer'\n")
    launcher = EXTENSION_LAUNCHER.replace("/opt/audit-impl", '$(dirname "$0")/../audit-impl')
    write_file(layer / "extensions" / "audit", launcher.format(python=sys.executable), executable=True)
    write_file(layer / "audit-impl" / "main.py", EXTENSION_MAIN)
    scenario = write_file(code_dir / "one.toml", "[[step]]\ninvoke = {}\n")
    try:
        result, replayed = (subprocess.run([*lambdatui_argv(), *mode, "--layer", str(layer),
                                            "--layer", str(second_layer_zip(code_dir))],
                                           cwd=REPO, env=dict(os.environ, XDG_STATE_HOME=str(state)),
                                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                           timeout=CLI_TIMEOUT)
                            for mode in (["invoke", str(handler)], ["replay", str(handler), str(scenario)]))
    finally:
        shutil.rmtree(state, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "/var/task and /opt are not laid out" in line]
    assert len(notes) == 1, result.stderr
    # replay, whose printer shows the timeline rather than lambdatui's lines, says it too, once.
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert sum("/var/task and /opt are not laid out" in line for line in replayed.stderr.splitlines()) == 1
    assert f"lambdatui's state folder {state}/lambdatui/" in notes[0]
    # The mount namespace is there (only the layout is not): its read-only root covers the real code folder too.
    assert f"the function runs from {code} (LAMBDA_TASK_ROOT), which it cannot write to, as in Lambda" in notes[0]
    merged = notes[0].split("its layers are read from ", 1)[1].split(",", 1)[0]
    assert merged.startswith(f"{state}/lambdatui/")
    response = json.loads(result.stdout)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert response["who"] == "second layer"
    assert (response["task_root"], response["cwd"]) == (str(code), str(code))
    assert response["path"] == [str(code), f"{merged}/python/lib/{version}/site-packages", f"{merged}/python"]
    assert (response["PATH"], response["LD_LIBRARY_PATH"]) == (f"{merged}/bin", f"{merged}/lib")
    assert response["tool"] == f"tool from {merged}/bin/layer-tool"
    assert response["write_task"] == "EROFS"
    assert f"[audit]      launching audit from {layer}/extensions/audit in {code}" in result.stderr
    assert "[audit]      registered" in result.stderr


def test_a_scenario_may_name_a_layers_extension_as_a_fault_target(code_dir: Path) -> None:
    # Layer extensions are found at /opt/extensions once the layers are extracted; the scenario check, made before
    # anything runs, reads them from the folder or the .zip's listing.
    from lambdatui.processes.filesystem import layer_extension_names

    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    return 'ok'\n")
    folder = code_dir / "layer"
    write_file(folder / "extensions" / "watcher", "#!/bin/sh\n", executable=True)
    packed = code_dir / "layer.zip"
    with zipfile.ZipFile(packed, "w") as zf:
        zf.writestr("extensions/shipper", "#!/bin/sh\n")
        zf.writestr("extensions/lib/helper.py", "")  # not an extension: not directly in extensions/
    assert layer_extension_names([folder, packed]) == ("shipper", "watcher")
    scenario = write_file(code_dir / "s.toml", '[[step]]\nfault = "crash"\ntarget = "shipper"\nat = "invoke.done"\n'
                                               '[[step]]\nfault = "crash"\ntarget = "nobody"\nat = "invoke.done"\n')
    done = run_cli("replay", str(handler), str(scenario), "--layer", str(folder), "--layer", str(packed))
    assert done.returncode == 2
    assert "step 2: target = 'nobody'" in done.stderr and "extensions: shipper, watcher" in done.stderr, done.stderr


# A custom runtime's bootstrap shipped in a layer, as AWS's custom runtime tutorial moves it there: Lambda runs
# /opt/bootstrap when the function's code has none.
LAYER_BOOTSTRAP = '''#!{python}
import json, os, sys, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as nxt:
        request_id = nxt.headers["Lambda-Runtime-Aws-Request-Id"]
    body = json.dumps({{"from": sys.argv[0], "handler": os.environ["_HANDLER"], "cwd": os.getcwd()}}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body, method="POST")).read()
'''


@pytest.mark.parametrize("how", ["template", "folder and --layer zip"])
def test_a_custom_runtimes_bootstrap_may_come_from_a_layer(laid_out: Path, how: str) -> None:
    code_dir = laid_out  # /opt/bootstrap is a layer's only where /opt is laid out
    write_file(code_dir / "src" / "function.sh", "echo hello\n")
    bootstrap = LAYER_BOOTSTRAP.format(python=sys.executable)
    if how == "template":
        write_file(code_dir / "runtime" / "bootstrap", bootstrap, executable=True)
        write_file(code_dir / "template.yaml", (
            "Resources:\n"
            "  Runtime: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: runtime}}\n"
            "  Fn:\n    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: src, Handler: function.handler, Runtime: provided.al2023,\n"
            "                 Layers: [!Ref Runtime]}\n"))
        args = [str(code_dir / "template.yaml")]
    else:
        archive = code_dir / "runtime.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            info = zipfile.ZipInfo("bootstrap")
            info.external_attr = 0o100755 << 16
            zf.writestr(info, bootstrap)
        args = [str(code_dir / "src"), "--layer", str(archive), "--handler", "function.handler"]
    done = run_cli("invoke", *args, "-e", "{}")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["handler"] == "function.handler"
    assert body["from"].endswith("bootstrap"), body
    if body["cwd"] == "/var/task":  # Lambda's layout (else the host's real folders, and one line says so)
        assert body["from"] == "/opt/bootstrap"
    assert "INIT_START Runtime Version: provided:al2023" in done.stderr


def test_a_layer_inside_another_is_named_as_why_opt_is_not_laid_out(code_dir: Path) -> None:
    # overlayfs cannot stack a folder with one inside it; its own reason (ELOOP) named symbolic links instead.
    handler = write_file(code_dir / "fn" / "handler.py", "import greeting\n\n\ndef handler(event, context):\n"
                                                         "    return greeting.WHO\n")
    outer = code_dir / "layer"
    write_file(outer / "python" / "greeting.py", "WHO = 'outer layer'\n")
    inner = outer / "python"
    done = run_cli("invoke", str(handler), "--layer", str(outer), "--layer", str(inner), "-e", "{}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == "outer layer"
    if "are not laid out as in Lambda" in done.stderr:  # (where the layout could be made at all)
        assert f"layer {inner} lies inside layer {outer}" in done.stderr, done.stderr
        assert "Too many levels of symbolic links" not in done.stderr


def test_an_extension_a_zip_layer_ships_unexecutable_is_named_in_that_zip(laid_out: Path) -> None:
    code_dir = laid_out
    # Its copy lives in lambdatui's state folder, which the user did not make and cannot fix: the zip is theirs.
    handler = write_file(code_dir / "fn" / "handler.py", "def handler(event, context):\n    return 1\n")
    archive = code_dir / "layer.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("extensions/probe")
        info.external_attr = 0o100644 << 16  # built where the executable bit was lost
        zf.writestr(info, "#!/bin/sh\n")
    done = run_cli("invoke", str(handler), "--layer", str(archive), "-e", "{}")
    body = json.loads(done.stdout)
    assert body["errorType"] == "Extension.LaunchError", done.stderr
    assert f"{archive}:extensions/probe is not executable" in body["errorMessage"], body
    assert str(state_root()) not in done.stderr
