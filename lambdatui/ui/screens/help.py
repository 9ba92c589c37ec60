"""`?`: every key, what it does, and where it comes from in Lambda's terms."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# lambdatui keys

| key | command | what happens |
| --- | --- | --- |
| `n` | step | release the held boundary and hold at the next one |
| `c` | continue | run until the environment waits for an invoke (breakpoints still hold) |
| `i` | invoke | send the current event (queued if the environment is busy) |
| `e` | edit event | JSON editor with validation, `events/` samples and trigger templates |
| `b` | breakpoints | choose the boundaries to hold at |
| `x` | crash | kill the runtime or an extension (a signal, or an exit code for lambdatui's Python runtime) |
| `t` | timeout | the current phase's deadline elapses now |
| `f` | freeze / thaw | SIGSTOP or SIGCONT one participant: a frozen one runs its phase into the deadline |
| `r` | raise | the handler raises the exception you name on its next entry |
| `N` | new environment | the next invoke cold-starts a fresh environment with an empty /tmp |
| `s` | shut down | SHUTDOWN (spindown) to extensions, then every process ends |
| `l` | log filter | cycle the log between all, platform, function and extension lines |
| `v` | extension events | what an extension was sent, in order: INVOKE, SHUTDOWN and each Telemetry API batch (its JSON); also enter on its row |
| `ctrl+p` | palette | every command, searchable, theme switching, and a screenshot (saved in the working directory) |
| `ctrl+c` | copy | copy the text selected with the mouse; it never quits (`q` does, and so does a SIGINT) |
| `?` | help | this screen |
| `q` | quit | shut down as Lambda does, restore the terminal, leave no process behind |

## Boundaries

`init.extensions` → `init.runtime` → `init.function` → `init.done` → (`invoke.start` → `invoke.response` →
`invoke.done`)… → `shutdown.start` → `shutdown.done`. While the debugger holds a boundary, every process is
frozen and the held time does not count against any Lambda deadline.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
