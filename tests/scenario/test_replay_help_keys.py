"""`lambdatui replay --help` names every key a step takes (README: "`lambdatui replay --help` lists every key")."""

from __future__ import annotations

import re

from lambdatui.cli_help import REPLAY_EPILOG
from lambdatui.scenario.expect_parse import EXPECT_KEYS
from lambdatui.scenario.parse import STEP_KEYS


def test_the_replay_help_names_every_step_and_expect_key() -> None:
    # A recording writes client_context and qualifier for the callers that sent them, yet the help named neither
    # (nor a parallel step's client_contexts and qualifiers).
    named = set(re.findall(r"[a-z_]+", REPLAY_EPILOG))
    assert sorted(set(STEP_KEYS) - named) == []
    assert sorted(set(EXPECT_KEYS) - named) == []
