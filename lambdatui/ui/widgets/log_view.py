"""Provides `LogView`: function, extension, platform and lambdatui lines, filterable by source.

However much the function prints, memory stays bounded (`max_lines` rows, oldest dropped) and an
append costs only the lines added: rows are drawn lazily on the line API (`LogLines`). The filter row
on top is clickable; the screen may bind a key to `cycle_filter`. Lines arrive either as facts
(`add_lines`) or in snapshots (`show`); the same line object is never added twice, so a screen may
use both paths. `restart` replaces them all (another environment's log).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from rich.style import Style
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Click
from textual.message import Message
from textual.widgets import Static

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.debug_state import MAX_LOG_LINES
from lambdatui.model.facts import FUNCTION, LAMBDATUI, PLATFORM, LogLine
from lambdatui.ui.widgets._log_lines import LogLines
from lambdatui.ui.widgets._theme import theme_color

DEFAULT_MAX_LINES = 5000
EXTENSIONS = "extension:*"  # in a filter: every extension's lines
_EXTENSION_ALIASES = frozenset({EXTENSIONS, "extensions", "extension"})  # what a caller may also write
PRESETS: dict[str, Optional[frozenset[str]]] = {
    "all": None,
    "platform": frozenset({PLATFORM, LAMBDATUI}),
    "function": frozenset({FUNCTION}),
    "extensions": frozenset({EXTENSIONS}),
}


def source_matcher(sources: Optional[frozenset[str]]) -> Callable[[str], bool]:
    """A predicate over LogLine.source; an entry ending in "*" matches by prefix, "extensions" every extension."""
    if sources is None:
        return lambda source: True
    wanted = {EXTENSIONS if s in _EXTENSION_ALIASES else s for s in sources}
    exact = {s for s in wanted if not s.endswith("*")}
    prefixes = tuple(s[:-1] for s in wanted if s.endswith("*"))
    return lambda source: source in exact or (bool(prefixes) and source.startswith(prefixes))


class LogView(Vertical):
    """The log pane: a one-row filter bar over the bounded, lazily drawn lines."""

    DEFAULT_CSS = """
    LogView {
        height: 1fr;
    }
    LogView > #log-filters {
        height: 1;
        background: $panel;
    }
    LogView > #log-filters > .log-filter {
        width: auto;
        padding: 0 1;
        color: $text-muted;
    }
    LogView > #log-filters > .log-filter:hover {
        background: $boost;
    }
    LogView > #log-filters > .log-filter.-active {
        color: $text;
        background: $primary-muted;
        text-style: bold;
    }
    LogView > #log-filters > #log-count {
        width: 1fr;
        content-align: right middle;
        padding: 0 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """
    """The filter bar is one row; the lines take the rest."""

    @dataclass
    class FilterChanged(Message):
        """The user picked another filter (by clicking it or through `cycle_filter`)."""

        log_view: "LogView"
        preset: Optional[str]
        sources: Optional[frozenset[str]]

        @property
        def control(self) -> "LogView":
            return self.log_view

    def __init__(self, max_lines: int = DEFAULT_MAX_LINES, *, name: Optional[str] = None, id: Optional[str] = None,
                 classes: Optional[str] = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self._lines = LogLines(max_lines, self._row_styles, id="log-lines")
        self._sources: Optional[frozenset[str]] = None
        self._styles: Optional[dict[str, Style]] = None
        # Lines already taken in, by identity (references kept so ids are not reused), bounded too.
        self._seen: deque[LogLine] = deque()
        self._seen_ids: set[int] = set()
        self._seen_cap = max(max_lines, MAX_LOG_LINES)
        self._ready = False  # children exist (is_mounted turns True only after on_mount)

    def compose(self) -> ComposeResult:
        with Horizontal(id="log-filters"):
            for preset in PRESETS:
                yield Static(preset, id=f"log-filter-{preset}", classes="log-filter")
            yield Static("", id="log-count")
        yield self._lines

    def on_mount(self) -> None:
        self._ready = True
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self._update_bar()

    # ------------------------------------------------------------------ public API

    @property
    def filter(self) -> Optional[frozenset[str]]:
        """The sources shown (None: all)."""
        return self._sources

    @property
    def preset(self) -> Optional[str]:
        """The name of the current filter if it is one of PRESETS, else None."""
        return next((name for name, sources in PRESETS.items() if sources == self._sources), None)

    @property
    def line_count(self) -> int:
        """Rows kept (at most `max_lines`)."""
        return self._lines.row_count

    @property
    def visible_count(self) -> int:
        """Rows the filter lets through."""
        return self._lines.shown_count

    @property
    def dropped(self) -> int:
        return self._lines.dropped

    def visible_lines(self) -> list[str]:
        """The text of every row the filter lets through, oldest first."""
        return self._lines.shown_texts()

    def add_lines(self, lines: Iterable[LogLine]) -> None:
        """Append lines (O(lines added)); a line object already taken in is skipped. Of a batch longer than the
        pane keeps, only the newest are made into rows: the others would be dropped at once (they are counted)."""
        batch = lines if isinstance(lines, list) else list(lines)
        keep = self._lines.max_lines
        if len(batch) > keep:
            seen = self._seen_ids
            self._lines.dropped += sum(1 for line in batch[:-keep] if id(line) not in seen)
            batch = batch[-keep:]
        fresh = [line for line in batch if self._remember(line)]
        if fresh:
            self._lines.append(fresh)
            self._update_bar()

    def restart(self, lines: Iterable[LogLine]) -> None:
        """Show only these lines from now on (the focus moved to another environment: its log replaces this one)."""
        self._seen.clear()
        self._seen_ids.clear()
        self._lines.clear()
        self.add_lines(lines)
        self._update_bar()

    def show(self, snapshot: DebuggerSnapshot) -> None:
        """Take in the snapshot's lines not seen yet (scanning back only to the last one seen)."""
        logs = snapshot.logs
        start = len(logs)
        while start > 0 and id(logs[start - 1]) not in self._seen_ids:
            start -= 1
        if start < len(logs):
            self.add_lines(logs[start:])

    def set_filter(self, sources: Optional[set[str] | frozenset[str]]) -> None:
        """Show only these sources (LogLine.source values; "extension:*" or "extensions" for every
        extension; a trailing "*" matches by prefix); None: all."""
        self._sources = frozenset(EXTENSIONS if s in _EXTENSION_ALIASES else s for s in sources) \
            if sources is not None else None
        self._lines.set_match(source_matcher(self._sources))
        self._update_bar()

    def cycle_filter(self) -> None:
        """all → platform → function → extensions → all (for a key binding the screen owns)."""
        names = list(PRESETS)
        current = self.preset
        following = names[(names.index(current) + 1) % len(names)] if current in names else "all"
        self._choose(following)

    # ------------------------------------------------------------------ internals

    def _remember(self, line: LogLine) -> bool:
        if id(line) in self._seen_ids:
            return False
        if len(self._seen) >= self._seen_cap:
            self._seen_ids.discard(id(self._seen.popleft()))
        self._seen.append(line)
        self._seen_ids.add(id(line))
        return True

    def _choose(self, preset: str) -> None:
        self.set_filter(PRESETS[preset])
        self.post_message(self.FilterChanged(self, preset, self._sources))

    @on(Click, ".log-filter")
    def _filter_clicked(self, event: Click) -> None:
        widget = event.widget
        if widget is not None and widget.id:
            self._choose(widget.id.removeprefix("log-filter-"))

    def _update_bar(self) -> None:
        if not self._ready:
            return
        current = self.preset
        for preset in PRESETS:
            self.query_one(f"#log-filter-{preset}").set_class(preset == current, "-active")
        shown, kept = self.visible_count, self.line_count
        text = f"{shown:,} of {kept:,} lines" if shown != kept else f"{kept:,} lines"
        if self.dropped:
            text += f" · {self.dropped:,} oldest dropped"
        self.query_one("#log-count", Static).update(text)

    def _theme_changed(self, _theme: object) -> None:
        self._styles = None
        self._lines.restyle()

    def _row_styles(self) -> dict[str, Style]:
        if self._styles is None:
            color = lambda name, fallback="default": Style(color=theme_color(self, name, fallback))  # noqa: E731
            self._styles = {
                PLATFORM: color("accent"),
                FUNCTION: color("text-primary"),
                LAMBDATUI: color("text-warning") + Style(italic=True),
                "extension": color("phase-init"),
                "lambdatui-text": Style(italic=True, dim=True),
                "init": color("phase-init"),
                "invoke": color("phase-invoke"),
                "error": color("phase-error") + Style(bold=True),
                "stderr": color("text-warning"),
            }
        return self._styles
