"""`replay` stopped by a signal says how far it got: the steps that ran, and the one it stopped in.

A bug hunt: SIGINT during step 3 of 3, after steps 1 and 2 passed, printed "INTERRUPTED after 0 of 3 steps" and blamed
step 1 (the cancelled run never returned its result; the report read an empty one).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from e2e_support import write_file

HANDLER = '''import time


def handler(event, context):
    if event.get("sleep"):
        print("sleeping", flush=True)
        time.sleep(event["sleep"])
    return {"n": event.get("n")}
'''

SCENARIO = """[function]
timeout = 60

[[step]]
invoke = '{"n": 1}'

[[step]]
invoke = '{"n": 2}'

[[step]]
invoke = '{"n": 3, "sleep": 30}'
"""


# Managed Instances: step 1 times out and its handler runs on; the replay waits for it between the steps.
BETWEEN = """[function]
timeout = 1
max_concurrency = 2

[[step]]
invoke = '{"n": 1, "sleep": 30}'

[[step]]
invoke = '{"n": 2}'
"""


def interrupted(handler: Path, scenario: Path, when: str) -> tuple[str, int]:
    """The replay's whole output, SIGINT sent once a line holds `when`; and its exit status."""
    proc = subprocess.Popen([sys.executable, "-m", "lambdatui", "replay", str(handler), str(scenario)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if when in line:
                break
        else:
            raise AssertionError(f"never saw {when!r}: " + "".join(lines))
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    return "".join(lines) + rest, proc.returncode


def test_a_replay_stopped_in_its_third_step_says_two_ran_and_names_the_third(code_dir: Path, tmp_path: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    scenario = write_file(tmp_path / "three.toml", SCENARIO)
    out, status = interrupted(handler, scenario, "sleeping")
    assert f"INTERRUPTED after 2 of 3 steps ({scenario})" in out, out
    assert f"FAILED {scenario}:10: step 3 stopped" in out, out
    assert status != 0


def test_a_replay_stopped_between_two_steps_says_the_next_was_not_begun(code_dir: Path, tmp_path: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    scenario = write_file(tmp_path / "between.toml", BETWEEN)
    out, status = interrupted(handler, scenario, "runs on: the next step waits for it")
    assert f"INTERRUPTED after 1 of 2 steps ({scenario})" in out, out
    assert f"FAILED {scenario}:8: step 2 not begun" in out, out
    assert "-- step 2/2" not in out, out
    assert status != 0
