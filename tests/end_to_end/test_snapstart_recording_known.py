"""A recorded SnapStart session of `sample_functions/snapstart` does not replay (found by a bug hunt of the debugger
with several environments; the debugger's `--record` of a `--snapstart` fleet fails the same way).

README: `--record FILE` "writes what happened as a scenario that replays to the same outcome". The sample's handler
answers values made at Init (`uuid4().hex`, a random seed, a first draw): the recording expects the session
snapshot's exact values, but a replay publishes a new snapshot, whose Init makes others, so step 1 fails with
`response.id: expected "...", got "..."`. (The sample's own scenario compares them with `expect.same`, which is what
such a recording would need; or a response whose values came from Init should be compared for success only.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_support import REPO, run_cli

pytestmark = pytest.mark.timeout(120)

SNAPSTART = REPO / "sample_functions" / "snapstart" / "handler.py"


@pytest.mark.xfail(strict=True, reason="a SnapStart recording expects the session snapshot's Init-made values, "
                                       "which a replay's new snapshot cannot reproduce")
def test_a_recorded_snapstart_invoke_of_the_sample_replays(code_dir: Path) -> None:
    scenario = code_dir / "snap.toml"
    made = run_cli("invoke", str(SNAPSTART), "--snapstart", "--record", str(scenario))
    assert made.returncode == 0, made.stderr[-2000:]
    replayed = run_cli("replay", str(SNAPSTART), str(scenario))
    assert replayed.returncode == 0, replayed.stdout[-1500:] + replayed.stderr[-1500:]
