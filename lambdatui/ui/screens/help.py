"""`?`: every key, what it does, and where it comes from in Lambda's terms."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# lambdatui keys

Every panel shows one environment of the fleet, the **focused** one (marked ▶ in the strip under the header).
Keys that act on an environment act on the focused one; breakpoints apply to every environment.

| key | command | what happens |
| --- | --- | --- |
| `n` | step | release the focused environment's hold and hold at its next boundary |
| `c` | continue | run the focused environment until it waits for an invoke (breakpoints still hold) |
| `i` | invoke | send the current event: an idle environment takes it, or a new one cold-starts (up to `--concurrency`) |
| `e` | edit event | JSON editor with validation, `events/` samples and trigger templates |
| `b` | breakpoints | choose the boundaries to hold at, in every environment (those started later too) |
| `x` | crash | kill the focused environment's runtime or an extension (a signal, or an exit code for lambdatui's Python runtime) |
| `t` | timeout | the focused environment's current deadline elapses now |
| `f` | freeze / thaw | SIGSTOP or SIGCONT one participant of the focused environment: a frozen one runs its phase into the deadline |
| `r` | raise | the handler raises the exception you name on its next entry in the focused environment |
| `N` | new environment | replace the focused environment: it comes back with a new number, cold, with an empty /tmp |
| `s` | shut down | SHUTDOWN (spindown) the focused environment: its processes end and it leaves the fleet |
| `,` `.` | environments | show the previous / next environment (a click on one in the strip does too) |
| `1`…`9` | env #N | show env #1 … env #9 |
| `l` | log filter | cycle the log between all, platform, function and extension lines |
| `v` | extension events | what an extension was sent, in order: INVOKE, SHUTDOWN and each Telemetry API batch (its JSON); also enter on its row |
| `a` | API traffic | every Runtime, Extensions and Telemetry API exchange of the focused environment, per participant (←/→), in order: method, path, status, how long a /next was parked (a waiting one counts), the headers that matter, a body preview; enter opens one |
| `ctrl+p` | palette | every command, searchable, theme switching, and a screenshot (saved in the working directory) |
| `ctrl+c` | copy | copy the text selected with the mouse; it never quits (`q` does, and so does a SIGINT) |
| `?` | help | this screen |
| `q` | quit | shut down as Lambda does, restore the terminal, leave no process behind |

## Boundaries

`init.extensions` → `init.runtime` → `init.function` → `init.done` → (`invoke.start` → `invoke.response` →
`invoke.done`)… → `shutdown.start` → `shutdown.done`. While the debugger holds a boundary, every process is
frozen and the held time does not count against any Lambda deadline. Holding one environment never stalls the
others: an invoke that arrives meanwhile goes to another environment, cold-starting one if need be.

## The fleet line

`fleet: 3 envs · 2 busy (peak 3) / limit 100 · cold 3 · warm 5 · throttled 1 · queued 0`: environments alive,
those serving an invoke now (and the most at once) against `--concurrency`, invokes that met a cold environment
or a warm one, synchronous invokes refused with 429 at the limit, and Event invokes waiting for an environment.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
