"""Probe (round 5): signals to `invoke` and `serve` with the early start (host/early_start.py: a SIGTERM/SIGHUP handler
installed around the whole run, `started_early`) against the reference (LAMBDATUI_EARLY_START=0): held at the first
`import trio`, once serving, with an invoke in flight, and two signals at once. Exit status, no traceback on stderr,
nothing left behind (processes, cgroup folders, run folders under a state folder of the test's own).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_probe5_support import (BOUND, MODES, TRACEBACK, Leftovers, Live, TrioHold, write)  # noqa: E402
from test_probe4_support import post  # noqa: E402
from e2e_support import descendants, proc_cmdline, writable_cgroups  # noqa: E402

HANDLER = ("import time\n\ndef handler(event, context):\n    print('in handler', flush=True)\n"
           "    time.sleep(event.get('sleep', 0))\n    return {'ok': True}\n")


def wait_runtime(pid: int) -> None:
    """Until lambdatui `pid`'s runtime (lambdatui/bootstrap) is in its process tree."""
    deadline = time.monotonic() + BOUND / 2
    while time.monotonic() < deadline:
        if any("lambdatui/bootstrap" in proc_cmdline(child) for child in descendants(pid)):
            return
    raise AssertionError(f"no runtime appeared under {pid}")


def _args(command: str, path: Path) -> list[str]:
    return ["serve", str(path), "--port", "0"] if command == "serve" else ["invoke", str(path)]


@pytest.mark.parametrize("command,sig", [("serve", signal.SIGTERM), ("serve", signal.SIGHUP), ("serve", signal.SIGINT),
                                         ("invoke", signal.SIGHUP)],
                         ids=["serve-SIGTERM", "serve-SIGHUP", "serve-SIGINT", "invoke-SIGHUP"])
def test_signal_while_held_at_import_trio(code_dir: Path, command: str, sig: int) -> None:
    """Env #1 started early, lambdatui not up yet: the signal ends it as it would have (killed by that signal),
    without a traceback, and nothing of env #1 is left; the reference ends the same way."""
    path = write(code_dir / "fn" / "handler.py", HANDLER)
    results = {}
    for mode in MODES:
        hold = TrioHold(code_dir / f"hold-{mode}")
        state = code_dir / f"state-{mode}"
        live = Live(mode, *_args(command, path), env={**hold.env, "XDG_STATE_HOME": str(state)},
                    pythonpath=[str(hold.folder)])
        try:
            assert hold.wait_held() == live.proc.pid
            if mode == "early":
                wait_runtime(live.proc.pid)
            made = Leftovers(live.proc.pid, state)
            if mode == "early":
                assert (made.cgroups or not writable_cgroups()) and made.folders, (made.cgroups, made.folders)
            live.proc.send_signal(sig)
            code = live.wait()
        finally:
            hold.close()
            live.close()
        results[mode] = (code, made.left(), TRACEBACK.findall(live.stderr), live.stderr[-2000:])
    for mode, (code, left, tracebacks, err) in results.items():
        assert (code, left, tracebacks) == (-sig, {}, []), (mode, results)


