"""`--record`: JSON null in a response is a value a replay compares, not a part left out.

The recorder leaves out what a replay cannot get again (the request id, the clock's readings). A null is neither: a
handler that returned `None`, or `{"error": null}`, must replay against that, so that a changed handler returning
something else fails. Real processes: the CLI records, the CLI replays a changed handler.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_support import run_cli

from lambdatui.scenario.parse import parse_scenario

pytestmark = pytest.mark.timeout(120)

NULLS = '''def handler(event, context):
    if event.get("kind") == "none":
        return None
    return {"rid": context.aws_request_id, "error": None, "n": 1}
'''

CHANGED = '''def handler(event, context):
    if event.get("kind") == "none":
        return {"oops": 1}
    return {"rid": context.aws_request_id, "error": "now failing", "n": 1}
'''


@pytest.mark.parametrize(("kind", "expected"), [("none", None), ("keyed", {"error": None, "n": 1})])
def test_a_null_in_a_recorded_response_is_compared(code_dir: Path, tmp_path: Path, kind: str,
                                                   expected: object) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(NULLS)
    recording = tmp_path / "nulls.toml"
    done = run_cli("invoke", str(handler), "-e", f'{{"kind": "{kind}"}}', "--record", str(recording))
    assert done.returncode == 0, done.stderr
    text = recording.read_text()
    (step,) = parse_scenario(text, recording).steps
    assert step.expect.has_response, text
    assert step.expect.response == expected, text
    same = run_cli("replay", str(handler), str(recording))
    assert same.returncode == 0, text + same.stdout + same.stderr
    handler.write_text(CHANGED)
    changed = run_cli("replay", str(handler), str(recording))
    assert changed.returncode == 1, text + changed.stdout + changed.stderr
    assert "expect.response" in changed.stdout, changed.stdout
