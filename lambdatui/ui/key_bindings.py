"""The debugger's keys: what each runs, its footer label and tooltip, and its title in the command palette."""

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
    "new_environment": "New environment",
    "shutdown": "Shut down",
    "cycle_log_filter": "Cycle the log filter",
    "extension_events": "An extension's events…",
    "help": "Help",
}


def _binding(key: str, action: str, description: str, tooltip: str, *, show: bool = True, **kw: object) -> Binding:
    return Binding(key, action, description, show=show, tooltip=tooltip, id=action, **kw)  # type: ignore[arg-type]


APP_BINDINGS = [
    _binding("n", "step", "Step", "Release the held boundary and hold at the next one"),
    _binding("c", "continue", "Cont", "Run until the environment waits for an invoke"),
    _binding("i", "invoke", "Invoke", "Send the current event"),
    _binding("e", "edit_event", "Event", "Edit the event"),
    _binding("b", "breakpoints", "Brk", "Choose the boundaries to hold at"),
    _binding("x", "crash", "Kill", "Crash the runtime or an extension"),
    _binding("t", "force_timeout", "Time", "The current phase's deadline elapses now"),
    _binding("f", "freeze", "Freeze", "Freeze or thaw one participant"),
    _binding("r", "raise_in_handler", "Raise", "The handler raises on its next entry"),
    _binding("N", "new_environment", "New", "The next invoke cold-starts a fresh environment"),
    _binding("s", "shutdown", "Shut", "SHUTDOWN (spindown) the environment"),
    _binding("l", "cycle_log_filter", "Log", "Cycle the log filter"),
    _binding("v", "extension_events", "Ext", "What an extension was sent: INVOKE, SHUTDOWN, telemetry batches",
             show=False),
    _binding("question_mark", "help", "Help", "Every key and what it does"),
    _binding("q", "quit", "Quit", "Shut down and leave no process behind"),
    # No ctrl+c here: Textual's own bindings apply. ctrl+c copies the selected text (Screen, Input, TextArea)
    # and, with nothing selected, says to press q; a priority binding here would quit instead of copying.
]
