"""Probe (round 5): Init with the early start when lambdatui is slow to come up (held at its first `import trio`, as
on a loaded machine): the 10 s Init limit, a runtime that fails at import, and a custom runtime that reports its
own Init error, against the reference (LAMBDATUI_EARLY_START=0), in `invoke` and `serve`.

README, "What is emulated": Init is limited to 10 s; Init Duration is the runtime's own, "the time its calls (or
its exit) waited for lambdatui to come up is left out".
"""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_probe5_support import MODES, TRACEBACK, Live, TrioHold, init_reports, write  # noqa: E402
from test_probe4_support import normalise, post  # noqa: E402


class Held:
    """lambdatui in each mode, started at once, each held at its `import trio` for `hold_s`, then let go."""

    def __init__(self, code_dir: Path, *args: str, hold_s: float, modes=MODES) -> None:
        self.holds = {mode: TrioHold(code_dir / f"hold-{mode}") for mode in modes}
        self.lives: dict[str, Live] = {}
        try:
            for mode, hold in self.holds.items():
                self.lives[mode] = Live(mode, *args, env=hold.env, pythonpath=[str(hold.folder)])
            for mode, hold in self.holds.items():
                assert hold.wait_held() == self.lives[mode].proc.pid
            time.sleep(hold_s)  # not a synchronisation: how long lambdatui takes to come up
            for hold in self.holds.values():
                hold.release()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for hold in self.holds.values():
            hold.close()
        for live in self.lives.values():
            live.close()

    def __enter__(self) -> "Held":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SLOW_IMPORT = "import time\ntime.sleep({s})\n\ndef handler(event, context):\n    return {{'ok': True}}\n"


# `invoke` only: `serve` adopts env #1 through the same host code, and each run waits out a real 10 s limit, twice
# (with and without the early start), which CI's 10 minutes cannot spare for both commands.
def test_init_timeout_reports_the_10_s_limit(code_dir: Path) -> None:
    """A module that sleeps 12 s at import: INIT_REPORT says timeout after the 10 s limit, Init Duration ~10,000 ms,
    with and without the early start; then the first invoke retries Init (suppressed, bounded by the 3 s timeout)
    the same way."""
    path = write(code_dir / "fn" / "handler.py", SLOW_IMPORT.format(s=12))
    with Held(code_dir, "invoke", str(path), "--timeout", "3", hold_s=1.0) as held:
        codes = {mode: live.wait() for mode, live in held.lives.items()}
        found = {}
        for mode, live in held.lives.items():
            found[mode] = {"code": codes[mode], "reports": init_reports(live.stderr),
                           "init starts": live.count(r"\[platform\]\s+INIT_START"),
                           "stdout": normalise(live.stdout), "tracebacks": TRACEBACK.findall(live.stderr)}
    shapes = {mode: {**f, "reports": [(phase, status) for _, phase, status in f["reports"]]}
              for mode, f in found.items()}
    assert shapes["early"] == shapes["late"], found
    for mode, f in found.items():
        assert [(p, s) for _, p, s in f["reports"]] == [("init", "timeout"), ("invoke", "timeout")], (mode, f)
        first = f["reports"][0][0]
        assert 9950 <= first <= 10200, (f"{mode}: the Init that timed out at the 10 s limit reports "
                                        f"Init Duration {first} ms", found)


def test_init_just_under_the_limit_is_not_cut_short_by_a_slow_lambdatui(code_dir: Path) -> None:
    """A module whose import takes 9 s: its Init (~9.1 s of its own) is under the 10 s limit, and succeeds in the
    reference. With the early start and lambdatui 1.5 s slow to come up, the runtime waits for it (its Function-init
    gate call) before importing: that wait is left out of Init Duration, so it must not count towards the limit."""
    path = write(code_dir / "fn" / "handler.py", SLOW_IMPORT.format(s=9.0))
    with Held(code_dir, "invoke", str(path), hold_s=1.5) as held:
        codes = {mode: live.wait() for mode, live in held.lives.items()}
        found = {mode: (codes[mode], live.stdout.strip(), init_reports(live.stderr),
                        live.count(r"\[platform\]\s+INIT_START"),
                        re.findall(r"Init Duration: ([\d.]+) ms\s*$", live.stderr, re.M))
                 for mode, live in held.lives.items()}
    for mode in MODES:
        code, stdout, reports, starts, _ = found[mode]
        assert (code, stdout, reports, starts) == (0, '{"ok": true}', [], 1), (
            f"{mode}: an Init of ~9.1 s timed out", found)


INIT_ERROR_BOOTSTRAP = '''#!{python} -IS
import os, socket
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
connection = socket.create_connection((host, int(port)))
body = b'{{"errorMessage": "bad configuration", "errorType": "Custom.Bad"}}'
head = (b"POST /2018-06-01/runtime/init/error HTTP/1.1\\r\\nHost: x\\r\\n"
        b"Lambda-Runtime-Function-Error-Type: Custom.Bad\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body))
connection.sendall(head + body)
connection.recv(1)  # the answer: the call is done
os._exit(1)
'''