def test_serve_sighup_once_serving_is_a_graceful_stop(code_dir: Path) -> None:
    path = write(code_dir / "fn" / "handler.py", HANDLER)
    servers = {mode: Live(mode, *_args("serve", path), env={"XDG_STATE_HOME": str(code_dir / f"state-{mode}")})
               for mode in MODES}
    try:
        made = {}
        for mode, live in servers.items():
            live.url()
            made[mode] = Leftovers(live.proc.pid, code_dir / f"state-{mode}")
            live.proc.send_signal(signal.SIGHUP)
        codes = {mode: live.wait() for mode, live in servers.items()}
    finally:
        for live in servers.values():
            live.close()
    for mode, live in servers.items():
        assert codes[mode] == 0, (mode, codes, live.stderr[-2000:])
        assert TRACEBACK.findall(live.stderr) == [], (mode, live.stderr[-3000:])
        assert made[mode].left() == {}, mode


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("command", ["invoke", "serve"])
def test_signal_with_an_invoke_in_flight(code_dir: Path, command: str, sig: int) -> None:
    """The invoke in flight is answered as the environment shut down (Sandbox.Failure); invoke exits 1, serve 0;
    the same with and without the early start; nothing left."""
    path = write(code_dir / "fn" / "handler.py", HANDLER)
    lives = {}
    answers: dict[str, list] = {mode: [] for mode in MODES}
    threads = []
    try:
        for mode in MODES:
            state = code_dir / f"state-{mode}"
            args = _args(command, path) + ["--timeout", "20"]
            if command == "invoke":
                args += ["-e", json.dumps({"sleep": 15})]
            lives[mode] = Live(mode, *args, env={"XDG_STATE_HOME": str(state)})
        for mode, live in lives.items():
            if command == "serve":
                url = live.url()

                def call(url: str = url, into: list = answers[mode]) -> None:
                    try:
                        into.append(post(url, {"sleep": 15}))
                    except Exception as exc:  # noqa: BLE001 - what the client saw is the result
                        into.append(repr(exc))

                threads.append(threading.Thread(target=call, daemon=True))
                threads[-1].start()
        made = {}
        for mode, live in lives.items():
            live.wait_for(r"\[function\]\s+in handler")
            made[mode] = Leftovers(live.proc.pid, code_dir / f"state-{mode}")
            live.proc.send_signal(sig)
        codes = {mode: live.wait() for mode, live in lives.items()}
        for thread in threads:
            thread.join(BOUND)
    finally:
        for live in lives.values():
            live.close()
    outcome = {}
    for mode, live in lives.items():
        reports = [line.split("\t") for line in live.lines if "REPORT RequestId" in line]
        answer = answers[mode][0] if answers[mode] else None
        if isinstance(answer, tuple):
            answer = (answer[0], answer[1].get("x-amz-function-error"), json.loads(answer[2]).get("errorType"))
        outcome[mode] = {"code": codes[mode], "stdout": live.stdout, "answer": answer,
                         "report status": [p.strip() for r in reports for p in r if p.startswith(("Status", "Error"))],
                         "tracebacks": TRACEBACK.findall(live.stderr), "left": made[mode].left()}
    assert outcome["early"] == outcome["late"], outcome
    expected_code = 1 if command == "invoke" else 0
    assert outcome["early"]["code"] == expected_code, outcome
    assert "Error Type: Sandbox.Failure" in outcome["early"]["report status"], outcome
    assert outcome["early"]["tracebacks"] == [] and outcome["early"]["left"] == {}, outcome
    if command == "serve":
        assert outcome["early"]["answer"] == (200, "Unhandled", "Sandbox.Failure"), outcome
    else:  # nothing on stdout: stderr says why
        said = f"Stopped by {signal.Signals(sig).name}: the invoke in flight was answered as the environment shut down"
        assert all(said in live.stderr for live in lives.values()), {m: live.stderr[-2000:] for m, live in lives.items()}


@pytest.mark.parametrize("command", ["serve", "invoke"])
def test_two_signals_at_once_end_it_without_a_traceback(code_dir: Path, command: str) -> None:
    """SIGTERM and SIGHUP arriving together (a terminal closed while a supervisor stops the job): lambdatui takes
    one as its graceful stop, the other as "stop at once" (README: a second signal stops at once). The reference
    then dies of the second signal; with the early start its handler (`started_early`'s, which trio's signal
    receiver restores and re-delivers to) must not turn that into a traceback. The process is stopped while both
    are sent, so that they arrive together (SIGCONT). Several rounds: the teardown's interleaving varies."""
    path = write(code_dir / "fn" / "handler.py", HANDLER)
    seen = {}
    for mode in MODES:
        # The reference never shows one; with the early start it shows in most rounds (7 of 10 here), not all.
        rounds = 4 if (mode, command) == ("early", "serve") else 2  # 4 rounds: missed about once in 100 (0.3^4)
        for attempt in range(rounds):
            state = code_dir / f"state-{mode}-{attempt}"
            args = _args(command, path)
            if command == "invoke":
                args += ["-e", json.dumps({"sleep": 15}), "--timeout", "20"]
            with Live(mode, *args, env={"XDG_STATE_HOME": str(state)}) as live:
                if command == "serve":
                    live.url()
                else:
                    live.wait_for(r"\[function\]\s+in handler")
                made = Leftovers(live.proc.pid, state)
                live.proc.send_signal(signal.SIGSTOP)
                live.proc.send_signal(signal.SIGTERM)
                live.proc.send_signal(signal.SIGHUP)
                live.proc.send_signal(signal.SIGCONT)
                code = live.wait()
                tracebacks = TRACEBACK.findall(live.stderr)
                # (run folders: a process killed by a signal leaves its folder to the next start, in both modes)
                left = made.left(folders=False)
                if tracebacks or left or code not in (-signal.SIGTERM, -signal.SIGHUP):
                    seen[mode] = (attempt, code, left, live.stderr[-4000:])
                    break
    assert seen == {}, "\n\n".join(f"{mode} (attempt {a}): exit {c}, left {left}\n{e}"
                                   for mode, (a, c, left, e) in seen.items())
