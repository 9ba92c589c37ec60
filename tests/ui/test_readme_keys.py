"""The README's key tables name every key the debugger binds: a newcomer reads them, not the code."""

from __future__ import annotations

import re
from pathlib import Path

from lambdatui.ui.key_bindings import APP_BINDINGS

ROOT = Path(__file__).resolve().parents[2]
# Textual's names for the keys README spells as the character itself.
SPELT = {"comma": ",", "full_stop": ".", "left_square_bracket": "[", "right_square_bracket": "]", "slash": "/",
         "question_mark": "?"}


def readme_keys() -> set[str]:
    """Every `key` in the first column of README's key tables (`1`…`9` counts for each digit)."""
    keys: set[str] = set()
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = line.split("|")
        if line.startswith("| `") and len(cells) > 2:
            keys.update(re.findall(r"`([^`]+)`", cells[1]))
    if {"1", "9"} <= keys:
        keys.update(str(n) for n in range(2, 9))
    return keys


def test_every_bound_key_is_in_the_readme_key_tables() -> None:
    # `v` (an extension's events) was bound, and README sent readers to it from the /tmp notes, but neither table
    # listed it.
    listed = readme_keys()
    missing = sorted({SPELT.get(b.key, b.key) for b in APP_BINDINGS} - listed)
    assert missing == [], f"README's key tables do not list {missing}"
