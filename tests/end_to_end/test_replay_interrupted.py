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


def test_a_replay_stopped_in_its_third_step_says_two_ran_and_names_the_third(code_dir: Path, tmp_path: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    scenario = write_file(tmp_path / "three.toml", SCENARIO)
    proc = subprocess.Popen([sys.executable, "-m", "lambdatui", "replay", str(handler), str(scenario)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "sleeping" in line:
                break
        else:
            raise AssertionError("step 3 never ran: " + "".join(lines))
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    out = "".join(lines) + rest
    assert f"INTERRUPTED after 2 of 3 steps ({scenario})" in out, out
    assert f"FAILED {scenario}:10: step 3 stopped" in out, out
    assert proc.returncode != 0
