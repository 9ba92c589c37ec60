"""Provides the log's search and filter rules: which rows match a query, where in them, and which rows a filter keeps.

Pure (no Textual, no I/O). `SearchIndex` is incremental, so searching stays cheap however fast lines arrive: the kept
rows are searched once per change of query (or filter), each new row once as it comes, and evicted rows leave
from the front. Rows are named by a `seq` that grows with every row, so the matches stay in order.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from lambdatui.model.facts import FUNCTION, LAMBDATUI, PLATFORM

EXTENSIONS = "extension:*"  # in a filter: every extension's lines
_EXTENSION_ALIASES = frozenset({EXTENSIONS, "extensions", "extension"})  # what a caller may also write

SOURCE_CHOICES: dict[str, Optional[frozenset[str]]] = {
    "all": None,
    "platform": frozenset({PLATFORM}),
    "function": frozenset({FUNCTION}),
    "extensions": frozenset({EXTENSIONS}),
    "lambdatui": frozenset({LAMBDATUI}),
}
"""The sources the filter dialog offers, by name (`l` cycles the panel's own presets)."""


def normalise_sources(sources: Optional[Iterable[str]]) -> Optional[frozenset[str]]:
    """"extensions" and "extension" mean every extension ("extension:*"); None stays None (all sources)."""
    if sources is None:
        return None
    return frozenset(EXTENSIONS if s in _EXTENSION_ALIASES else s for s in sources)


def source_matcher(sources: Optional[frozenset[str]]) -> Callable[[str], bool]:
    """A predicate over LogLine.source; an entry ending in "*" matches by prefix, "extensions" every extension."""
    wanted = normalise_sources(sources)
    if wanted is None:
        return lambda source: True
    exact = {s for s in wanted if not s.endswith("*")}
    prefixes = tuple(s[:-1] for s in wanted if s.endswith("*"))
    return lambda source: source in exact or (bool(prefixes) and source.startswith(prefixes))


@dataclass(frozen=True)
class LogFilter:
    """Which rows the log shows: by source (None: all) and by request id (None: any)."""

    sources: Optional[frozenset[str]] = None
    request_id: Optional[str] = None

    def matcher(self) -> Callable[[str, Optional[str]], bool]:
        """A predicate over (source, request id); a request filter keeps only that request's lines."""
        by_source = source_matcher(self.sources)
        wanted = self.request_id
        if wanted is None:
            return lambda source, request_id: by_source(source)
        return lambda source, request_id: request_id == wanted and by_source(source)

    def describe(self, source_name: Optional[str] = None) -> str:
        """What the panel's title says: "" when everything shows, else e.g. "function · request 7f3a…"."""
        parts = []
        if self.sources is not None:
            parts.append(source_name or ", ".join(sorted(self.sources)))
        if self.request_id is not None:
            parts.append(f"request {short_id(self.request_id)}")
        return " · ".join(parts)


def short_id(request_id: str, keep: int = 8) -> str:
    """A request id cut for a title (the whole one is in the dialog and in the lines)."""
    return request_id if len(request_id) <= keep + 1 else request_id[:keep] + "…"


def smart_case(query: str) -> bool:
    """Case matters only when the query has a capital letter (as in vim's smartcase, less's -i)."""
    return query != query.lower()


def match_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Where `query` occurs in `text` (non-overlapping, left to right), as (start, end) character offsets."""
    if not query:
        return []
    haystack, needle = (text, query) if smart_case(query) else (text.lower(), query.lower())
    spans = []
    start = haystack.find(needle)
    while start >= 0:
        spans.append((start, start + len(needle)))
        start = haystack.find(needle, start + len(needle))
    return spans


class SearchIndex:
    """The rows matching a query, in order, and which of them is current (the one next / previous moves to)."""

    def __init__(self) -> None:
        self.query = ""
        self._needle = ""
        self._fold = True
        self._seqs: list[int] = []  # matching rows' seqs, ascending; _seqs[_head:] are kept
        self._head = 0
        self._current: Optional[int] = None  # index into _seqs

    # ------------------------------------------------------------------ reading

    @property
    def count(self) -> int:
        return len(self._seqs) - self._head

    @property
    def current(self) -> Optional[int]:
        """The seq of the current match, or None."""
        return self._seqs[self._current] if self._current is not None else None

    @property
    def position(self) -> int:
        """1-based position of the current match among the kept ones (0: none)."""
        return self._current - self._head + 1 if self._current is not None else 0

    def label(self) -> str:
        """"3/17", "0/17" before a match is chosen, "no match" for none; "" with no query."""
        if not self.query:
            return ""
        if not self.count:
            return "no match"
        return f"{self.position}/{self.count}"

    def matches(self, text: str) -> bool:
        return bool(self._needle) and self._needle in (text.lower() if self._fold else text)

    def seqs(self) -> list[int]:
        return self._seqs[self._head:]

    # ------------------------------------------------------------------ writing

    def search(self, query: str, rows: Iterable[tuple[int, str]]) -> None:
        """A new query (or a new set of rows, the filter changed): search every kept row once. The current
        match becomes the last one (the newest: a log is read from its end)."""
        self.query = query
        self._fold = not smart_case(query)
        self._needle = query.lower() if self._fold else query
        self._seqs = [seq for seq, text in rows if self.matches(text)] if query else []
        self._head = 0
        self._current = len(self._seqs) - 1 if self._seqs else None

    def extend(self, rows: Iterable[tuple[int, str]]) -> int:
        """New rows arrived (seqs larger than any before): O(rows), each searched once. Returns matches added.
        The current match stays where it is: the reader is looking at it."""
        if not self._needle:
            return 0
        before = len(self._seqs)
        self._seqs.extend(seq for seq, text in rows if self.matches(text))
        if self._current is None and len(self._seqs) > before:
            self._current = len(self._seqs) - 1
        return len(self._seqs) - before

    def drop_before(self, oldest: int) -> None:
        """Rows older than seq `oldest` were evicted: their matches go (amortised O(1) per match)."""
        gone = bisect_left(self._seqs, oldest, self._head)
        if gone == self._head:
            return
        self._head = gone
        if self._current is not None and self._current < self._head:
            self._current = self._head if self._head < len(self._seqs) else None
        if self._head >= 1024 and self._head * 2 >= len(self._seqs):
            shift = self._head
            del self._seqs[:shift]
            self._head = 0
            if self._current is not None:
                self._current -= shift

    def step(self, forward: bool) -> Optional[int]:
        """Move to the next (or previous) match, wrapping around; returns its seq."""
        if not self.count:
            return None
        if self._current is None:
            self._current = self._head if forward else len(self._seqs) - 1
        elif forward:
            self._current = self._current + 1 if self._current + 1 < len(self._seqs) else self._head
        else:
            self._current = self._current - 1 if self._current > self._head else len(self._seqs) - 1
        return self.current

    def nearest(self, seq: int) -> Optional[int]:
        """Make current the last match at or before `seq` (the first one if none is): where a reader is."""
        if not self.count:
            return None
        index = bisect_right(self._seqs, seq, self._head) - 1
        self._current = max(index, self._head)
        return self.current
