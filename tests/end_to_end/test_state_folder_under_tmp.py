"""A state folder under /tmp (XDG_STATE_HOME there, or the last fallback, /tmp/lambdatui-UID) is seen in each
environment's private /tmp, since its runtime writes its stack dumps there. That folder holds every environment's
/tmp: the run's whole folder stayed writable, so a function emptying its /tmp (a common idiom) emptied the other
environments' /tmp too, and lambdatui's own files. Only the environment's own folder is writable now."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from e2e_support import ServeProcess, write_file
from sandbox_support import expected_sandbox
from test_fleet_support import env_tmp_dirs

WAIT_S = 60.0

# `hold`: keep a file of its own, say so, and wait for the test's word in its /tmp; `empty`: empty its /tmp.
HANDLER = '''import os, shutil, time


def handler(event, context):
    if event.get("empty"):
        for name in os.listdir("/tmp"):
            path = os.path.join("/tmp", name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        return "emptied"
    with open("/tmp/precious", "w") as fh:
        fh.write("kept")
    print("holding", flush=True)
    deadline = time.monotonic() + 50
    while not os.path.exists("/tmp/release") and time.monotonic() < deadline:
        time.sleep(0.01)
    return os.path.exists("/tmp/precious")
'''


@pytest.fixture
def state_under_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    state = Path(tempfile.mkdtemp(prefix="lambdatui-test-state-", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(state))  # inherited by the served process
    try:
        yield state
    finally:
        shutil.rmtree(state, ignore_errors=True)


def test_emptying_its_tmp_leaves_the_other_environments_tmp_alone(code_dir: Path, state_under_tmp: Path) -> None:
    if expected_sandbox(code_dir).mode != "mount-namespace":
        pytest.skip("no private /tmp here")
    handler = write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(handler, "--concurrency", "2", "--timeout", "60") as served:
        held: dict[str, object] = {}

        def hold() -> None:
            held["answer"] = httpx.post(served.invoke_url(), content=b"{}", timeout=WAIT_S).json()

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            served.wait_for_line(r"\bholding\b", WAIT_S)
            (first_tmp,) = [tmp for tmp in env_tmp_dirs(state_under_tmp) if (tmp / "precious").exists()]
            # Env #1 is busy: this one cold-starts env #2, which empties its own /tmp.
            emptied = httpx.post(served.invoke_url(), content=json.dumps({"empty": True}).encode(), timeout=WAIT_S)
            assert emptied.json() == "emptied", emptied.text
            assert (first_tmp / "precious").exists(), "env #2 emptied env #1's /tmp"
        finally:
            for tmp in env_tmp_dirs(state_under_tmp):
                (tmp / "release").touch()
            holder.join(WAIT_S)
        assert held.get("answer") is True, (held, served.output())
