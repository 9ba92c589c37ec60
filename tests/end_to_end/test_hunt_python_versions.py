"""From a bug hunt: Python versions, for the function (lambdatui's own runtime under 3.9 ... 3.13, chosen with
`--python` or found on PATH) and what the host tells the function about its version (README "Install and run",
"SAM templates"; lambda-spec §5 `AWS_EXECUTION_ENV`, §6.6 the result's JSON encoding).

The interpreters are pyenv's (`$PYENV_ROOT`, else ~/.pyenv): a machine without pyenv, or without the version a test
needs (CI machines often have neither), skips that test and says so. The passing tests pin what the hunt checked and
found right (each version runs the runtime, with awslambdaric's conventions for its version; a Python too old is named);
the strict xfails pin what it found wrong. Function code is written under `code_dir` (outside /tmp, so the sandbox
sees it); every `lambdatui` started here is a `subprocess.run` with a timeout, so none outlives its test.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from e2e_support import CLI_TIMEOUT, sam_template, REPO, lambdatui_argv, write_file

PYENV_ROOT = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
PYENV_SHIM = PYENV_ROOT / "shims" / "python3"
NO_PYENV = "(CI machines may lack pyenv: this test needs its interpreters)"

# Returns its own version, what lambdatui told it, and a non-ASCII text (awslambdaric's encoder escapes it below
# python3.12 and writes it as UTF-8 from 3.12 on, by AWS_EXECUTION_ENV); its second call raises.
VERSION_HANDLER = '''import os, platform
CALLS = 0

def inner():
    raise ValueError("second call \\u00e9")

def handler(event, context):
    global CALLS
    CALLS += 1
    if CALLS == 2:
        inner()
    return {"py": platform.python_version(), "exec_env": os.environ.get("AWS_EXECUTION_ENV"), "text": "caf\\u00e9"}
'''


def pyenv_python(minor: int) -> Optional[Path]:
    """pyenv's Python 3.<minor> (its bin/python3.<minor>), the newest patch release installed; else None."""
    versions = PYENV_ROOT / "versions"
    if not versions.is_dir():
        return None
    found = []
    for folder in versions.iterdir():
        parts = folder.name.split(".")
        python = folder / "bin" / f"python3.{minor}"
        if len(parts) == 3 and parts[0] == "3" and parts[1] == str(minor) and parts[2].isdigit() and python.is_file():
            found.append((int(parts[2]), folder.name, python))
    return max(found)[2] if found else None


def need_pyenv_python(minor: int) -> Path:
    python = pyenv_python(minor)
    if python is None:
        pytest.skip(f"no Python 3.{minor} under {PYENV_ROOT}/versions {NO_PYENV}")
    return python


def run_lambdatui(*args: str, env: Optional[dict] = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*lambdatui_argv(), *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT)


