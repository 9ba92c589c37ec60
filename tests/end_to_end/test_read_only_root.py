"""Only /tmp is writable (lambda-spec §10.1), through the real CLI: the runtime and an extension try to write their
own folder by its host path, ./, $HOME, /etc and /dev, and are refused with EROFS, as in Lambda; /tmp and /dev/null
they may write. /dev is the host's: a handler run as root uses its devices but can neither unlink nor create a node.

Where lambdatui can make no mount namespace with a read-only root here, the tests skip and say why. Should a write
that must fail succeed, the function removes what it wrote, so nothing is left in $HOME or /etc; in /dev nothing is
tried until the process has seen that its /dev is read-only (and the test removes a regular file left there).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from e2e_support import run_cli, write_file
from sandbox_support import DEVICE_PROBE, expected_sandbox

ATTEMPT = '''import errno, os


def attempt(path):
    if path.startswith("/dev/") and path != "/dev/null" and not os.statvfs("/dev").f_flag & os.ST_RDONLY:
        return "not tried: /dev is not read-only here"  # the host's /dev: never a new node there
    try:
        with open(path, "w") as fh:
            fh.write("x")
    except OSError as exc:
        return errno.errorcode[exc.errno]
    if not path.startswith("/dev/"):
        os.unlink(path)
    return "written"
'''

HANDLER = ATTEMPT + '''

def handler(event, context):
    return {name: attempt(path) for name, path in event.items()}
'''

# An external extension (extensions/ beside the handler): it tries the same writes at its start, then follows the
# lifecycle to SHUTDOWN.
EXTENSION = ATTEMPT + '''
import json, sys, urllib.request

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "paths.json")) as fh:
    paths = json.load(fh)
print("writes " + json.dumps({name: attempt(path) for name, path in paths.items()}, sort_keys=True), flush=True)
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
request = urllib.request.Request(api + "/register", data=json.dumps({"events": ["SHUTDOWN"]}).encode(),
                                 headers={"Lambda-Extension-Name": "probe"}, method="POST")
ident = urllib.request.urlopen(request).headers["Lambda-Extension-Identifier"]
nxt = urllib.request.Request(api + "/event/next", headers={"Lambda-Extension-Identifier": ident})
json.load(urllib.request.urlopen(nxt))
'''


@pytest.fixture
def read_only_root(code_dir: Path) -> Path:
    """`code_dir`, where lambdatui makes the root file system read-only; else a skip that says why."""
    sandbox = expected_sandbox(code_dir)
    sandbox.close()
    if sandbox.strategy is None or sandbox.writable_root is not None:
        pytest.skip(f"no read-only root here: {sandbox.root_note(sandbox.strategy is not None)}")
    return code_dir


def test_the_runtime_and_an_extension_may_write_only_tmp(read_only_root: Path) -> None:
    code = read_only_root / "function"
    handler = write_file(code / "handler.py", HANDLER)
    suffix = f"lambdatui-probe-{os.getpid()}"
    paths = {
        "own_folder": str(code / "cache.json"),  # its code folder by its host path, not /var/task
        "relative": "cache.json",  # the working directory
        "home": str(Path.home() / f".{suffix}"),
        "etc": f"/etc/{suffix}",
        "tmp": "/tmp/cache.json",
        "dev_null": "/dev/null",
        "dev_new": f"/dev/{suffix}",  # a new file in the host's /dev
    }
    write_file(code / "paths.json", json.dumps(paths))
    write_file(code / "extensions" / "probe", f"#!{sys.executable}\n" + EXTENSION, executable=True)
    try:
        result = run_cli("invoke", str(handler), "--event", json.dumps(paths))
    finally:
        if os.path.isfile(paths["dev_new"]) and not os.path.islink(paths["dev_new"]):
            os.unlink(paths["dev_new"])  # only a regular file that a failing run left
    assert result.returncode == 0, result.stderr
    refused = {"own_folder": "EROFS", "relative": "EROFS", "home": "EROFS", "etc": "EROFS", "tmp": "written",
               "dev_null": "written", "dev_new": "EROFS"}
    assert json.loads(result.stdout) == refused
    extension = [line.split("writes ", 1)[1] for line in result.stderr.splitlines() if "writes {" in line]
    assert len(extension) == 1, result.stderr
    assert json.loads(extension[0]) == refused
    assert "Files: only /tmp is writable, as in Lambda" in result.stderr
    assert not (code / "cache.json").exists()


def test_a_function_that_caches_in_its_folder_fails_as_in_lambda_and_one_that_caches_in_tmp_works(
        read_only_root: Path) -> None:
    """The everyday case: a handler configured to keep a cache file in the project's folder (by its path on the
    developer's machine) works only until it runs in Lambda; pointed at /tmp, it works in both."""
    handler = write_file(read_only_root / "handler.py", '''import json, os

CACHE = os.environ["CACHE"]


def handler(event, context):
    count = json.load(open(CACHE))["count"] + 1 if os.path.exists(CACHE) else 1
    with open(CACHE, "w") as fh:
        json.dump({"count": count}, fh)
    return count
''')
    beside = run_cli("invoke", str(handler), "--env", f"CACHE={read_only_root / 'cache.json'}")
    assert beside.returncode == 1, beside.stderr
    assert json.loads(beside.stdout)["errorType"] == "OSError"
    assert f"[Errno 30] Read-only file system: '{read_only_root / 'cache.json'}'" in json.loads(beside.stdout)[
        "errorMessage"]
    in_tmp = run_cli("invoke", str(handler), "--env", "CACHE=/tmp/cache.json", "--repeat", "2")
    assert in_tmp.returncode == 0, in_tmp.stderr
    assert in_tmp.stdout.split() == ["1", "2"]
    assert not (read_only_root / "cache.json").exists()


