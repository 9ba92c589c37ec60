"""Provides the lifecycle colours: theme variable names per phase and state, with fallbacks.

The app declares `$phase-*` with `get_theme_variable_defaults` (PHASE_VARIABLE_DEFAULTS is a ready
set it may use); Content styles refer to the variables by name, so a theme switch recolours them for
free. Rich renderables built in Python (DataTable cells, log strips, Syntax) need concrete colours:
`theme_color` reads the running app's variables and falls back to these defaults.
"""

from __future__ import annotations

from typing import Optional

from textual.dom import DOMNode

from lambdatui.model import timeline as tl
from lambdatui.model.boundaries import EnvState

from lambdatui.ui.themes import PHASE_VARIABLE_DEFAULTS  # one set of defaults, with the theme loader

KIND_VARIABLE: dict[str, str] = {
    tl.INIT: "phase-init",
    tl.SUBPHASE: "phase-init",
    tl.INVOKE: "phase-invoke",
    tl.FROZEN: "phase-frozen",
    tl.HELD: "phase-held",
    tl.RESET: "phase-reset",
    tl.SHUTDOWN: "phase-shutdown",
}

STATE_VARIABLE: dict[EnvState, Optional[str]] = {
    EnvState.COLD: None,  # nothing is running: a neutral badge
    EnvState.INIT: "phase-init",
    EnvState.SNAPSHOT: "phase-frozen",  # held as the snapshot: initialised, waiting, never invoked
    EnvState.FROZEN: "phase-frozen",
    EnvState.RUNNING: "phase-invoke",
    EnvState.RESETTING: "phase-reset",
    EnvState.SHUTTING_DOWN: "phase-shutdown",
    EnvState.SHUT_DOWN: "phase-shutdown",
}

FAILED = tl.FAILED_STATUSES  # phase outcomes drawn in $phase-error


def theme_color(node: DOMNode, name: str, fallback: str = "default") -> str:
    """A theme variable's colour for Rich renderables (which cannot resolve `$name` themselves)."""
    try:
        variables = node.app.theme_variables
    except Exception:  # not attached to a running app (a unit test rendering by hand)
        variables = {}
    value = variables.get(name) or PHASE_VARIABLE_DEFAULTS.get(name) or fallback
    return value if not value.startswith("auto") else fallback


def syntax_theme(node: DOMNode) -> str:
    """The pygments style that reads well on the current theme's background."""
    try:
        dark = node.app.current_theme.dark
    except Exception:
        dark = True
    return "monokai" if dark else "default"
