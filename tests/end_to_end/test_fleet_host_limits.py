"""The fleet against the host's own limits: file descriptors (issue found by the fleet hunt).

`serve` holds about ten descriptors for each environment (its sandbox API server, its processes' pipes, pidfds,
the watchdog's) and one for each client. Many desktops start processes with a soft RLIMIT_NOFILE of 1,024 (the
hard limit is far higher): at the default --concurrency 100, a burst of ~90 invokes ran serve out of descriptors,
and the first EMFILE raised inside an environment's own task (a runtime's reset, re-spawning it) ended the
whole of serve, every other environment and caller with it. The tests run the same arithmetic at an eighth of
the scale: a soft limit of 128 and a burst of 12 (serve holds ~18 descriptors for each environment here: the
burst's peak, ~240, is checked to be above the limit).
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import sys
from pathlib import Path
from typing import Iterator

import pytest

import e2e_support
from e2e_support import ServeProcess, wait_all_gone
from test_fleet_support import (
    READY, InFlight, invoke, kill_survivors, tree, wait_for_count, wait_until, write_function,
)

LOW = 128
BURST = 12  # ~18 descriptors each: about 240 in all, more than LOW


SOFT_LIMIT = (
    "import os, resource, sys\n"
    f"resource.setrlimit(resource.RLIMIT_NOFILE, ({LOW}, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


@pytest.fixture
def low_soft_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The served process starts with a soft RLIMIT_NOFILE of LOW (its hard limit kept). Set for it alone, by a
    wrapper that execs it: lowered here, the test's own process would share it, and a test runner's worker may hold
    that many descriptors already."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4 * LOW:
        pytest.skip(f"RLIMIT_NOFILE's hard limit is {hard}: the test needs room above the soft limit")
    plain = e2e_support.lambdatui_argv()
    monkeypatch.setattr(e2e_support, "lambdatui_argv", lambda: [sys.executable, "-c", SOFT_LIMIT, *plain])
    yield


def test_a_burst_beyond_the_inherited_soft_file_limit_is_served(code_dir: Path, low_soft_limit: None) -> None:
    """The soft limit is only where a process starts: serve may raise it up to the hard limit (the function's own
    processes still get Lambda's 1,024). A burst that needs more descriptors than the inherited soft limit gets an
    environment each, and serve goes on."""
    handler = write_function(code_dir)
    release = code_dir / "release"
    with ServeProcess(handler, "--timeout", "60") as served:
        calls = [InFlight(served, {"tag": f"burst-{i}", "release": str(release)}) for i in range(BURST)]
        try:
            wait_for_count(served, READY, BURST, timeout=60)
            # The burst does need more than the inherited soft limit (about 240 at its peak, ~18 per environment):
            # without serve raising it, the EMFILE this test is about would be met.
            assert descriptors(served.proc.pid) > LOW
        finally:
            release.touch()
        answers = [call.response(timeout=60) for call in calls]
        assert [a.status_code for a in answers] == [200] * BURST, [a.text for a in answers]
        assert not [a.text for a in answers if a.headers.get("x-amz-function-error")]
        assert len({a.json()["token"] for a in answers}) == BURST
        assert served.proc.poll() is None, served.output()
        assert "Too many open files" not in served.output()


HARD_LIMIT = (
    "import os, resource, sys\n"
    f"resource.setrlimit(resource.RLIMIT_NOFILE, ({LOW}, {LOW}))\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def test_an_event_invoke_that_finds_no_descriptor_for_a_new_environment_waits_and_serve_goes_on(
        code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At the hard limit nothing can be raised. An Event invoke accepted while env #1 is busy needs a new
    environment, and lambdatui has no descriptor left to start one: it waits (as at the concurrency limit) and
    runs once env #1 is free. Before, the EMFILE raised in the Event invokes' dispatcher ended serve: the busy
    invoke's runtime was killed under it, the event was dropped, and nothing answered any more."""
    plain = e2e_support.lambdatui_argv()
    monkeypatch.setattr(e2e_support, "lambdatui_argv", lambda: [sys.executable, "-c", HARD_LIMIT, *plain])
    handler = write_function(code_dir)
    release = code_dir / "release"
    served = ServeProcess(handler, "--timeout", "60")
    idle: list[socket.socket] = []
    pids: dict[int, int] = {}
    try:
        served.start()
        busy = InFlight(served, {"tag": "busy", "release": str(release)})
        wait_for_count(served, READY, 1)
        pids = tree(served.proc.pid)
        # Idle clients, each a descriptor of serve's, until three are left: one for the Event invoke's connection,
        # too few for an environment.
        host, port = served.address.rsplit(":", 1)
        while descriptors(served.proc.pid) < LOW - 3:
            before = descriptors(served.proc.pid)
            idle.append(socket.create_connection((host, int(port)), timeout=30))
            wait_until(lambda: descriptors(served.proc.pid) > before, 10, "serve accepts the idle connection")

        accepted = invoke(served, {"tag": "event"}, invocation_type="Event")
        assert accepted.status_code == 202, accepted.text
        served.wait_for_line(r"Event invoke \S+ waits: no new environment could be started", timeout=30)
        assert served.proc.poll() is None, served.output()

        for client in idle:
            client.close()
        idle.clear()
        release.touch()
        answer = busy.response()
        assert answer.status_code == 200 and not answer.headers.get("x-amz-function-error"), answer.text
        served.wait_for_line(r"#\d+ \[function\]\s+ran tag=event", timeout=30)
        after = invoke(served, {"tag": "after"})
        assert after.status_code == 200 and not after.headers.get("x-amz-function-error"), after.text

        pids.update(tree(served.proc.pid))
        served.signal(signal.SIGTERM)
        assert served.wait(60) == 0, served.output()
        assert wait_all_gone(pids, 10) == {}
        assert "was not run" not in served.output()
    finally:
        for client in idle:
            client.close()
        served.close()
        kill_survivors(pids)


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
