"""A click anywhere on a panel focuses it: its border, its title line, its filter bar, not only its scrolling body.

Textual focuses the focusable widget under a click, or its nearest focusable ancestor. Globals, /tmp, Result and
Participants are focusable themselves, so any click on them focuses them already; the Event and Logs panels are
containers whose focusable part is inside (the event's scroll, the log lines), and a click on their title, filter
bar or border found nothing to focus. `panel_to_focus` finds it.
"""

from __future__ import annotations

from typing import Optional

from textual.dom import DOMNode
from textual.widget import Widget

PANEL_IDS = frozenset({"participants", "globals", "tmp", "event", "result", "logs"})
"""The panels of the main screen a click focuses (app.py's compose)."""


def panel_of(node: Optional[DOMNode]) -> Optional[Widget]:
    """The main-screen panel holding `node` (a clicked widget), if any."""
    while node is not None:
        if isinstance(node, Widget) and node.id in PANEL_IDS:
            return node
        node = node.parent
    return None


def panel_to_focus(clicked: Optional[DOMNode]) -> Optional[Widget]:
    """What a click on `clicked` should focus: its panel's first focusable part, unless focus is in that panel already
    (then the click keeps what Textual chose: a row, a scroll)."""
    panel = panel_of(clicked)
    if panel is None or panel.has_focus_within:
        return None
    if panel.focusable:
        return panel
    return next((child for child in panel.walk_children(Widget) if child.focusable), None)
