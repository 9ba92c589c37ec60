"""`?`: every key, what it does, and where it comes from in Lambda's terms."""

from __future__ import annotations

import re
from functools import lru_cache

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widget import Widget

TITLE = "lambdatui keys"
INTRO = ("Every panel shows one environment of the fleet, the **focused** one (marked ▶ in the strip under the "
         "header). Keys that act on an environment act on the focused one; breakpoints apply to every environment.")
# (keys, command, what happens); `code` and **bold** as in Markdown.
KEYS: tuple[tuple[str, str, str], ...] = (
    ("`n`", "step",
     "release the focused environment's hold and hold at its next boundary"),
    ("`c`", "continue",
     "run the focused environment until it waits for an invoke (breakpoints still hold)"),
    ("`i`", "invoke",
     "send the current event: an idle environment takes it, or a new one cold-starts (up to `--concurrency`)"),
    ("`e`", "edit event",
     "JSON editor with validation, `events/` samples and trigger templates"),
    ("`b`", "breakpoints",
     "choose the boundaries to hold at, in every environment (those started later too)"),
    ("`x`", "crash",
     "kill the focused environment's runtime or an extension (a signal, or an exit code for lambdatui's Python "
     "runtime)"),
    ("`t`", "timeout",
     "the focused environment's current deadline elapses now"),
    ("`f`", "freeze / thaw",
     "SIGSTOP or SIGCONT one participant of the focused environment: a frozen one runs its phase into the deadline"),
    ("`r`", "raise",
     "the handler raises the exception you name on its next entry in the focused environment"),
    ("`N`", "new environment",
     "replace the focused environment: it comes back with a new number, cold, with an empty /tmp"),
    ("`s`", "shut down",
     "SHUTDOWN (spindown) the focused environment: its processes end and it leaves the fleet"),
    ("`,` `.`", "environments",
     "show the previous / next environment (a click on one in the strip does too)"),
    ("`1`…`9`", "env #N",
     "show env #1 … env #9"),
    ("`l`", "log filter",
     "cycle the log between all, platform, function and extension lines"),
    ("`/`", "search the log",
     'incremental: matches highlighted as you type, the count and position ("3/17"); enter / shift+enter (F3 / '
     "shift+F3) the next / previous match; escape closes it"),
    ("`w`", "wrap",
     "wrap long log lines at the pane's width, or cut them (scroll sideways)"),
    ("`p`", "pause log",
     'stop following the log\'s end ("12 new lines" are counted); again: jump to the end and follow'),
    ("`L`", "filter log",
     "by environment (the log shows the focused one's), source (platform, function, extensions, lambdatui) and "
     "request id; the panel's title says which"),
    ("`S`", "save log",
     "write the visible (filtered) log lines to a file, by default `lambdatui-logs-<time>.txt` in the working "
     "directory"),
    ("`y`", "copy",
     "copy the result, the request id or a log line (the one clicked, the current match or the newest) to the "
     "clipboard (OSC 52)"),
    ("`v`", "extension events",
     "what an extension was sent, in order: INVOKE, SHUTDOWN and each Telemetry API batch (its JSON); also enter on "
     "its row"),
    ("`[` `]`", "travel",
     "show the state as of the previous / next phase's end (a click on a bar too): globals, /tmp, result, that "
     "phase's log lines, what extensions had received; a PAST bar says which phase"),
    ("`escape`", "live",
     "back to the live state from the past (in a dialog, escape still closes it)"),
    ("`C`", "compare invokes",
     "choose two invokes of the focused environment: their globals diff (old → new, same object or replaced) and /tmp"
     " changes"),
    ("`z`", "timeline scale",
     "bar widths to scale (proportional to durations, each still clickable) or logarithmic (the default); the "
     "timeline's last row says which. The wheel (or shift+wheel) scrolls the timeline through every bar, a click on a"
     ' bar selects it, a click on "◀ N earlier" / "N later ▶" scrolls a view'),
    ("`d` `enter`", "whole value",
     "the focused panel's value whole: the global under the cursor (up/down in Globals) with where the runtime cut "
     "its repr, the result or error with its stack trace and a timeout's stacks, the event; on `/tmp`, the file under"
     " the cursor in a viewer (highlighted by type, hex for binary, 256 KB at a time: enter for the next part)"),
    ("`a`", "API traffic",
     "every Runtime, Extensions and Telemetry API exchange of the focused environment, per participant (←/→), in "
     "order: method, path, status, how long a /next was parked (a waiting one counts), the headers that matter, a "
     "body preview; enter opens one"),
    ("`ctrl+p`", "palette",
     "every command, searchable, theme switching, and a screenshot (saved in the working directory)"),
    ("`ctrl+c`", "copy",
     "copy the text selected with the mouse; it never quits (`q` does, and so does a SIGINT)"),
    ("`ctrl+z`", "stop",
     "stop lambdatui as a shell's Ctrl-Z does: its environments are held (frozen, deadlines stopped) until `fg`"),
    ("`?`", "help",
     "this screen"),
    ("`q`", "quit",
     "shut down as Lambda does, restore the terminal, leave no process behind"),
)
SECTIONS: tuple[tuple[str, str], ...] = (
    ("Boundaries",
     "`init.extensions` → `init.runtime` → `init.function` → `init.done` → (`invoke.start` → `invoke.response` → "
     "`invoke.done`)… → `shutdown.start` → `shutdown.done`. While the debugger holds a boundary, every process is "
     "frozen and the held time does not count against any Lambda deadline. An extension held mid-job (Process "
     "column) is the exception: no clock stops with a process, so its own sleeps and timeouts run on while held. "
     "Holding one environment never stalls the others: an invoke that arrives meanwhile goes to another "
     "environment, cold-starting one if need be."),
    ("The fleet line",
     "`fleet: 3 envs · 2 busy (peak 3) / limit 100 · cold 3 · warm 5 · throttled 1 · queued 0`: environments alive, "
     "those serving an invoke now (and the most at once) against `--concurrency`, invokes that met a cold environment"
     " or a warm one, synchronous invokes refused with 429 at the limit, and Event invokes waiting for an "
     "environment."),
)


