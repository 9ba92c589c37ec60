"""The one error every bad input to a function's configuration becomes, whichever door it came through."""

from __future__ import annotations

# Python's json parser recurses once per level and gives up near the interpreter's recursion limit (1,000).
TOO_DEEP = "nested too deeply for Python's json parser"


class ConfigError(Exception):
    """A usage or configuration problem, reported as one line (exit status 2)."""
