"""Provides `EventPanel`: the event the next invoke sends, highlighted, with where it came from.

The screen sets `event_text` and `source` (attributes down); the panel re-highlights and re-validates
on each change, so a typo in an edited event shows as "line 3:7 Expecting ',' delimiter" before it
is sent. Huge events (up to Lambda's 6 MB) are validated whole but only their head is highlighted.
"""

from __future__ import annotations

import json
from typing import NamedTuple, Optional

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from lambdatui.json_text import check_json
from lambdatui.lambda_limits import event_size_problem
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.widgets._format import clip, head_lines, one_line, short_id
from lambdatui.ui.widgets._theme import syntax_theme

class EventProblem(NamedTuple):
    """Why Lambda's front end would refuse the event: `syntax`, not JSON at all (`message` "line:col message");
    else JSON it refuses all the same (NaN or Infinity, more than 6 MiB, nested past 10,000 levels)."""

    message: str
    syntax: bool


def event_problem(text: str) -> Optional[EventProblem]:
    """None for an event Lambda's front end takes: the debugger sends no event that `-e`, `serve` or a replay of its
    recording would refuse."""
    problem = event_size_problem(len(text.encode("utf-8", "surrogatepass")))
    if problem is not None:
        return EventProblem(problem, syntax=False)
    try:
        check_json(text)
    except json.JSONDecodeError as exc:
        return EventProblem(f"{exc.lineno}:{exc.colno} {exc.msg}", syntax=True)
    except ValueError as exc:  # valid to Python's parser, not to Lambda's: NaN, Infinity, nested past 10,000 levels
        return EventProblem(str(exc), syntax=False)
    return None


class EventPanel(Vertical):
    """The current event JSON (pygments), its name or template, and an inline validation error."""

    DEFAULT_CSS = """
    EventPanel {
        height: 1fr;
    }
    EventPanel > #event-title {
        height: 1;
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    EventPanel > VerticalScroll {
        height: 1fr;
        padding: 0 1;
    }
    EventPanel > #event-error {
        height: auto;
        max-height: 2;
        padding: 0 1;
        color: $text-error;
        display: none;
    }
    EventPanel.-invalid > #event-error {
        display: block;
    }
    """
    """A one-line title, the scrollable JSON, and the error line only while the text is invalid."""

    event_text: reactive[str] = reactive("{}", init=False)
    """The event exactly as it will be sent."""

    source: reactive[str] = reactive("", init=False)
    """Where the event came from: "events/order.json", "template: S3 put", "edited"."""

    def __init__(self, event_text: str = "{}", source: str = "", *, name: Optional[str] = None,
                 id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.set_reactive(EventPanel.event_text, event_text)
        self.set_reactive(EventPanel.source, source)
        self.error: Optional[EventProblem] = None
        """The validation error shown ("line:col message"), or None while the text is valid JSON."""
        self._request: Optional[str] = None
        self._ready = False  # children exist (is_mounted turns True only after on_mount)

    def compose(self) -> ComposeResult:
        yield Static(id="event-title")
        with VerticalScroll():
            yield Static(id="event-json")
        yield Static(id="event-error")

    def on_mount(self) -> None:
        self._ready = True
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._render_event())
        self._render_event()

    def show(self, snapshot: DebuggerSnapshot) -> None:
        """Say which request is handling the event right now (the event itself comes from the screen)."""
        env = snapshot.environment
        request = env.current_request_id or (env.queued[0] if env.queued else None)
        if request != self._request:
            self._request = request
            if self._ready:
                self._render_title()

    def set_event(self, event_text: str, source: str) -> None:
        """Set both attributes at once (one redraw for the pair)."""
        self.set_reactive(EventPanel.source, source)
        self.event_text = event_text
        if self._ready:
            self._render_event()  # also when the text is unchanged but the source is new

    def watch_event_text(self) -> None:
        self._render_event()

    def watch_source(self) -> None:
        if self._ready:
            self._render_title()

    # ------------------------------------------------------------------ drawing

    def _render_event(self) -> None:
        self.error = event_problem(self.event_text)
        self.set_class(self.error is not None, "-invalid")
        if not self._ready:
            return
        self._render_title()
        syntax = Syntax(head_lines(self.event_text), "json", theme=syntax_theme(self), background_color="default",
                        word_wrap=False)
        self.query_one("#event-json", Static).update(syntax)
        message: Content | str = ""
        if self.error is not None and self.error.syntax:
            message = Content.assemble(("invalid JSON ", "bold"), f"at line {self.error.message}")
        elif self.error is not None:
            message = Content.assemble(("Lambda refuses it: ", "bold"), self.error.message)
        self.query_one("#event-error", Static).update(message)

    def _render_title(self) -> None:
        parts: list[tuple[str, str] | str] = [("Event", "bold")]
        if self.source:
            parts += [("  ", ""), (clip(one_line(self.source), 60), "$text-primary")]
        parts.append((f"  {len(self.event_text.encode()):,} bytes", "dim"))
        if self._request:
            parts.append((f"  · request {short_id(self._request)}", "dim"))
        self.query_one("#event-title", Static).update(Content.assemble(*parts))
