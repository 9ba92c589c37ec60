"""The fleet at its edges (lambda-spec §11), with real `serve`: invokes that arrive as environments reset after a
crash or a timeout, Event invokes queued behind a crash or while the only environment spins down (SnapStart too),
Managed Instances that lost every worker, and serve stopped while environments are busy, ending and queued.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from e2e_support import ServeProcess, wait_all_gone, write_file
from test_fleet_support import (
    AUDIT, FLEET_HANDLER, READY, REPORT, InFlight, env_of_request, invoke, kill_survivors, line_index, matches,
    state_home, together, tree, wait_for_count,
)
from test_fleet_throttling import LINGERING

__all__ = ["state_home"]  # the fixture, used by name

RAN = r"#(\d+) \[function\]\s+ran tag=(\S+)"
CRASHING = FLEET_HANDLER.replace(
    '    release = event.get("release")\n',
    '    release = event.get("release")\n    if event.get("exit"):\n        os._exit(event["exit"])\n')
MANAGED = '''import os, time
def handler(event, context):
    if event.get("exit"):
        os._exit(event["exit"])
    return {"pid": os.getpid()}
'''


def write_crashing(code_dir: Path, *, audit: bool = False, lingering: Path | None = None) -> Path:
    handler = write_file(code_dir / "handler.py", CRASHING)
    if audit:
        write_file(code_dir / "extensions" / "audit", AUDIT.read_text(), executable=True)
    if lingering is not None:
        write_file(code_dir / "extensions" / "lingering", LINGERING.format(release=str(lingering)), executable=True)
    return handler


@pytest.mark.parametrize("failure", ["crash", "timeout"])
def test_invokes_sent_as_soon_as_every_environment_failed_are_served_by_them_not_throttled(
        code_dir: Path, failure: str) -> None:
    handler = write_crashing(code_dir, audit=True)
    release = code_dir / "release"
    # The timeout also bounds the invokes sent after it, each running its reset environment's Init inside it (a
    # suppressed Init): 1 s was too short for that on a loaded host (Sandbox.Timedout), 4 s is not.
    event = {"exit": 1, "release": str(release)} if failure == "crash" else {"sleep": 30}
    with ServeProcess(handler, "--concurrency", "2", "--timeout", "30" if failure == "crash" else "4") as served:
        failing = together(served, [{"tag": f"fail-{i}", **event} for i in range(2)])
        wait_for_count(served, READY, 2)
        release.touch()
        assert all(call.response().headers.get("x-amz-function-error") for call in failing)
        again = [call.response() for call in together(served, [{"tag": f"again-{i}"} for i in range(2)])]
        assert [a.status_code for a in again] == [200, 200], [a.text for a in again]
        assert not any(a.headers.get("x-amz-function-error") for a in again), [a.text for a in again]
        assert not matches(served, r"^#3 "), served.output()  # the two reset environments served them


def test_event_invokes_queued_behind_a_crash_run_once_each_in_the_reset_environment(code_dir: Path) -> None:
    handler = write_crashing(code_dir, audit=True)
    release = code_dir / "release"
    events = [f"e{i}" for i in range(4)]
    with ServeProcess(handler, "--concurrency", "1", "--timeout", "30") as served:
        blocker = InFlight(served, {"tag": "blocker", "release": str(release), "exit": 1})
        wait_for_count(served, READY, 1)
        accepted = [invoke(served, {"tag": tag}, invocation_type="Event") for tag in events]
        assert [a.status_code for a in accepted] == [202] * len(events)
        release.touch()
        assert "Runtime.ExitError" in blocker.response().text
        ran = wait_for_count(served, RAN, len(events))
        assert sorted(m.group(2) for m in ran) == events
        wait_for_count(served, REPORT, 1 + len(events))
        assert len(matches(served, RAN)) == len(events)


@pytest.mark.parametrize("snapstart", [False, True])
def test_event_invokes_sent_while_the_only_environment_spins_down_run_in_a_new_one_meanwhile(
        code_dir: Path, snapstart: bool) -> None:
    linger = code_dir / "linger-release"
    handler = write_crashing(code_dir, lingering=linger)
    extra = ["--snapstart"] if snapstart else []
    with ServeProcess(handler, "--concurrency", "1", "--idle-shutdown", "0.5", "--timeout", "30", *extra) as served:
        try:
            first = invoke(served, {"tag": "first"})
            assert first.status_code == 200, first.text
            number = env_of_request(served, first.json()["request_id"])
            served.wait_for_line(rf"#{number} \[lingering\]\s+SHUTDOWN reason=spindown", timeout=30)
            accepted = [invoke(served, {"tag": f"e{i}"}, invocation_type="Event") for i in range(2)]
            assert [a.status_code for a in accepted] == [202] * 2
            ran = wait_for_count(served, RAN.replace(r"(\S+)", r"(e\d)"), 2)
            assert {int(m.group(1)) for m in ran} != {number}
        finally:
            linger.touch()
        served.wait_for_line(rf"#{number} \[lingering\]\s+(released|deadline)", timeout=30)
        assert line_index(served, rf"#{number} \[lingering\]\s+released") > line_index(served, r"ran tag=e1")


def test_a_managed_environment_whose_every_worker_exited_leaves_and_the_next_invokes_are_served(
        code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", MANAGED)
    with ServeProcess(handler, "--max-concurrency", "2", "--concurrency", "1", "--timeout", "2") as served:
        for _ in range(2):
            assert invoke(served, {"exit": 3}).headers.get("x-amz-function-error")
        answers = [invoke(served, {"n": i}) for i in range(3)]
        assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
        assert not any(a.headers.get("x-amz-function-error") for a in answers), [a.text for a in answers]


def test_stopping_serve_with_environments_busy_ending_and_queued_leaves_nothing(
        code_dir: Path, state_home: Path) -> None:
    """SIGTERM, which stands for SIGINT too: serve's receiver takes SIGINT, SIGTERM and SIGHUP the same way once its
    "serving" line is out (runner.cancel_on_signals); SIGINT's own path is test_serve.py's
    test_signal_spins_down_the_extension_and_exits_0[SIGINT]."""
    linger = code_dir / "linger-release"
    handler = write_crashing(code_dir, lingering=linger)
    release = code_dir / "release"
    served = ServeProcess(handler, "--concurrency", "2", "--idle-shutdown", "1", "--timeout", "30",
                          "--shutdown-grace", "2")
    pids: dict[int, int] = {}
    busy = None
    try:
        served.start()
        first = invoke(served, {"tag": "first"})
        number = env_of_request(served, first.json()["request_id"])
        served.wait_for_line(rf"#{number} \[lingering\]\s+SHUTDOWN reason=spindown", timeout=30)  # ending
        busy = InFlight(served, {"tag": "busy", "release": str(release)})
        served.wait_for_line(r"ready tag=busy", timeout=30)
        accepted = [invoke(served, {"tag": f"e{i}", "release": str(release)}, invocation_type="Event")
                    for i in range(3)]
        assert [a.status_code for a in accepted] == [202] * 3
        served.wait_for_line(r"ready tag=e0", timeout=30)  # one runs, two wait in the fleet's queue
        pids = tree(served.proc.pid)
        served.signal(signal.SIGTERM)
        assert served.wait(60) == 0, served.output()
        assert wait_all_gone(pids, 10) == {}
        assert list((state_home / "lambdatui").glob("run-*")) == []
        assert len(matches(served, r"Event invoke \S+ was not run: lambdatui shut down while it was queued")) == 2
        assert busy.response().headers.get("x-amz-function-error"), served.output()  # answered, not dropped
    finally:
        served.close()
        if busy is not None:
            busy.done()
        kill_survivors(pids)
