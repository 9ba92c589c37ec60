"""Provides `LogView`: function, extension, platform and lambdatui lines, filterable by source.

However much the function prints, memory stays bounded (`max_lines` rows, oldest dropped) and an
append costs only the lines added: rows are drawn lazily on the line API (`LogLines`). The filter row
on top is clickable; the screen may bind a key to `cycle_filter`. Lines arrive either as facts
(`add_lines`) or in snapshots (`show`); the same line object is never added twice, so a screen may
use both paths. `restart` replaces them all (another environment's log).

A search bar (hidden until `open_search`) highlights a query's matches as it is typed; enter / shift+enter and
F3 / shift+F3 move between them, escape closes it. `toggle_wrap` and `toggle_pause` change how rows are laid out
and whether the end is followed. A `LogFilter` (source and request id) says what is shown; the border title says
which filter is on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Iterable, Optional

from rich.style import Style
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Click
from textual.message import Message
from textual.widgets import Input, Static

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.debug_state import MAX_LOG_LINES
from lambdatui.model import facts as f
from lambdatui.model.facts import FUNCTION, LAMBDATUI, PLATFORM, LogLine
from lambdatui.model.log_search import EXTENSIONS, LogFilter, normalise_sources
from lambdatui.model.log_search import SearchIndex
from lambdatui.ui.widgets._search_input import SearchInput
from lambdatui.ui.widgets._log_lines import LogLines
from lambdatui.ui.widgets._log_rows import row_styles
from lambdatui.ui.widgets._theme import theme_color

DEFAULT_MAX_LINES = 5000
PRESETS: dict[str, Optional[frozenset[str]]] = {
    "all": None,
    "platform": frozenset({PLATFORM, LAMBDATUI}),
    "function": frozenset({FUNCTION}),
    "extensions": frozenset({EXTENSIONS}),
}


__all__ = ["EXTENSIONS", "PRESETS", "LogView"]


class LogView(Vertical):
    """The log pane: a one-row filter bar over the bounded, lazily drawn lines, and a search bar when searching."""

    BINDINGS = [
        Binding("shift+enter,shift+f3", "previous_match", "Previous match", show=False),
        Binding("f3", "next_match", "Next match", show=False),
        Binding("escape", "close_search", "Close the search", show=False),
    ]
    """| key | |
    | --- | --- |
    | F3 (enter or down in the search bar) | next match |
    | shift+F3, shift+enter (up in the search bar: every terminal sends it) | previous match |
    | escape | close the search (only while it is open) |
    """

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
    LogView > #log-search {
        height: 1;
        display: none;
        background: $panel;
    }
    LogView > #log-search.-open {
        display: block;
    }
    LogView > #log-search > Input {
        width: 1fr;
        height: 1;
        border: none;
        padding: 0 1;
    }
    LogView > #log-search > #log-search-count {
        width: auto;
        min-width: 10;
        padding: 0 1;
        color: $text-muted;
    }
    """
    """The filter bar is one row, the search bar (when open) one more; the lines take the rest."""

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
        self._filter = LogFilter()
        self._source_name: Optional[str] = None  # the dialog's name for the sources, for the title
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
        with Horizontal(id="log-search"):
            yield SearchInput(placeholder="search the log (enter or down: next, up or shift+enter: previous, "
                              "esc: close)", id="log-search-input", compact=True)
            yield Static("", id="log-search-count")
        yield self._lines

    def on_mount(self) -> None:
        self._ready = True
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self._lines.on_follow_changed = self._update_bar
        self._update_bar()

    # ------------------------------------------------------------------ public API

    @property
    def filter(self) -> Optional[frozenset[str]]:
        """The sources shown (None: all)."""
        return self._filter.sources

    @property
    def log_filter(self) -> LogFilter:
        """The whole filter: sources and request id."""
        return self._filter

    @property
    def preset(self) -> Optional[str]:
        """The name of the current filter if it is one of PRESETS, else None."""
        return next((name for name, sources in PRESETS.items() if sources == self._filter.sources), None)

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

    @property
    def search(self) -> SearchIndex:
        """The current search (query, matches, the current one)."""
        return self._lines.search

    @property
    def searching(self) -> bool:
        return self._ready and self.query_one("#log-search").has_class("-open")

    @property
    def wrapping(self) -> bool:
        return self._lines.wrap

    @property
    def paused(self) -> bool:
        return self._lines.paused

    @property
    def pending(self) -> int:
        """Lines shown since the pause."""
        return self._lines.pending

    def visible_lines(self) -> list[str]:
        """The text of every row the filter lets through, oldest first."""
        return self._lines.shown_texts()

    def request_ids(self) -> list[str]:
        """The request ids of the kept lines, newest first (the invokes this log has seen)."""
        return self._lines.shown_request_ids()

    def chosen_line(self) -> Optional[str]:
        """The line a copy takes: the one clicked, else the current match, else the newest shown; None if empty."""
        row = self._lines.chosen_row()
        return row.text if row is not None else None

    def add_lines(self, lines: Iterable[LogLine | f.LogLines]) -> None:
        """Append lines, or reads' lines (O(lines added)); a line object already taken in is skipped. Of a batch
        longer than the pane keeps, only the newest are made into rows, and a read's older lines never become
        `LogLine`s: they would be dropped at once (they are counted)."""
        batch = lines if isinstance(lines, list) else list(lines)
        newest, older = f.newest_lines(batch, self._lines.max_lines)
        if older:  # dropped as they come: counted (as new too, while paused), but for those taken in before
            dropped, shown = f.unseen_lines(older, self._seen_ids,
                                            None if self._lines.following else self._filter.matcher())
            self._lines.dropped += dropped
            self._lines.pending += shown
        fresh = self._remember_all(newest)
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
        extension; a trailing "*" matches by prefix); None: all. A request filter stays."""
        self.apply_filter(replace(self._filter, sources=normalise_sources(sources)))

    def apply_filter(self, log_filter: LogFilter, source_name: Optional[str] = None) -> None:
        """Show only the lines `log_filter` keeps; `source_name` names its sources in the title."""
        self._filter = replace(log_filter, sources=normalise_sources(log_filter.sources))
        self._source_name = source_name
        self._lines.set_match(self._filter.matcher())
        self._update_bar()

    def forget_foreign_request(self) -> None:
        """Another environment's log is shown: a request id none of its lines has (the last one's invoke) is dropped
        from the filter, which would otherwise show nothing; its sources stay."""
        if self._filter.request_id is not None and self._filter.request_id not in self.request_ids():
            self.apply_filter(replace(self._filter, request_id=None), self._source_name)

    def cycle_filter(self) -> None:
        """all → platform → function → extensions → all (for a key binding the screen owns)."""
        names = list(PRESETS)
        current = self.preset
        following = names[(names.index(current) + 1) % len(names)] if current in names else "all"
        self._choose(following)

    def open_search(self) -> None:
        """Show the search bar and put the cursor in it (the previous query, if any, is kept)."""
        self.query_one("#log-search").add_class("-open")
        self.query_one("#log-search-input", Input).focus()
        self._update_search()

    def close_search(self) -> None:
        """Hide the search bar and its highlights; the lines keep the focus."""
        self.query_one("#log-search").remove_class("-open")
        self.query_one("#log-search-input", Input).value = ""
        self._lines.set_query("")
        self._lines.focus()

    def next_match(self, forward: bool = True) -> Optional[int]:
        seq = self._lines.step_match(forward)
        self._update_search()
        return seq

    def toggle_wrap(self) -> None:
        self._lines.set_wrap(not self._lines.wrap)
        self._update_bar()

    def toggle_pause(self) -> None:
        """Pause following the end; or follow it again, from a pause or from a view scrolled back (by the user, or
        to a search's match), which already does not follow."""
        lines = self._lines
        lines.set_paused(not lines.paused and not lines.scrolled_back)
        self._update_bar()

    # ------------------------------------------------------------------ keys and clicks

    def check_action(self, action: str, parameters: tuple[object, ...]) -> Optional[bool]:
        # Escape belongs to the app (back to live) unless the search is open.
        if action in ("close_search", "next_match", "previous_match"):
            return self.searching
        return True

    def action_close_search(self) -> None:
        self.close_search()

    def action_next_match(self) -> None:
        self.next_match(True)

    def action_previous_match(self) -> None:
        self.next_match(False)

    @on(Input.Changed, "#log-search-input")
    def _query_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._lines.set_query(event.value)
        self._update_search()

    @on(SearchInput.Move)
    def _search_moved(self, event: SearchInput.Move) -> None:
        event.stop()
        (self.action_previous_match if event.backward else self.action_next_match)()

    @on(Input.Submitted, "#log-search-input")
    def _query_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.next_match(True)

    # ------------------------------------------------------------------ internals

    def _remember_all(self, batch: list[LogLine]) -> list[LogLine]:
        """The lines of `batch` not taken in before (each once), now remembered; the oldest remembered are forgotten
        beyond the bound. In bulk: a burst brings thousands a snapshot."""
        seen, seen_ids = self._seen, self._seen_ids
        ids = list(map(id, batch))
        if seen_ids.isdisjoint(ids) and len(dict.fromkeys(ids)) == len(ids):
            fresh = batch  # a burst's: all new, each once
            seen_ids.update(ids)
        else:
            fresh = []
            for line in batch:
                if id(line) not in seen_ids:
                    seen_ids.add(id(line))  # a line twice in one batch is taken once
                    fresh.append(line)
        seen.extend(fresh)
        over = len(seen) - self._seen_cap
        if over > 0:
            seen_ids.difference_update([id(seen.popleft()) for _ in range(over)])
        return fresh

    def _choose(self, preset: str) -> None:
        self.set_filter(PRESETS[preset])
        self.post_message(self.FilterChanged(self, preset, self._filter.sources))

    @on(Click, ".log-filter")
    def _filter_clicked(self, event: Click) -> None:
        widget = event.widget
        if widget is not None and widget.id:
            self._choose(widget.id.removeprefix("log-filter-"))

    def _update_search(self) -> None:
        if self._ready:
            self.query_one("#log-search-count", Static).update(self.search.label())

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
        if self._lines.wrap:
            text += " · wrap"
        if self._lines.paused:
            text += f" · paused: {self.pending:,} new lines" if self.pending else " · paused"
        elif self.pending and self._lines.scrolled_back:  # p (or the end) follows them again
            text += f" · scrolled back: {self.pending:,} new lines below"
        # Its size is the bar's (1fr of one row), whatever it says: no layout of the screen (~10 ms a snapshot in
        # a burst of output, when the count changes with every snapshot).
        self.query_one("#log-count", Static).update(text, layout=False)
        filtered = self._filter.describe(self._source_name if self.preset is None else self.preset)
        self.border_title = f"logs: {filtered}" if filtered else None
        if self.searching:
            self._update_search()

    def _theme_changed(self, _theme: object) -> None:
        self._styles = None
        self._lines.restyle()

    def _row_styles(self) -> dict[str, Style]:
        if self._styles is None:
            self._styles = row_styles(lambda name, fallback="default": Style(color=theme_color(self, name, fallback)))
        return self._styles