def results(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def version_of(python: str, env: dict, cwd: Path) -> str:
    """The version `python` runs as, started as a shell would start it (a shim searches from `cwd`, with `env`)."""
    return subprocess.run([python, "-c", "import platform; print(platform.python_version())"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=30, check=True).stdout.strip()


# ------------------------------------------------------------------------------------------------ right, pinned


@pytest.mark.parametrize("minor", [9, 10, 12, 13])
def test_each_python_runs_the_runtime_with_awslambdarics_conventions_for_it(code_dir: Path, minor: int) -> None:
    """Python 3.9 ... 3.13 each run lambdatui's runtime: the function is told its version (AWS_Lambda_python3.X, as
    Lambda's python3.X runtime says), the result's non-ASCII text is escaped below 3.12 and UTF-8 from 3.12 on (as
    awslambdaric's encoder does by that variable), and an exception has awslambdaric's shape, frames without the
    3.11+ carets (awslambdaric formats (file, line, name, text) tuples; checked against awslambdaric 4.0.4/4.2.2)."""
    python = need_pyenv_python(minor)
    write_file(code_dir / "handler.py", VERSION_HANDLER)
    proc = run_lambdatui("invoke", str(code_dir / "handler.py"), "--python", str(python), "--repeat", "2", "-e", "{}")
    assert proc.returncode == 1, proc.stderr  # the second invoke's error
    first_line = proc.stdout.splitlines()[0]
    ok, error = results(proc)
    assert ok["py"].startswith(f"3.{minor}.") and ok["exec_env"] == f"AWS_Lambda_python3.{minor}", ok
    assert ('"café"' in first_line) == (minor >= 12), first_line
    assert list(error) == ["errorMessage", "errorType", "requestId", "stackTrace"], error
    assert error["errorMessage"] == "second call é" and error["errorType"] == "ValueError", error
    assert error["stackTrace"] == [
        '  File "/var/task/handler.py", line 11, in handler\n    inner()\n',
        '  File "/var/task/handler.py", line 5, in inner\n    raise ValueError("second call \\u00e9")\n',
    ], error
    assert "[ERROR] ValueError: second call é" in proc.stderr, proc.stderr


@pytest.mark.parametrize("version", ["3.6", "2.7"])
def test_a_python_too_old_for_the_runtime_is_named(code_dir: Path, version: str) -> None:
    """An interpreter the runtime cannot run on ends Init with one line saying which and what to choose, not with a
    SyntaxError's traceback from the runtime's own code."""
    major, minor = version.split(".")
    candidates = sorted((PYENV_ROOT / "versions").glob(f"{version}.*/bin/python{version}"))
    if not candidates:
        pytest.skip(f"no Python {version} under {PYENV_ROOT}/versions {NO_PYENV}")
    write_file(code_dir / "handler.py", VERSION_HANDLER)
    proc = run_lambdatui("invoke", str(code_dir / "handler.py"), "--python", str(candidates[-1]), "-e", "{}")
    assert proc.returncode == 1, proc.stderr
    assert f"is Python {major}.{minor}, which lambdatui's Python runtime cannot run on: choose Python 3.9 or newer" \
        in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "SyntaxError" not in proc.stderr, proc.stderr
    assert results(proc)[0]["errorType"] == "Runtime.ExitError", proc.stdout


# ------------------------------------------------------------------------------------------------ wrong, pinned


def test_python3_on_path_runs_the_version_the_users_shell_runs(code_dir: Path) -> None:
    """README: the function runs in *your* interpreter, by default `python3` on PATH. Where that is pyenv's shim and
    the shell chose a version (`pyenv shell 3.X` sets PYENV_VERSION; `pyenv local` writes .python-version where the
    user works), `python3` in that shell is 3.X; the function should run 3.X too, not pyenv's global version."""
    if not os.access(PYENV_SHIM, os.X_OK):
        pytest.skip(f"no pyenv shim at {PYENV_SHIM} {NO_PYENV}")
    write_file(code_dir / "handler.py", VERSION_HANDLER)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYENV_VERSION")}
    env["PATH"] = os.pathsep.join([str(PYENV_SHIM.parent), "/usr/local/bin", "/usr/bin", "/bin"])
    default = version_of(str(PYENV_SHIM), env, code_dir)  # what the shim picks without the shell's choice
    chosen = next((p.parents[1].name for p in sorted(PYENV_ROOT.glob("versions/3.*/bin/python3"))
                   if p.parents[1].name != default and (p.parents[1].name.split(".") + [""])[1].isdigit()
                   and int(p.parents[1].name.split(".")[1]) >= 9), None)
    if chosen is None:
        pytest.skip(f"needs two pyenv Pythons 3.9+ (the global one is {default}) {NO_PYENV}")
    env["PYENV_VERSION"] = chosen
    shell_runs = version_of("python3", env, code_dir)
    assert shell_runs == chosen  # the shell's python3, what the user expects the function to run
    proc = run_lambdatui("invoke", str(code_dir / "handler.py"), "-e", "{}", env=env, cwd=code_dir)
    assert proc.returncode == 0, proc.stderr
    assert "(python3 on PATH" in proc.stderr, proc.stderr
    assert results(proc)[0]["py"] == shell_runs, (results(proc), proc.stderr)


def test_a_shims_python_is_told_its_version(code_dir: Path) -> None:
    """`--python ~/.pyenv/shims/python3` (README names shims as a usual python3) running 3.12+: Lambda's python3.X
    runtime sets AWS_EXECUTION_ENV=AWS_Lambda_python3.X (lambda-spec §5), and awslambdaric, reading it, writes the
    result with ensure_ascii off on 3.12+ (lambda-spec §6.6). lambdatui's own runtime knows its version; the host
    guesses it from the file name, and a shim's name has no minor version."""
    if not os.access(PYENV_SHIM, os.X_OK):
        pytest.skip(f"no pyenv shim at {PYENV_SHIM} {NO_PYENV}")
    python = pyenv_python(13) or pyenv_python(12)
    if python is None:
        pytest.skip(f"no Python 3.12 or 3.13 under {PYENV_ROOT}/versions {NO_PYENV}")
    version = python.parents[1].name
    write_file(code_dir / "handler.py", VERSION_HANDLER)
    write_file(code_dir / ".python-version", version + "\n")  # `pyenv local`: the shim, in /var/task, finds it
    proc = run_lambdatui("invoke", str(code_dir / "handler.py"), "--python", str(PYENV_SHIM), "-e", "{}")
    assert proc.returncode == 0, proc.stderr
    seen = results(proc)[0]
    assert seen["py"] == version, seen  # the shim did run that version
    minor = version.split(".")[1]
    assert seen["exec_env"] == f"AWS_Lambda_python3.{minor}", seen
    assert '"café"' in proc.stdout, proc.stdout


def test_template_runtime_other_than_pythons_version_is_named(code_dir: Path) -> None:
    """README (SAM templates): "when a virtualenv's version (or `--python`'s) differs from the declared one, a line
    says so: a layer laid out for python3.X is not on another version's sys.path". With `--python` a plain
    interpreter (not a virtualenv) of another version, no line is written, though the host names that very version
    to the function (AWS_EXECUTION_ENV) from the interpreter's file name."""
    python = next((p for p in map(pyenv_python, (13, 12, 10, 9))
                   if p is not None and os.path.realpath(p) != os.path.realpath(sys.executable)), None)
    if python is None:
        pytest.skip(f"needs a pyenv Python other than the one running the tests {NO_PYENV}")
    minor = int(python.name.rpartition(".")[2])
    declared = 12 if minor != 12 else 13
    write_file(code_dir / "app.py", VERSION_HANDLER)
    write_file(code_dir / "template.yaml", sam_template(f"python3.{declared}"))
    proc = run_lambdatui("invoke", str(code_dir / "template.yaml"), "--python", str(python), "-e", "{}")
    assert proc.returncode == 0, proc.stderr
    assert results(proc)[0]["exec_env"] == f"AWS_Lambda_python3.{minor}"  # the host knows the version
    assert f"Runtime python3.{declared}, but the function runs in Python 3.{minor}" in proc.stderr, proc.stderr


def json_depth_limit(python: str) -> int:
    """The deepest `[[...]]` that interpreter's json.loads reads (its recursion limit: ~1,000 to 3.11, ~1,500 on
    3.12, ~10,000 on 3.13, whose C scanner counts against the C recursion limit)."""
    probe = ("import json\nlo, hi = 1, 30000\nwhile lo < hi:\n    m = (lo + hi + 1) // 2\n    try:\n"
             "        json.loads('[' * m + ']' * m); lo = m\n    except RecursionError:\n        hi = m - 1\nprint(lo)")
    return int(subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=30, check=True).stdout)


def test_an_event_the_functions_python_reads_is_not_refused_by_the_hosts_limit(code_dir: Path) -> None:
    """lambda-spec §6.6 / README: an event nested past what a Python runtime's parser follows fails its invoke with
    Runtime.UnmarshalError, and `invoke` refuses it up front. Which Python: the one that runs the function. Python
    3.13's json (and simplejson under 3.13, awslambdaric's) reads ~10,000 levels: a 3.13 function takes a 5,000-level
    event, as Lambda's python3.13 runtime does, whatever Python the host runs on."""
    host_limit = json_depth_limit(sys.executable)
    deeper = [p for p in (pyenv_python(13), pyenv_python(12)) if p is not None and json_depth_limit(str(p)) > host_limit + 1]
    if not deeper:
        pytest.skip(f"no pyenv Python here reads JSON deeper than the host's ({host_limit} levels) {NO_PYENV}")
    python = deeper[0]
    depth = min(json_depth_limit(str(python)) - 1, 5000)
    write_file(code_dir / "handler.py", "def handler(event, context):\n    return 'read'\n")
    proc = run_lambdatui("invoke", str(code_dir / "handler.py"), "--python", str(python),
                         "-e", "[" * depth + "]" * depth)
    assert "nested too deeply" not in proc.stderr, proc.stderr
    assert proc.returncode == 0 and proc.stdout.strip() == '"read"', (proc.stdout, proc.stderr)


def test_signals_ignored_by_lambdatuis_parent_are_not_ignored_by_the_function(code_dir: Path) -> None:
    """Seen in the 3.13 suite: pytest-xdist's workers on 3.13 ignore signal 32, and test_pid_namespace's participant
    inherited it. The same from a shell: `trap '' USR1 TERM; lambdatui invoke ...` hands the function SIGUSR1 and
    SIGTERM ignored, so a SIGTERM at shutdown (lambda-spec §4.6) does nothing to a runtime without a handler."""
    write_file(code_dir / "handler.py", "def handler(event, context):\n"
               "    return int(open('/proc/self/status').read().split('SigIgn:')[1].split()[0], 16)\n")
    command = " ".join(shlex.quote(part) for part in [*lambdatui_argv(), "invoke", str(code_dir / "handler.py")])
    proc = subprocess.run(["sh", "-c", f"trap '' USR1 TERM; exec {command}"], cwd=REPO, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    ignored = int(proc.stdout.strip())
    names = [s.name for s in (signal.SIGUSR1, signal.SIGTERM) if ignored & (1 << (s.value - 1))]
    assert names == [], f"ignored in the function: {names} (SigIgn {ignored:#x})"