def test_init_error_posted_before_lambdatui_is_up_is_not_init_time(code_dir: Path) -> None:
    """A custom runtime that fails its Init at once (POST /runtime/init/error, waits for the answer, exits 1): its own
    Init is a few tens of ms. With lambdatui 0.8 s slow to come up, that call waits in the backlog: the wait is
    lambdatui's, not the runtime's (as for /next, the Function-init gate and the exit)."""
    bootstrap = write(code_dir / "fn" / "bootstrap", INIT_ERROR_BOOTSTRAP.format(python=sys.executable), 0o755)
    with Held(code_dir, "invoke", str(bootstrap), hold_s=0.8) as held:
        codes = {mode: live.wait() for mode, live in held.lives.items()}
        found = {mode: (codes[mode], normalise(live.stdout), init_reports(live.stderr))
                 for mode, live in held.lives.items()}
    for mode in MODES:
        code, stdout, reports = found[mode]
        assert code == 1 and "Custom.Bad" in stdout, (mode, found)
        assert [(p, s) for _, p, s in reports] == [("init", "error"), ("invoke", "error")], (mode, found)
    early, late = found["early"][2][0][0], found["late"][2][0][0]
    assert early < 300, (f"early start: INIT_REPORT Init Duration {early} ms; reference (LAMBDATUI_EARLY_START=0): "
                         f"{late} ms", found)


CRASHES = {
    "exit": ("import os\nprint('about to exit', flush=True)\nos._exit(7)\n\n"
             "def handler(event, context):\n    return 1\n"),
    "raise": "raise ValueError('boom at import')\n\ndef handler(event, context):\n    return 1\n",
}


def _shape(live: Live) -> dict[str, object]:
    return {"init starts": live.count(r"\[platform\]\s+INIT_START"),
            "reports": [(p, s) for _, p, s in init_reports(live.stderr)],
            "error types": re.findall(r"Error Type: ([\w.]+)", live.stderr),
            "stdout": normalise(live.stdout).splitlines(),
            "tracebacks": [line for line in live.lines if TRACEBACK.search(line) and "[function]" not in line]}


@pytest.mark.parametrize("case", sorted(CRASHES))
def test_runtime_crashing_at_import_while_lambdatui_is_held_invoke(code_dir: Path, case: str) -> None:
    path = write(code_dir / "fn" / "handler.py", CRASHES[case])
    with Held(code_dir, "invoke", str(path), hold_s=0.5) as held:
        codes = {mode: live.wait() for mode, live in held.lives.items()}
        shapes = {mode: {"code": codes[mode], **_shape(live)} for mode, live in held.lives.items()}
        first = {mode: init_reports(live.stderr)[0][0] for mode, live in held.lives.items()}
    assert shapes["early"] == shapes["late"], shapes
    assert shapes["early"]["code"] == 1 and shapes["early"]["init starts"] == 2, shapes
    assert first["early"] < first["late"] + 200, (first, shapes)  # the 500 ms hold left out, whatever the load


@pytest.mark.parametrize("case", sorted(CRASHES))
def test_runtime_crashing_at_import_while_lambdatui_is_held_serve(code_dir: Path, case: str) -> None:
    """`serve`: one failed Init at start (no invoke sent), then one invoke (the suppressed Init fails again)."""
    path = write(code_dir / "fn" / "handler.py", CRASHES[case])
    with Held(code_dir, "serve", str(path), "--port", "0", hold_s=0.5) as held:
        before, answers = {}, {}
        for mode, live in held.lives.items():
            live.wait_for(r"The first invoke will retry Init")
            before[mode] = (live.count(r"\[platform\]\s+INIT_START"),
                            [(p, s) for _, p, s in init_reports(live.stderr)])
            status, headers, body = post(live.url(), {})
            answers[mode] = (status, headers.get("x-amz-function-error"), json.loads(body).get("errorType"))
            live.wait_for(r"REPORT RequestId")
            live.proc.send_signal(signal.SIGTERM)
        codes = {mode: live.wait() for mode, live in held.lives.items()}
        shapes = {mode: {"code": codes[mode], "before": before[mode], "answer": answers[mode], **_shape(live)}
                  for mode, live in held.lives.items()}
        first = {mode: init_reports(live.stderr)[0][0] for mode, live in held.lives.items()}
    assert shapes["early"] == shapes["late"], shapes
    assert shapes["early"]["code"] == 0 and shapes["early"]["before"][0] == 1, shapes
    assert shapes["early"]["answer"][:2] == (200, "Unhandled"), shapes
    assert first["early"] < first["late"] + 200, (first, shapes)  # the 500 ms hold left out, whatever the load
