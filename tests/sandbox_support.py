"""For tests whose function writes absolute /tmp paths: they need the environment's private /tmp.

lambdatui gives one wherever a mount namespace can be made (what the children need from the host's /tmp, a
checkout or virtualenv cloned there, is seen in it again: `host_folders_in_tmp`); elsewhere it falls back to
TMPDIR, and an absolute /tmp path is the host's /tmp. Such a test then skips, saying why (the `private_tmp` fixture
in conftest.py), instead of writing into the host's /tmp. Tests that only need *a* temp dir write to
`tempfile.gettempdir()`, which follows TMPDIR, and run in both modes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Optional

from lambdatui.config import resolve_function
from lambdatui.processes.command_paths import command_paths
from lambdatui.processes.filesystem import FunctionFiles
from lambdatui.processes.sandbox import Sandbox, kept_folders


def host_folders_in_tmp() -> frozenset[str]:
    """The names a checkout cloned under /tmp puts in every environment's /tmp: the folders directly in /tmp that hold
    this interpreter and lambdatui, seen there again read-only (Sandbox.kept); none for a checkout elsewhere."""
    import lambdatui

    return frozenset(os.path.basename(path) for path in
                     kept_folders([sys.executable, os.path.dirname(lambdatui.__file__)]) or ())


def without_host_folders(names: Iterable[str]) -> list[str]:
    """`names` (a listing of an environment's /tmp) less `host_folders_in_tmp`."""
    host = host_folders_in_tmp()
    return [name for name in names if name not in host]


def expected_sandbox(code_dir: Path) -> Sandbox:
    """The sandbox lambdatui will give a Python function in `code_dir`, decided as the host decides it."""
    probe = code_dir / "_sandbox_probe.py"
    probe.write_text("def handler(event, context):\n    return None\n")
    try:
        config = resolve_function(str(probe))
    finally:
        probe.unlink()
    # The same paths EnvironmentHost._renew_sandbox passes: the code, the interpreter and bootstrap, extensions;
    # the code laid out at /var/task where it can be.
    needed = [str(config.code_dir), *command_paths(config.runtime.argv), *map(str, config.extensions)]
    with tempfile.TemporaryDirectory(dir=code_dir) as env_dir:  # not under /tmp: nothing to leave there
        tmp = Path(env_dir) / "tmp"
        tmp.mkdir()
        sandbox = Sandbox.create(tmp, needed, files=FunctionFiles(config.code_dir))
        sandbox.close()
        return sandbox


# The functions both device probes run inside the namespace (tests/processes/test_readonly_root.py and
# tests/end_to_end/test_read_only_root.py): an action's errno name, or "done"; the devices used as a function uses
# them; a new file made only where nothing exists (open "x").
DEVICE_PROBE = """import errno, os, stat, sys


def attempt(action):
    try:
        action()
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return "done"


def write_null():
    with open("/dev/null", "w") as fh:
        fh.write("x" * 4096)


def read(path, size=64):
    with open(path, "rb") as fh:
        if len(fh.read(size)) != size:
            raise OSError(errno.EIO, path)


def create(path):
    with open(path, "x") as fh:
        fh.write("x")
"""


class GatedJoin:
    """An environment cgroup's `join` held at a gate, as an RCU grace period that does not end until the test opens
    it (or made to fail): what the host must do meanwhile shows whether it waited for the move."""

    def __init__(self, join: Callable[..., None]) -> None:
        self._join = join
        self.gate = threading.Event()
        self.entered = threading.Event()  # a move has reached the gate
        self.failure: Optional[OSError] = None
        self.threads: list[str] = []  # the threads that moved a process, in order

    def __call__(self, *args: object) -> None:
        """`join`'s own arguments: the pid (a bound method's), or the cgroup and the pid (the class's function)."""
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        if not self.gate.wait(10):
            raise OSError("the test's gate never opened")
        if self.failure is not None:
            raise self.failure
        self._join(*args)