# Run as whoever runs lambdatui (root here, as often in a container). Nothing is unlinked or created until the
# handler has seen that it is in a mount namespace other than the test's, whose /dev and /dev/shm are read-only,
# and that /dev/null is still the character device: then unlink and create can only meet that read-only mount.
DEVICES = DEVICE_PROBE + '''

def handler(event, context):
    results = {"root": os.geteuid() == 0, "null": attempt(write_null), "urandom": attempt(lambda: read("/dev/urandom")),
               "zero": attempt(lambda: read("/dev/zero"))}
    guarded = (os.stat("/proc/self/ns/mnt").st_ino != event["host_namespace"]
               and all(os.statvfs(path).f_flag & os.ST_RDONLY for path in ("/dev", "/dev/shm"))
               and stat.S_ISCHR(os.stat("/dev/null").st_mode))
    if not guarded:
        return {**results, "guard": "not in a namespace whose /dev is read-only: nothing unlinked nor created"}
    results["unlink_null"] = attempt(lambda: os.unlink("/dev/null"))
    results["create"] = attempt(lambda: create(event["new"]))
    results["create_shm"] = attempt(lambda: create(event["new_shm"]))
    results["mknod"] = attempt(lambda: os.mknod(event["new"] + "-node", 0o600 | stat.S_IFCHR, os.makedev(1, 3)))
    results["null_after"] = attempt(write_null)
    return results
'''


def test_a_handler_uses_the_devices_but_cannot_unlink_or_create_anything_in_the_hosts_dev(
        read_only_root: Path) -> None:
    handler = write_file(read_only_root / "handler.py", DEVICES)
    new = f"/dev/lambdatui-probe-{os.getpid()}"
    event = {"host_namespace": os.stat("/proc/self/ns/mnt").st_ino, "new": new,
             "new_shm": f"/dev/shm/lambdatui-probe-{os.getpid()}"}
    null_before = os.stat("/dev/null")
    try:
        result = run_cli("invoke", str(handler), "--event", json.dumps(event))
    finally:
        for path in (new, event["new_shm"]):
            if os.path.isfile(path) and not os.path.islink(path):
                os.unlink(path)  # only a regular file that a failing run left
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "root": os.geteuid() == 0, "null": "done", "urandom": "done", "zero": "done",
        "unlink_null": "EROFS", "create": "EROFS", "create_shm": "EROFS", "mknod": "EROFS", "null_after": "done"}
    null_after = os.stat("/dev/null")
    assert stat.S_ISCHR(null_after.st_mode) and (null_after.st_ino, null_after.st_rdev) == (
        null_before.st_ino, null_before.st_rdev)
    assert not os.path.lexists(new) and not os.path.lexists(new + "-node")
