"""Routing invokes to Managed Instances environments with real `serve` (lambda-spec §11.3): an invoke goes where a
worker of the runtime waits on /next for it, as RAPID hands an invoke only to a runtime waiting on /next.

Each worker runs its own Function init. Here the first worker of an environment initialises at once and the
others wait, in their Function init, for a file the test creates: an environment with one invoke running has room
for one more, but only in a worker that is not asking for work.
"""

from __future__ import annotations

import threading
from pathlib import Path

from e2e_support import ServeProcess, write_file
from test_fleet_support import InFlight, env_of_request, wait_for_count

# The first worker to initialise in an environment takes /tmp's "first" (each environment has its own /tmp); the
# others stay in their Function init until `workers-go` appears beside the handler. An invoke may hold its worker
# until a file appears (`release`).
STAGGERED = '''import os, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    os.close(os.open(os.path.join(tempfile.gettempdir(), "first"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
except FileExistsError:
    while not os.path.exists(os.path.join(HERE, "workers-go")):
        time.sleep(0.01)


def handler(event, context):
    release = event.get("release")
    if release:
        while not os.path.exists(release):
            time.sleep(0.005)
    return {"pid": os.getpid()}
'''

INIT_DONE = r"#(\d+) \[platform\]\s+INIT_REPORT .*Status: success"


def test_an_invoke_goes_to_a_waiting_worker_not_to_an_environment_whose_other_workers_are_still_initialising(
        code_dir: Path) -> None:
    """A bug hunt: env #1, its one initialised worker busy, ranked as having room (1 invoke of 2), so a second
    invoke waited in it for a worker still in its Function init, for as long as that Init took, where a new
    environment answered it at once."""
    handler = write_file(code_dir / "handler.py", STAGGERED)
    release = code_dir / "release"
    with ServeProcess(handler, "--max-concurrency", "2", "--timeout", "60") as served:
        wait_for_count(served, INIT_DONE, 1)
        first = InFlight(served, {"release": str(release)})
        served.wait_for_line(r"#1 \[platform\]\s+START RequestId:")
        second = InFlight(served, {})
        try:
            answer = second.response(timeout=30)  # env #1's second worker is still initialising meanwhile
            assert answer.status_code == 200, answer.text
            assert env_of_request(served, answer.headers["X-Amzn-RequestId"]) == 2
        finally:
            release.touch()
            (code_dir / "workers-go").touch()
        held = first.response()
        assert held.status_code == 200 and env_of_request(served, held.headers["X-Amzn-RequestId"]) == 1


def test_a_burst_fills_the_workers_of_the_environments_it_starts(code_dir: Path) -> None:
    """A bug hunt: four invokes sent together at --max-concurrency 2 with no environment up started four
    environments of two workers each (one per invoke that arrived while another was being started), not two."""
    handler = write_file(code_dir / "handler.py", STAGGERED)
    (code_dir / "workers-go").touch()  # every worker initialises at once here
    release = code_dir / "release"
    with ServeProcess(handler, "--max-concurrency", "2", "--timeout", "60", "--idle-shutdown", "1") as served:
        served.wait_for_line(r"#1 \[lambdatui\]\s+env #1 has been idle")  # the burst finds no environment up
        barrier = threading.Barrier(4)
        burst = [InFlight(served, {"release": str(release)}, barrier=barrier) for _ in range(4)]
        try:
            wait_for_count(served, r"#\d+ \[platform\]\s+START RequestId:", 4)  # all four run at once
        finally:
            release.touch()
        answers = [call.response() for call in burst]
    assert [a.status_code for a in answers] == [200] * 4
    envs = {env_of_request(served, a.headers["X-Amzn-RequestId"]) for a in answers}
    assert len(envs) == 2, (envs, served.output())
