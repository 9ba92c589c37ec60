"""From a bug hunt: layers at /opt, the read-only file system and /tmp, as the function sees them (lambda-spec §10.1).

Each test runs the real CLI on generated code in `code_dir` (never under /tmp but where a test says so and cleans up).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from e2e_support import awslambdaric_bootstrap, run_cli, write_file

VERSION = f"python{sys.version_info.major}.{sys.version_info.minor}"

IMPORTER = '''import importlib, os, sys


def handler(event, context):
    out = {}
    for name in event["modules"]:
        module = importlib.import_module(name)
        out[name] = [module.WHERE, module.__file__]
    return out
'''


def test_sys_path_order_site_packages_before_python_across_layers(code_dir: Path) -> None:
    """Layer 1 ships `shared` in python/lib/python3.X/site-packages, layer 2 in python/: merged at /opt, Lambda's
    sys.path puts /opt/python/lib/python3.X/site-packages first, so layer 1's copy is the one imported."""
    one = code_dir / "one"
    write_file(one / "python" / "lib" / VERSION / "site-packages" / "shared.py", "WHERE = 'one-site'\n")
    two = code_dir / "two"
    write_file(two / "python" / "shared.py", "WHERE = 'two-python'\n")
    write_file(two / "python" / "onlytwo.py", "WHERE = 'two'\n")
    handler = write_file(code_dir / "fn" / "handler.py", IMPORTER)
    result = run_cli("invoke", str(handler), "--layer", str(one), "--layer", str(two),
                     "-e", json.dumps({"modules": ["shared", "onlytwo"]}))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "shared": ["one-site", f"/opt/python/lib/{VERSION}/site-packages/shared.py"],
        "onlytwo": ["two", "/opt/python/onlytwo.py"],
    }


def test_the_codes_module_wins_over_a_layers(code_dir: Path) -> None:
    layer = code_dir / "layer"
    write_file(layer / "python" / "mod.py", "WHERE = 'layer'\n")
    handler = write_file(code_dir / "fn" / "handler.py", IMPORTER)
    write_file(code_dir / "fn" / "mod.py", "WHERE = 'code'\n")
    result = run_cli("invoke", str(handler), "--layer", str(layer), "-e", json.dumps({"modules": ["mod"]}))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"mod": ["code", "/var/task/mod.py"]}


