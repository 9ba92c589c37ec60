"""A caller's next invoke and an environment finishing its last one (lambda-spec §4.4, §11.1): the environment stays
in its Invoke phase until its runtime and every extension have asked for their next event, and takes no invoke until
then. A quick finish (the runtime's and extensions' next /next, a millisecond or so after the answer) is waited for,
so a caller that invokes as soon as it has its answer stays warm, as behind Lambda's network; an extension that goes
on working after the answer is not: the next invoke goes to a new environment instead of waiting for it.

Real `lambdatui serve`, a real runtime and extension, real HTTP. The extension holds its environment's invoke open
until the test lets it go (a file the test creates), so what "still working" means does not depend on timing.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from e2e_support import ServeProcess, run_cli, write_file
from test_fleet_support import INIT_START, REPORT, WORKING_EXTENSION, invoke, matches, wait_for_count, write_function

# The invoke sent while env #1's extension works must be answered long before the test would let it go: were it
# queued behind that work, it would wait here (bounded) and fail rather than hang.
PAST_HOLD_TIMEOUT_S = 15.0


def test_a_callers_next_invoke_stays_warm_after_a_quick_finish_and_goes_past_an_extension_still_working(
        code_dir: Path) -> None:
    handler = write_function(code_dir)
    write_file(code_dir / "extensions" / "holding", WORKING_EXTENSION, executable=True)
    release = code_dir / "release"
    with ServeProcess(handler, "--timeout", "30", "--env", "HOLD_AT=3", "--env", f"RELEASE={release}") as served:
        with httpx.Client(timeout=PAST_HOLD_TIMEOUT_S) as client:
            # One after the other, each sent as soon as the last was answered: the runtime and the extension finish
            # each at once, and the same warm environment takes the next (no cold start beside it).
            warm = [invoke(served, {"tag": f"warm-{i}"}, client=client) for i in range(3)]
            # After the third, the extension keeps env #1 in its Invoke phase: the next one gets a new environment.
            past = invoke(served, {"tag": "past"}, client=client)
        assert [a.status_code for a in [*warm, past]] == [200] * 4, [a.text for a in [*warm, past]]
        bodies = [a.json() for a in warm]
        assert len({b["token"] for b in bodies}) == 1 and [b["n"] for b in bodies] == [1, 2, 3], bodies
        held = bodies[-1]["request_id"]
        assert past.json()["token"] != bodies[0]["token"] and past.json()["n"] == 1, past.json()
        # Answered while env #1's invoke still ran: its REPORT comes only once the extension is let go.
        assert held not in [m.group(2) for m in matches(served, REPORT)], served.output()
        assert [m.group(1) for m in matches(served, INIT_START)] == ["1", "2"], served.output()
        release.touch()
        reports = wait_for_count(served, REPORT, 4)
        assert any(m.group(2) == held and m.group(1) == "1" for m in reports), served.output()
        # The debugger's and serve's log say why the invoke did not go to the warm environment.
        output = served.output()
        assert "env #1 answered its last invoke" in output and "extension holding has not asked" in output, output


COUNTING_HANDLER = """served = 0


def handler(event, context):
    global served
    served += 1
    return {"n": served}
"""


def test_a_recording_replays_an_invoke_that_went_past_a_finishing_environment_into_a_new_one(code_dir: Path) -> None:
    # In the session env #1's extension still worked on its invoke: the second went to a new environment and counted
    # 1. A replay runs a step once the last has settled, so env #1 is idle there; `env = 2`, the next environment's
    # number, starts env #2 again rather than sending the invoke to env #1, where it counted 2 and the replay failed.
    handler = write_file(code_dir / "handler.py", COUNTING_HANDLER)
    write_file(code_dir / "extensions" / "holding", WORKING_EXTENSION, executable=True)
    release, recording = code_dir / "release", code_dir / "session.toml"
    options = ("--timeout", "30", "--env", "HOLD_AT=1", "--env", f"RELEASE={release}")
    with ServeProcess(handler, *options, "--record", str(recording)) as served:
        with httpx.Client(timeout=PAST_HOLD_TIMEOUT_S) as client:
            answers = [invoke(served, {}, client=client) for _ in range(2)]
        assert [a.json() for a in answers] == [{"n": 1}, {"n": 1}], served.output()
        release.touch()
        wait_for_count(served, REPORT, 2)
    text = recording.read_text()
    assert "env = 2" in text, text
    replayed = run_cli("replay", str(handler), str(recording), *options)
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
