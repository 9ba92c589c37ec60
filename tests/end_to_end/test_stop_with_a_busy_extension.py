"""A known difference (found by a bug hunt of process and file cleanup; strict xfails until fixed): lambdatui stopped
while an extension is still working on an invoke the runtime has already answered.

README: a signal makes `serve` shut down "as Lambda does: SHUTDOWN (`spindown`) to extensions within the budget,
then a clean exit" (stragglers "are SIGKILLed at the 2 s budget"); the debugger's `q` / a SIGTERM is "SHUTDOWN to
extensions, terminal restored, no process left", and only "Runs whose lambdatui was SIGKILLed leave their folder
behind" (run_folders.remove_stale_runs).

Found: with an extension still busy after the response (it has not asked for its next event), the shutdown is not
begun at all: `EnvironmentHost.shutdown` sits out its 10 s "never hang the exit" fallback, then every process is
SIGKILLed (the extension, which never got SHUTDOWN, is reported as `Extension.Crash`). `serve` takes 10 s to stop;
the debugger's own quit bound is the same 10 s (ui/app.py QUIT_TIMEOUT_S; 4 s after a hangup), so it gives up and
exits with the run unfinished: its run folder (the environment's /tmp) is left in the state folder, its processes
to the watchdog. The same happens when the user froze the extension (`f`) before the invoke.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, descendants, wait_all_gone, write_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probe"))
from probe_support import EXTENSION_EVENTS_SOURCE, DebuggerOnPty, cache_env, remove_stale_runs  # noqa: E402

from lambdatui.run_folders import state_root  # noqa: E402

# The longest shutdown budget is 2 s; lambdatui's own start and exit add well under a second. The fallback that
# ends the run today is 10 s, so this bound tells the two apart.
STOPPED_WITHIN = 6.0
GONE_WITHIN = 10.0

HANDLER = '''def handler(event, context):
    return {"ok": True}
'''

# Registers for INVOKE and SHUTDOWN; after an INVOKE it works on (sleeps) long past every bound here.
BUSY_EXTENSION = "#!/usr/bin/env python3\nimport json, os, time, urllib.request\n" + EXTENSION_EVENTS_SOURCE + """
for event in events("busy"):
    print(f"[busy] got {event['eventType']}", flush=True)
    time.sleep(60)
"""


def busy_function(code_dir: Path) -> Path:
    write_file(code_dir / "extensions" / "busy", BUSY_EXTENSION, executable=True)
    return write_file(code_dir / "handler.py", HANDLER)


@pytest.mark.xfail(strict=True, reason=(
    "known: a stop while an extension still works on an answered invoke waits for that invoke to end, up to the "
    "host's 10 s fallback, instead of the 2 s shutdown budget"))
def test_serve_stopped_while_an_extension_works_on_an_answered_invoke_stops_within_the_budget(code_dir: Path) -> None:
    handler = busy_function(code_dir)
    with ServeProcess(handler, "--timeout", "60") as served:
        answer = httpx.post(served.invoke_url(), content=b"{}", timeout=30)
        assert answer.status_code == 200 and answer.json() == {"ok": True}, answer.text
        served.wait_for_line(r"\[busy\] got INVOKE", timeout=30)
        tree = descendants(served.proc.pid)
        started = time.monotonic()
        served.signal(signal.SIGTERM)
        try:
            served.proc.wait(timeout=STOPPED_WITHIN)
        except Exception:
            raise AssertionError(
                f"serve still running {STOPPED_WITHIN} s after SIGTERM (the shutdown budget is 2 s): the shutdown "
                f"waits for the busy extension's invoke to end\n" + served.output()[-2000:]) from None
        assert time.monotonic() - started < STOPPED_WITHIN
        assert wait_all_gone(tree, GONE_WITHIN) == {}


def press_until(tui: DebuggerOnPty, key: bytes, needle: bytes, bound: float = 30.0) -> None:
    """Type `key` until `needle` is drawn (a key typed while the app is still mounting can be lost)."""
    deadline = time.monotonic() + bound
    while True:
        tui.type(key)
        try:
            tui.wait_for(needle, timeout=min(2.0, max(0.1, deadline - time.monotonic())))
            return
        except AssertionError:
            if time.monotonic() >= deadline:
                raise


@pytest.mark.xfail(strict=True, reason=(
    "known: a stop while an extension still works on an answered invoke waits for that invoke to end, up to the "
    "host's 10 s fallback, instead of the 2 s shutdown budget"))
def test_the_debugger_stopped_while_an_extension_works_on_an_answered_invoke_ends_whole(code_dir: Path) -> None:
    handler = busy_function(code_dir)
    tree: dict[int, int] = {}
    pid = -1
    try:
        with DebuggerOnPty(str(handler), "--timeout", "60", env=cache_env(None, write=False)) as tui:
            pid = tui.proc.pid
            tui.ready()
            press_until(tui, b"c", b"idle: frozen")  # Go: through Init until the environment waits for an invoke
            press_until(tui, b"i", b"got INVOKE")  # the busy extension's line in the log: the runtime has answered
            tree = descendants(pid)
            run_folders = list(state_root().glob(f"run-{pid}-*"))
            assert run_folders, "no run folder for the debugger"
            started = time.monotonic()
            tui.proc.send_signal(signal.SIGTERM)
            try:
                tui.wait(STOPPED_WITHIN)
            except Exception:
                raise AssertionError(f"the debugger still running {STOPPED_WITHIN} s after SIGTERM (the shutdown "
                                     "budget is 2 s)") from None
            assert time.monotonic() - started < STOPPED_WITHIN
            left = [folder for folder in run_folders if folder.exists()]
            assert left == [], f"the debugger exited gracefully, yet left its run folder behind: {left}"
    finally:
        wait_all_gone(tree, GONE_WITHIN)
        remove_stale_runs()
    assert wait_all_gone(tree, GONE_WITHIN) == {}
