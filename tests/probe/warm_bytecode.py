"""A PYTHONPYCACHEPREFIX that already holds the bytecode (.pyc) of what lambdatui's commands import, and nothing of
the method cache's: for the tests of the dataclass method cache (dataclass_cache.py), which each need a prefix of
their own (the cache file lives there, beside the package's bytecode) but are not about bytecode.

A fresh, empty prefix made each of their first `python -m lambdatui` starts compile every module it imports from
source (textual's, quart's, trio's...): ~1 s more CPU for `invoke`, ~2 s more for the debugger (three times what
the command costs with its bytecode there), in twenty-one tests. The bytecode is made once a session by real commands (the debugger on a terminal,
`invoke`, `replay`, `serve`, `--help`, and every lambdatui module imported) and hard-linked into each test's prefix:
importlib replaces a .pyc (a new file, os.replace) and never writes into one, so no test can change another's.
A user's machine has that bytecode too (pip compiles it at install, Python writes it at the first start); the
dataclass-methods file is never copied: each test's cache starts as absent as before.

The prefix is made in the session's folder (xdist's workers share their controller's, removed with it), under a
lock: the first worker to need it makes it, the others wait for it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from probe_support import BOUND, REPO, DebuggerOnPty, cache_env

HELLO = REPO / "sample_functions" / "hello" / "handler.py"
COUNTER = REPO / "sample_functions" / "counter" / "handler.py"
REUSE = REPO / "sample_functions" / "counter" / "scenarios" / "reuse.toml"

# Every lambdatui module, as tests/test_dataclass_replay.py imports them.
_IMPORT_ALL = """
import importlib, pkgutil, lambdatui
for info in pkgutil.walk_packages(lambdatui.__path__, "lambdatui."):
    if info.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as exc:
        if exc.name.startswith("lambdatui"):
            raise
"""


def _build(prefix: Path) -> None:
    env = cache_env(prefix)

    def run(*args: str) -> None:
        done = subprocess.run([sys.executable, *args], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=BOUND)
        assert done.returncode == 0, (args, done.stderr[-3000:])

    # One after another: run at once, they would all compile the same modules.
    run("-c", _IMPORT_ALL)
    with DebuggerOnPty(str(HELLO), env=env) as tui:
        tui.ready()
        tui.type(b"q")
        assert tui.wait(BOUND) == 0
    run("-m", "lambdatui", "invoke", str(HELLO), "-e", "{}")
    run("-m", "lambdatui", "replay", str(COUNTER), str(REUSE))
    run("-m", "lambdatui", "--help")
    assert serve_then_stop(env) == 0


def serve_then_stop(env: dict[str, str]) -> int:
    """`lambdatui serve` of the hello sample until it says it is serving, then SIGTERM; its exit status."""
    proc = subprocess.Popen([sys.executable, "-m", "lambdatui", "serve", str(HELLO), "--port", "0"], env=env,
                            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "serving" in line:
                break
        else:
            raise AssertionError("serve never said it was serving")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(BOUND)
    return proc.returncode


def _warm_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the controller's folder: one build for all the workers
    warm = root / "warm-bytecode"
    with open(root / "warm-bytecode.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (warm / "done").is_file():
            shutil.rmtree(warm, ignore_errors=True)  # a build that failed half-way
            _build(warm / "prefix")
            (warm / "done").touch()
    return warm / "prefix"


@pytest.fixture(scope="session")
def warm_bytecode(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's prefix of ready bytecode (never a test's own: see `seeded`)."""
    return _warm_prefix(tmp_path_factory)


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system (a code_dir outside /tmp, /tmp a tmpfs): a copy then
        shutil.copy2(source, target)


def seeded(prefix: Path, warm: Path) -> Path:
    """`prefix`, made to hold `warm`'s bytecode (hard links) and no method cache file; returned."""
    shutil.copytree(warm, prefix, copy_function=_link, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("dataclass-methods*"))
    return prefix
