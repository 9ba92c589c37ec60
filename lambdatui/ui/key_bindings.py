"""The debugger's keys: what each runs, its footer label and tooltip, and its title in the command palette.

Keys that act on one environment act on the focused one (the strip marks it); `,` and `.` move the focus, and
the digits jump to env #1 to #9 (`[` and `]` are kept for the timeline).
"""

from __future__ import annotations

from textual.binding import Binding

# The footer's labels are short so every key fits in 100 columns (exactly: a new key must shorten others); the
# palette spells them out.
PALETTE_TITLES = {
    "step": "Step",
    "continue": "Continue",
    "invoke": "Invoke",
    "edit_event": "Edit event",
    "breakpoints": "Breakpoints",
    "crash": "Crash…",
    "force_timeout": "Force the current deadline (timeout)",
    "freeze": "Freeze / thaw…",
    "raise_in_handler": "Raise in the handler…",
    "new_environment": "New environment (replaces the focused one)",
    "shutdown": "Shut down the focused environment",
    "focus_previous_environment": "Previous environment",
    "focus_next_environment": "Next environment",
    "cycle_log_filter": "Cycle the log filter",
    "extension_events": "An extension's events…",
    "toggle_timeline_scale": "Timeline: to scale / logarithmic",
    "show_detail": "Show the focused value whole (global, result, event, /tmp file)",
    "api_traffic": "API traffic (every Runtime, Extensions and Telemetry API exchange)",
    "help": "Help",
    "travel_previous": "Travel back: the previous phase's state",
    "travel_next": "Travel forward: the next phase's state (past the newest: live)",
    "travel_live": "Back to live (leave the past)",
    "compare_invokes": "Compare two invokes: globals and /tmp between them…",
    "search_log": "Search the log",
    "toggle_log_wrap": "Wrap long log lines (toggle)",
    "toggle_log_follow": "Pause / resume following the log",
    "filter_log": "Filter the log by environment, source, request…",
    "save_log": "Save the visible log lines to a file…",
    "clipboard_copy": "Copy the result, a request id or a log line…",
    "stop_lambdatui": "Stop lambdatui (Ctrl-Z: environments held until fg)",
}


def _binding(key: str, action: str, description: str, tooltip: str, *, show: bool = True, **kw: object) -> Binding:
    return Binding(key, action, description, show=show, tooltip=tooltip, id=action, **kw)  # type: ignore[arg-type]


# `,` and `.` share one footer label.
ENVIRONMENTS = Binding.Group("Env", compact=True)

APP_BINDINGS = [
    _binding("n", "step", "Step", "Release the focused environment's hold and hold at the next boundary"),
    _binding("c", "continue", "Go", "Run the focused environment until it waits for an invoke"),
    _binding("i", "invoke", "Inv", "Send the current event (to an idle environment, or a new one)"),
    _binding("e", "edit_event", "Evt", "Edit the event"),
    _binding("b", "breakpoints", "Brk", "Choose the boundaries to hold at (in every environment)"),
    _binding("x", "crash", "Kill", "Crash the focused environment's runtime or an extension"),
    _binding("t", "force_timeout", "Time", "The focused environment's current deadline elapses now"),
    _binding("f", "freeze", "Freeze", "Freeze or thaw one participant of the focused environment"),
    _binding("r", "raise_in_handler", "Raise", "The handler raises on its next entry in the focused environment"),
    _binding("N", "new_environment", "New", "Replace the focused environment: its next invoke cold-starts"),
    _binding("s", "shutdown", "Shut", "SHUTDOWN (spindown) the focused environment: it leaves the fleet"),
    _binding("comma", "focus_previous_environment", "Prev env", "Show the previous environment",
             group=ENVIRONMENTS),
    _binding("full_stop", "focus_next_environment", "Next env", "Show the next environment", group=ENVIRONMENTS),
    *(Binding(str(n), f"focus_environment({n})", f"env #{n}", show=False, tooltip=f"Show env #{n}",
              id=f"focus_environment_{n}") for n in range(1, 10)),
    _binding("l", "cycle_log_filter", "Log", "Cycle the log filter"),
    _binding("v", "extension_events", "Ext", "What an extension was sent: INVOKE, SHUTDOWN, telemetry batches",
             show=False),
    _binding("left_square_bracket", "travel_previous", "Past", "Show the state as of the previous phase's end",
             show=False),
    _binding("right_square_bracket", "travel_next", "Next phase", "Show the state as of the next phase's end",
             show=False),
    _binding("escape", "travel_live", "Live", "Back to live from the past", show=False),
    _binding("C", "compare_invokes", "Compare", "Compare two invokes: the globals and /tmp between them",
             show=False),
    _binding("slash", "search_log", "Find", "Search the log: matches highlighted, enter / shift+enter move",
             show=False),
    _binding("w", "toggle_log_wrap", "Wrap", "Wrap long log lines, or cut them (scroll sideways)", show=False),
    _binding("p", "toggle_log_follow", "Pause", "Pause the log (new lines are counted) or follow its end again",
             show=False),
    _binding("L", "filter_log", "Filter", "Filter the log by environment, source and request id", show=False),
    _binding("S", "save_log", "Save log", "Save the visible (filtered) log lines to a file", show=False),
    _binding("y", "clipboard_copy", "Copy", "Copy the result, the request id or a log line to the clipboard",
             show=False),
    _binding("z", "toggle_timeline_scale", "Scale", "The timeline's bar widths: proportional to durations, or "
             "logarithmic", show=False),
    _binding("d", "show_detail", "Whole", "Show the value under the focus whole: a global, the result, the event, "
             "a /tmp file", show=False),
    # No id: the palette lists `d` once, not enter too.
    Binding("enter", "show_detail(True)", "Whole", show=False, tooltip="On Globals or /tmp: open the row under "
            "the cursor whole"),
    _binding("a", "api_traffic", "API", "Every Runtime, Extensions and Telemetry API exchange, per participant",
             show=False),
    _binding("question_mark", "help", "Help", "Every key and what it does"),
    _binding("q", "quit", "Quit", "Shut down and leave no process behind"),
    # The terminal is in raw mode: Ctrl-Z is a key, not the terminal's SIGTSTP. Not a priority: the event editor's
    # ctrl+z (undo) comes first.
    _binding("ctrl+z", "stop_lambdatui", "Stop", "Stop lambdatui as a shell's Ctrl-Z does (environments held; fg "
             "resumes)", show=False),
    # No ctrl+c here: Textual's own bindings apply. ctrl+c copies the selected text (Screen, Input, TextArea)
    # and, with nothing selected, says to press q; a priority binding here would quit instead of copying.
]
