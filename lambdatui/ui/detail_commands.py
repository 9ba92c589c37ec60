"""`d` and enter: open the value under the focus whole (the panels cut it): which panel has the focus decides what.

- Globals: the global under the cursor (its full repr, and where the runtime cut it);
- Result: the result or error whole, with its stack trace and a timeout's stacks;
- Event: the event JSON, pretty-printed;
- /tmp: the file under the cursor, in the file viewer (read on the host side, in a worker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from textual.widget import Widget

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.detail_texts import event_detail, global_detail, result_detail
from lambdatui.ui.screens.detail import DetailScreen
from lambdatui.ui.screens.tmp_file_viewer import TmpFileScreen
from lambdatui.ui.widgets import EventPanel, GlobalsView, ResultView, TmpView
from lambdatui.ui.widgets.past_bar import phase_name

if TYPE_CHECKING:
    from lambdatui.ui.app import LambdaTuiApp

PANELS = (GlobalsView, ResultView, EventPanel, TmpView)
HOW = "d (or enter) opens a value whole: focus Globals, Result, Event or /tmp first (tab, or a click)."


def focused_panel(app: LambdaTuiApp) -> Optional[Widget]:
    """The panel that holds the focus (the focused widget itself or one of its ancestors), if one of `PANELS`."""
    node = app.focused
    while node is not None and not isinstance(node, PANELS):
        node = node.parent if isinstance(node.parent, Widget) else None
    return node


def open_detail(app: LambdaTuiApp, quiet: bool = False) -> None:
    """Open the focused panel's value; `quiet` (enter) says nothing when the focus is elsewhere."""
    panel = focused_panel(app)
    # What the panels show: as of the selected past bar while travelling back, else live.
    snapshot = app.shown if app.shown is not None else app.snapshot
    if isinstance(panel, GlobalsView):
        entry = panel.cursor.selected
        if entry is None:
            app.notify("No global to show yet: globals appear after Function init.", severity="warning")
        else:
            app.push_screen(DetailScreen(global_detail(entry)))
    elif isinstance(panel, ResultView):
        detail = result_detail(snapshot) if snapshot is not None else None
        if detail is None:
            app.notify("No result yet: invoke first (i).", severity="warning")
        else:
            app.push_screen(DetailScreen(detail))
    elif isinstance(panel, EventPanel):
        app.push_screen(DetailScreen(event_detail(app.event_text, app.event_source)))
    elif isinstance(panel, TmpView):
        entry = panel.cursor.selected
        if entry is None:
            app.notify("No file in /tmp to open.", severity="warning")
        elif app.controller is None:
            app.notify("The environment is still starting.", severity="warning")
        else:
            app.push_screen(TmpFileScreen(app.controller, app.focused_environment, entry.path,
                                          past=_past_phase(snapshot, entry.size)))
    elif not quiet:
        app.notify(HOW)


def _past_phase(snapshot: Optional[DebuggerSnapshot], listed_size: int) -> Optional[tuple[str, int]]:
    """While a past bar is selected: its name and the file's size in its listing (the viewer reads the file now)."""
    if snapshot is None or snapshot.selected_bar is None:
        return None
    bar = next((b for b in snapshot.timeline if b.seq == snapshot.selected_bar), None)
    return (phase_name(snapshot, bar) if bar is not None else f"phase {snapshot.selected_bar}", listed_size)
