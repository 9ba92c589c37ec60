"""No orphans with several environments: however `serve` ends (SIGTERM, SIGKILL), nothing of any environment
outlives it, whatever each environment was doing (frozen between invokes, or running one).

The fleet is built for real: three environments, each with its runtime and its audit extension, read from /proc
(by parent pid) while they are up, each pid kept with its start time so a recycled pid is never mistaken for a
survivor. Two of them are mid-invoke (running, not frozen) when serve is stopped, the third is frozen.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Iterator

import pytest

from e2e_support import ServeProcess, wait_all_gone
from test_fleet_support import (
    READY, REPORT, InFlight, kill_survivors, matches, runtimes_and_extensions, state_home, together, tree,
    wait_for_count, write_function,
)

__all__ = ["state_home"]  # the fixture, used by name

ENVIRONMENTS = 3
GONE_WITHIN = 10.0  # seconds; the watchdog and the parent-death signal act within milliseconds


@pytest.fixture
def fleet_of_three(code_dir: Path, state_home: Path) -> Iterator[tuple[ServeProcess, dict[int, int], list[InFlight]]]:
    """serve with three environments: #1..#3 initialised, two of them running an invoke that waits."""
    handler = write_function(code_dir, extension=True)
    first, second = code_dir / "release-first", code_dir / "release-second"
    served = ServeProcess(handler, "--concurrency", str(ENVIRONMENTS), "--timeout", "60")
    pids: dict[int, int] = {}
    in_flight: list[InFlight] = []
    try:
        served.start()
        # Three at once make three environments; once they are done, two more invokes keep two of them busy.
        warmup = together(served, [{"tag": f"warm-{i}", "release": str(first)} for i in range(ENVIRONMENTS)])
        wait_for_count(served, READY, ENVIRONMENTS)
        first.touch()
        assert [call.response().status_code for call in warmup] == [200] * ENVIRONMENTS
        wait_for_count(served, REPORT, ENVIRONMENTS)
        in_flight = together(served, [{"tag": f"busy-{i}", "release": str(second)} for i in range(2)])
        wait_for_count(served, READY, ENVIRONMENTS + 2)

        pids = tree(served.proc.pid)
        runtimes, audits = runtimes_and_extensions(pids)
        assert len(runtimes) == ENVIRONMENTS and len(audits) == ENVIRONMENTS, pids
        tokens = {m.group(3) for m in matches(served, READY)}
        assert len(tokens) == ENVIRONMENTS  # three runtime processes served, and they are the three seen
        assert sorted({m.group(1) for m in matches(served, READY)}) == ["1", "2", "3"]
        yield served, pids, in_flight
    finally:
        served.close()
        for call in in_flight:
            call.done()
        kill_survivors(pids)


def test_sigkill_of_serve_with_three_environments_leaves_no_process_behind(fleet_of_three) -> None:
    served, pids, in_flight = fleet_of_three
    served.proc.kill()
    assert served.wait(timeout=10) == -signal.SIGKILL

    survivors = wait_all_gone(pids, GONE_WITHIN)
    assert survivors == {}, f"still running {GONE_WITHIN} s after serve was SIGKILLed: {survivors}"
    for call in in_flight:
        assert call.done() is not None  # their connection went with serve: an error, not an answer


def test_sigterm_of_serve_with_three_environments_answers_and_leaves_nothing_behind(
        fleet_of_three, state_home: Path) -> None:
    served, pids, in_flight = fleet_of_three
    served.signal(signal.SIGTERM)
    assert served.wait(timeout=30) == 0, served.output()

    survivors = wait_all_gone(pids, GONE_WITHIN)
    assert survivors == {}, f"still running after a graceful exit: {survivors}"
    # Every environment's extension got its SHUTDOWN, and the two callers mid-invoke got an answer.
    spindowns = matches(served, r"#(\d+) \[audit\]\s+\[audit\] SHUTDOWN reason=spindown")
    assert sorted(m.group(1) for m in spindowns) == ["1", "2", "3"], served.output()
    for call in in_flight:
        answer = call.response()
        assert answer.status_code == 200 and answer.headers.get("x-amz-function-error") == "Unhandled", answer.text
    # The run folder, with every environment's /tmp in it, went too.
    assert list((state_home / "lambdatui").glob("run-*")) == []
