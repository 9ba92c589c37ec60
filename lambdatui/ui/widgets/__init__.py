"""Provides the debugger's display widgets: each renders a `DebuggerSnapshot` through `show(snapshot)`.

Attributes down, messages up: the screen calls `show` (and sets attributes such as
`EventPanel.event_text`); no widget talks to the controller.
"""

from lambdatui.ui.widgets._theme import PHASE_VARIABLE_DEFAULTS
from lambdatui.ui.widgets.environments_strip import EnvironmentsStrip
from lambdatui.ui.widgets.event_panel import EventPanel
from lambdatui.ui.widgets.explain_bar import ExplainBar
from lambdatui.ui.widgets.globals_view import GlobalsView
from lambdatui.ui.widgets.header_bar import HeaderBar
from lambdatui.ui.widgets.log_view import LogView
from lambdatui.ui.widgets.participants import ParticipantsTable
from lambdatui.ui.widgets.phase_timeline import PhaseTimeline
from lambdatui.ui.widgets.result_view import ResultView
from lambdatui.ui.widgets.tmp_view import TmpView

__all__ = [
    "PHASE_VARIABLE_DEFAULTS",
    "EnvironmentsStrip",
    "EventPanel",
    "ExplainBar",
    "GlobalsView",
    "HeaderBar",
    "LogView",
    "ParticipantsTable",
    "PhaseTimeline",
    "ResultView",
    "TmpView",
]
