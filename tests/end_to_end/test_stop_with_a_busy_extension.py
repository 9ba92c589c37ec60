"""lambdatui stopped while an extension is still working on an invoke the runtime has already answered (found by a
bug hunt of process and file cleanup).

README: a signal makes `serve` shut down "as Lambda does: SHUTDOWN (`spindown`) to extensions within the budget,
then a clean exit"; the debugger's `q` / a SIGTERM is "SHUTDOWN to extensions, terminal restored, no process left",
and only "Runs whose lambdatui was SIGKILLed leave their folder behind" (run_folders.remove_stale_runs).

It was: with an extension still busy after the response (it has not asked for its next event), the shutdown was not
begun at all: `EnvironmentHost.shutdown` sat out its 10 s "never hang the exit" fallback, then every process was
SIGKILLed (the extension, which never got SHUTDOWN, reported as `Extension.Crash`); the debugger's own quit bound is
the same 10 s (ui/app.py QUIT_TIMEOUT_S), so it gave up and left its run folder behind. Now the answered invoke gets
the shutdown's budget (2 s) to finish, then the shutdown begins (core: SPINDOWN_WAIT_TIMER).
"""

from __future__ import annotations

import re
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, descendants, platform_lines, run_cli, wait_all_gone, write_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probe"))
from probe_support import EXTENSION_EVENTS_SOURCE, DebuggerOnPty, cache_env, remove_stale_runs  # noqa: E402

from lambdatui.run_folders import state_root  # noqa: E402

# The wait for the answered invoke and the shutdown's budget are 2 s each; lambdatui's own start and exit add well
# under a second. The host's fallback that ended such a run was 10 s, so this bound tells the two apart.
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
        said = served.output()
        assert "extension busy had not asked for the next event 2,000 ms after the invoke was answered" in said, said
        assert "Extension.Crash" not in said, said  # killed at the shutdown's end, as a straggler: not a crash


# Registers for INVOKE and SHUTDOWN; works on each INVOKE for 2.5 s (past the shutdown's budget), then asks again;
# says so when its SHUTDOWN comes (`events` then ends).
SLOW_EXTENSION = "#!/usr/bin/env python3\nimport json, os, time, urllib.request\n" + EXTENSION_EVENTS_SOURCE + """
for event in events("slow"):
    print(f"[slow] got {event['eventType']}", flush=True)
    time.sleep(2.5)
print("[slow] got SHUTDOWN", flush=True)
"""


def test_invoke_lets_its_last_invoke_end_as_lambda_does_before_it_shuts_down(code_dir: Path) -> None:
    """`invoke`'s own end is not a stop the user asked for: an extension that works on past the shutdown's budget
    still finishes the invoke (its REPORT a success, its duration counting that work), then gets SHUTDOWN."""
    write_file(code_dir / "extensions" / "slow", SLOW_EXTENSION, executable=True)
    handler = write_file(code_dir / "handler.py", HANDLER)
    done = run_cli("invoke", str(handler), "-e", "{}", "--timeout", "30")
    assert done.returncode == 0, done.stderr
    assert '"ok": true' in done.stdout
    [report] = [line for line in platform_lines(done.stderr) if line.startswith("REPORT RequestId: ")]
    duration_ms = float(re.search(r"\tDuration: ([\d.]+) ms", report).group(1))  # type: ignore[union-attr]
    assert duration_ms >= 2400, report
    assert "Status" not in report, report  # Lambda's REPORT names a status only for a failed invoke
    assert "[slow] got SHUTDOWN" in done.stderr, done.stderr
    assert "had not asked for the next event" not in done.stderr


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