def test_six_layers_are_refused(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", "def handler(e, c):\n    return 1\n")
    args = []
    for n in range(6):
        layer = code_dir / f"l{n}"
        write_file(layer / "python" / f"m{n}.py", "X = 1\n")
        args += ["--layer", str(layer)]
    result = run_cli("invoke", str(handler), *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "5" in result.stderr and "Traceback" not in result.stderr


def test_a_zip_that_is_not_a_zip_is_refused_in_one_line(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", "def handler(e, c):\n    return 1\n")
    bogus = write_file(code_dir / "layer.zip", "not a zip")
    result = run_cli("invoke", str(handler), "--layer", str(bogus))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


WALK = '''import os


def handler(event, context):
    found = []
    for root, dirs, files in os.walk("/opt"):
        found += [os.path.join(root, name) for name in files]
    return sorted(found)
'''


def test_a_zip_with_dotdot_and_absolute_entries_stays_inside_opt(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", WALK)
    archive = code_dir / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.txt", "x")
        zf.writestr("/absolute.txt", "x")
        zf.writestr("python/ok.py", "x")
    result = run_cli("invoke", str(handler), "--layer", str(archive))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["/opt/absolute.txt", "/opt/escaped.txt", "/opt/python/ok.py"]
    assert not (code_dir / "escaped.txt").exists() and not (code_dir.parent / "escaped.txt").exists()


def slipping_zip(code_dir: Path) -> tuple[Path, Path, Path]:
    """A layer zip whose entry `python/evil` is a symbolic link to a host folder, then a file written through it:
    (that folder, the handler, the zip)."""
    target = code_dir / "target"
    target.mkdir()
    handler = write_file(code_dir / "fn" / "handler.py", WALK)
    archive = code_dir / "slip.zip"
    link = zipfile.ZipInfo("python/evil")
    link.create_system = 3
    link.external_attr = 0o120777 << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(link, str(target))
        zf.writestr("python/evil/pwned.txt", "pwned\n")
    return target, handler, archive


def test_a_zip_writing_through_its_own_symlink_does_not_write_the_hosts_files(code_dir: Path) -> None:
    target, handler, archive = slipping_zip(code_dir)
    result = run_cli("invoke", str(handler), "--layer", str(archive))
    assert list(target.iterdir()) == []
    assert "symbolic link" in result.stderr


def test_a_zip_that_cannot_be_extracted_is_refused_not_left_out(code_dir: Path) -> None:
    _, handler, archive = slipping_zip(code_dir)
    result = run_cli("invoke", str(handler), "--layer", str(archive))
    assert result.returncode == 2, result.stderr
    assert "'python/evil/pwned.txt' lies behind its symbolic link 'python/evil'" in result.stderr, result.stderr
    assert result.stdout == ""  # nothing ran


def test_a_layer_folder_under_the_hosts_tmp_is_seen_at_opt(code_dir: Path) -> None:
    """A layer built with mktemp (under the host's /tmp, which the environment's own /tmp covers)."""
    handler = write_file(code_dir / "fn" / "handler.py", IMPORTER)
    layer = Path(tempfile.mkdtemp(prefix="lambdatui-hunt-layer-", dir="/tmp"))
    try:
        write_file(layer / "python" / "fromtmp.py", "WHERE = 'tmp layer'\n")
        with zipfile.ZipFile(layer / "z.zip", "w") as zf:
            zf.writestr("python/fromzip.py", "WHERE = 'tmp zip'\n")
        result = run_cli("invoke", str(handler), "--layer", str(layer), "--layer", str(layer / "z.zip"),
                         "-e", json.dumps({"modules": ["fromtmp", "fromzip"]}))
    finally:
        shutil.rmtree(layer)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"fromtmp": ["tmp layer", "/opt/python/fromtmp.py"],
                                         "fromzip": ["tmp zip", "/opt/python/fromzip.py"]}


WRITER = '''import errno, os, subprocess, sys


def attempt(path):
    try:
        with open(path, "w") as fh:
            fh.write("x")
        os.unlink(path)
        return "written"
    except OSError as exc:
        return errno.errorcode[exc.errno]


def handler(event, context):
    paths = ["/var/task/x.txt", "/opt/x.txt", os.path.expanduser("~/x.txt"), "/etc/x.txt", "/tmp/x.txt",
             "/var/x.txt", "x.txt"]
    child = subprocess.run([sys.executable, "-c", "import os\\ntry:\\n open('/var/task/c.txt','w')\\n"
                            "except OSError as e:\\n print(e.errno)"], capture_output=True, text=True)
    return {"paths": {p: attempt(p) for p in paths}, "child": child.stdout.strip()}
'''


@pytest.mark.parametrize("runtime", ["ours", "awslambdaric"])
def test_only_tmp_is_writable_for_both_runtimes_and_a_child(code_dir: Path, runtime: str) -> None:
    fn = code_dir / "fn"
    handler = write_file(fn / "handler.py", WRITER)
    path = awslambdaric_bootstrap(fn) if runtime == "awslambdaric" else handler
    result = run_cli("invoke", str(path))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["paths"].pop("/tmp/x.txt") == "written"
    assert set(answer["paths"].values()) == {"EROFS"}, answer
    assert answer["child"] == "30"
    assert not (fn / "x.txt").exists()


TMP_KEEPER = '''import os


def handler(event, context):
    # Its own marks only: a checkout under the host's /tmp is seen there too (README, the /tmp section).
    seen = sorted(name for name in os.listdir("/tmp") if name.startswith("mark-"))
    with open("/tmp/mark-%d" % len(seen), "w") as fh:
        fh.write("x")
    if event.get("crash"):
        os._exit(3)
    return seen
'''


def test_tmp_is_kept_across_a_crash_in_serve_and_a_new_environment_starts_empty(code_dir: Path) -> None:
    import httpx

    from e2e_support import ServeProcess

    handler = write_file(code_dir / "fn" / "handler.py", TMP_KEEPER)
    with ServeProcess(handler) as serve:
        url = serve.invoke_url()
        first = httpx.post(url, content=b"{}", timeout=30)
        assert first.json() == []
        crashed = httpx.post(url, content=b'{"crash": true}', timeout=30)
        assert crashed.headers.get("X-Amz-Function-Error") == "Unhandled"
        assert crashed.json()["errorType"] == "Runtime.ExitError"
        after = httpx.post(url, content=b"{}", timeout=30)
        assert after.json() == ["mark-0", "mark-1"]  # kept across the reset (README: /tmp survives resets)
    # A new environment (a new lambdatui run) starts with an empty /tmp.
    result = run_cli("invoke", str(handler))
    assert json.loads(result.stdout) == []