KEY_STYLE, COMMAND_STYLE, CODE_STYLE, HEADING_STYLE = "b $accent", "b", "$accent", "b $accent"
GAP = "  "
NARROWEST_TEXT = 24  # below this, the table's third column would be too narrow: each key's text goes under it
STACKED_INDENT = 2


def _styled(text: str) -> Content:
    """A paragraph's `code` and **bold** spans, styled before it is wrapped (so a span may span lines)."""
    parts: list[str | tuple[str, str]] = []
    for piece in re.split(r"(`[^`]+`|\*\*[^*]+\*\*)", text):
        if piece.startswith("`") and piece.endswith("`") and len(piece) > 1:
            parts.append((piece[1:-1], CODE_STYLE))
        elif piece.startswith("**") and piece.endswith("**") and len(piece) > 3:
            parts.append((piece[2:-2], "b"))
        elif piece:
            parts.append(piece)
    return Content.assemble(*parts)


def _plain_keys(keys: str) -> str:
    return keys.replace("`", "")


def _indented(content: Content, indent: int, width: int) -> list[Content]:
    """`content` wrapped to what is left of `width` after `indent` spaces, each line indented."""
    return [Content(" " * indent) + line for line in content.wrap(max(1, width - indent))]


@lru_cache(maxsize=4)
def help_lines(width: int) -> tuple[Content, ...]:
    """The help as lines at most `width` cells wide (the widget is as tall as they are many): the table's
    descriptions wrap under their own column, or, too narrow for that, under their key."""
    width = max(1, width)
    key_width = max(len(_plain_keys(keys)) for keys, _, _ in KEYS)
    command_width = max(len(command) for _, command, _ in KEYS)
    column = key_width + command_width + 2 * len(GAP)
    lines = [*Content.styled(TITLE, HEADING_STYLE).wrap(width), Content(""), *_styled(INTRO).wrap(width),
             Content("")]
    if width - column >= NARROWEST_TEXT:
        lines.append(Content.styled(f"{'key':<{key_width}}{GAP}{'command':<{command_width}}{GAP}what happens", "b"))
        for keys, command, what in KEYS:
            head = Content.assemble((f"{_plain_keys(keys):<{key_width}}", KEY_STYLE), GAP,
                                    (f"{command:<{command_width}}", COMMAND_STYLE), GAP)
            text = _styled(what).wrap(width - column)
            lines += [head + text[0]] + [Content(" " * column) + line for line in text[1:]]
    else:
        indent = STACKED_INDENT if width > 4 * STACKED_INDENT else 0
        for keys, command, what in KEYS:
            lines += Content.assemble((_plain_keys(keys), KEY_STYLE), GAP, (command, COMMAND_STYLE)).wrap(width)
            lines += _indented(_styled(what), indent, width)
    for title, text in SECTIONS:
        lines += [Content(""), *Content.styled(title, HEADING_STYLE).wrap(width), Content(""),
                  *_styled(text).wrap(width)]
    return tuple(lines)


class HelpText(Widget):
    """The help, wrapped to the widget's width: one widget, where Markdown's table made a widget of every cell
    (~300 ms to compose and lay out at the first `?`, the slowest key of a session)."""

    DEFAULT_CSS = "HelpText { height: auto; }"

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(help_lines(width))

    def render(self) -> Content:
        return Content("\n").join(help_lines(self.size.width))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield HelpText()

    def action_close(self) -> None:
        self.dismiss(None)
