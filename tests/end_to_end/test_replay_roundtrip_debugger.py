"""Record -> replay, checked by a bug hunt and kept as regressions.

A debugger session recorded with `--record` (invokes with `i`, a crash injected with
`x`, the environment shut down with `s`, then invoked again) replays with `lambdatui replay` to the same outcome.

README: "The debugger never changes the outcome: `invoke`, `replay` and the TUI reach the same outcome for the same
input", and "`s` shut down the focused environment (SHUTDOWN spindown); it leaves the fleet".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from e2e_support import run_cli, write_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probe"))
from probe_support import DebuggerOnPty, cache_env  # noqa: E402

HANDLER = '''calls = 0


def handler(event, context):
    global calls
    calls += 1
    with open("/tmp/seen.txt", "a") as fh:
        fh.write("x")
    return {"calls": calls}
'''

BOUND = 30.0


def wait_drawn_after(tui: DebuggerOnPty, start: int, needle: bytes, bound: float = BOUND) -> int:
    """Until `needle` is drawn after offset `start` of what the app wrote; the offset past it."""
    deadline = time.monotonic() + bound
    with tui._cond:
        while True:
            found = tui.screen.find(needle, start)
            if found >= 0:
                return found + len(needle)
            left = deadline - time.monotonic()
            if left <= 0 or tui.proc.poll() is not None:
                raise AssertionError(f"{needle!r} not drawn after offset {start}; tail: {bytes(tui.screen[-1500:])!r}")
            tui._cond.wait(min(left, 0.5))


def press(tui: DebuggerOnPty, key: bytes, *needles: bytes) -> None:
    """Type `key`, then wait until every one of `needles` is drawn after it (Textual redraws only what changed, and
    in the screen's order: the header's state comes before the fleet line's counts in one frame)."""
    start = len(tui.screen)
    tui.type(key)
    for needle in needles:
        wait_drawn_after(tui, start, needle)


def test_a_debugger_session_with_a_crash_and_a_shutdown_replays_to_the_same_outcome(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    recording = code_dir / "debugged.toml"
    with DebuggerOnPty(str(handler), "-e", "{}", "--record", str(recording), env=cache_env(None, write=False)) as tui:
        tui.ready()
        deadline = time.monotonic() + BOUND
        while b"idle: frozen" not in tui.screen:  # a key typed while the app still mounts can be lost
            assert time.monotonic() < deadline, bytes(tui.screen[-1500:])
            start = len(tui.screen)
            tui.type(b"c")
            try:
                wait_drawn_after(tui, start, b"idle: frozen", 2.0)
            except AssertionError:
                pass
        # Each invoke: its fleet count, and the header redrawn with the environment frozen again once it is over.
        press(tui, b"i", b"cold 1", b"idle: frozen")
        press(tui, b"i", b"warm 1", b"idle: frozen")
        press(tui, b"x", b"Crash")  # the dialog: the runtime, SIGKILL, are its defaults
        press(tui, b"\r", b"COLD")
        press(tui, b"i", b"cold 2", b"idle: frozen")
        press(tui, b"s", b"0 envs")
        press(tui, b"i", b"cold 3", b"env #2", b"idle: frozen")
        tui.type(b"q")
        assert tui.wait(BOUND) == 0
    text = recording.read_text()
    assert text.count("invoke = '{}'") == 4, text
    assert "fault = 'crash'" in text and "shutdown = true" in text, text

    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout[-3000:] + replayed.stderr[-2000:]
    assert text.count("cold = true") == 3 and text.count("cold = false") == 1, text  # the crash, the shutdown
    last = replayed.stdout.strip().splitlines()[-1]
    assert last.startswith(f"PASSED {recording}: 6 steps (4 invokes succeeded"), text + replayed.stdout[-500:]
