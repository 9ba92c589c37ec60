"""Log lines: the platform's, the function's, the extensions' and lambdatui's own output, one line or a read's burst."""

from __future__ import annotations

from dataclasses import dataclass
from collections import deque
from typing import Callable, Container, Iterable, Iterator, Optional, Sequence

PLATFORM = "platform"
FUNCTION = "function"
LAMBDATUI = "lambdatui"  # our own explanations, never something Lambda would print


def extension_source(name: str) -> str:
    return f"extension:{name}"


@dataclass(frozen=True)
class LogLine:
    """One line of output: a platform line (START, REPORT...), the function's or an extension's output."""

    source: str  # PLATFORM, FUNCTION, LAMBDATUI or extension_source(name)
    text: str
    request_id: Optional[str] = None
    stream: str = "stdout"


def read_lines(source: str, texts: Iterable[str], request_id: Optional[str], stream: str) -> tuple[LogLine, ...]:
    """`LogLine(source, text, request_id, stream)` for each text, equal to those, made without the frozen
    __init__'s one `object.__setattr__` a field: a third of the cost, for the 100,000 lines of a burst."""
    new, set_dict = object.__new__, object.__setattr__
    shared = {"source": source, "request_id": request_id, "stream": stream}
    lines = []
    for text in texts:
        line = new(LogLine)
        fields = shared.copy()
        fields["text"] = text
        set_dict(line, "__dict__", fields)
        lines.append(line)
    return tuple(lines)


class LogLines:
    """The lines one read of a process's pipe held, in order: a burst of output crosses the host a read at a time,
    not a line at a time (platform and lambdatui lines stay single `LogLine`s).

    A read's lines share whose they are (`read`): they are kept as texts, and become `LogLine`s only when asked for,
    once (`lines`, or only the newest of them: `newest`). Of a 100,000-line burst the console writes the texts and
    the debugger keeps the newest 5,000: the 100,000 objects cost ~40 ms that nobody needed. Lines that do not share
    (Managed Instances' concurrent invokes: each line's own request id) are given as `LogLine`s."""

    __slots__ = ("source", "texts", "request_id", "stream", "_made")

    def __init__(self, lines: tuple[LogLine, ...]) -> None:
        self.source: Optional[str] = None  # None: each line says (as do request_id and stream)
        self.request_id: Optional[str] = None
        self.stream: Optional[str] = None
        self.texts = tuple(line.text for line in lines)
        self._made = lines  # the newest lines made so far (all of them here)

    @classmethod
    def read(cls, source: str, texts: tuple[str, ...], request_id: Optional[str], stream: str) -> LogLines:
        """A read's lines, all of `source`, `request_id` and `stream`: made into `LogLine`s when asked for."""
        read = cls.__new__(cls)
        read.source, read.texts, read.request_id, read.stream = source, texts, request_id, stream
        read._made = ()
        return read

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def lines(self) -> tuple[LogLine, ...]:
        return self.newest(len(self.texts))

    def newest(self, count: int) -> tuple[LogLine, ...]:
        """The last `count` lines; each line is one object however often it is asked for (the log pane tells the
        lines it has taken in by identity)."""
        made = self._made
        missing = min(count, len(self.texts)) - len(made)
        if missing > 0:
            assert self.source is not None and self.stream is not None  # given as lines: all of them are made
            end = len(self.texts) - len(made)
            made = read_lines(self.source, self.texts[end - missing:end], self.request_id, self.stream) + made
            self._made = made
        return made[len(made) - count:] if count < len(made) else made

    def made(self) -> tuple[LogLine, ...]:
        """The newest lines made so far (given as lines: all of them)."""
        return self._made

    def __eq__(self, other: object) -> bool:
        return type(other) is LogLines and self.lines == other.lines

    def __hash__(self) -> int:
        return hash(self.lines)

    def __repr__(self) -> str:
        return f"LogLines({self.lines!r})"


def log_lines(fact: object) -> tuple[LogLine, ...]:
    """The log lines a fact carries: its own, a read's, or none."""
    kind = type(fact)
    if kind is LogLine:
        return (fact,)  # type: ignore[return-value]
    if kind is LogLines:
        return fact.lines  # type: ignore[attr-defined, no-any-return]
    return ()


class KeptLines:
    """The newest `limit` log lines, kept as they came (single lines and reads): a read's become `LogLine`s when
    the kept lines are looked at, and a read pushed out before that never does."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pieces: deque[LogLine | LogLines] = deque()
        self._count = 0  # lines in the pieces, the oldest piece's pushed-out ones included

    def add(self, fact: LogLine | LogLines) -> None:
        self._pieces.append(fact)
        self._count += len(fact) if type(fact) is LogLines else 1  # type: ignore[arg-type]
        pieces = self._pieces
        while len(pieces) > 1:
            oldest = len(pieces[0]) if type(pieces[0]) is LogLines else 1  # type: ignore[arg-type]
            if self._count - oldest < self.limit:
                break
            pieces.popleft()
            self._count -= oldest

    def __len__(self) -> int:
        return min(self._count, self.limit)

    def __iter__(self) -> Iterator[LogLine]:
        skip = self._count - self.limit  # the oldest piece's lines pushed out already
        for piece in self._pieces:
            if type(piece) is LogLine:
                if skip > 0:
                    skip -= 1
                    continue
                yield piece  # type: ignore[misc]
                continue
            size = len(piece)  # type: ignore[arg-type]
            if skip >= size:
                skip -= size
                continue
            yield from piece.newest(size - max(skip, 0))  # type: ignore[union-attr]
            skip = 0


def newest_lines(pieces: Sequence[LogLine | LogLines],
                 keep: int) -> tuple[list[LogLine], list[tuple[LogLine | LogLines, int]]]:
    """The newest `keep` lines of `pieces` (in order), and the older ones: each piece they are in, with how many of
    its first lines are older. Only the newest are made into `LogLine`s."""
    chunks: list[tuple[LogLine, ...]] = []
    room, index = keep, len(pieces)
    while index > 0 and room > 0:
        index -= 1
        piece = pieces[index]
        size = len(piece) if type(piece) is LogLines else 1  # type: ignore[arg-type]
        chunks.append(piece.newest(room) if type(piece) is LogLines else (piece,))  # type: ignore[union-attr]
        if size > room:
            older = [(piece, size - room)]
            room = 0
            break
        room -= size
    else:
        older = []
    older[:0] = [(piece, len(piece) if type(piece) is LogLines else 1)  # type: ignore[arg-type]
                 for piece in pieces[:index]]
    return [line for chunk in reversed(chunks) for line in chunk], older


def unseen_lines(older: list[tuple[LogLine | LogLines, int]], seen: Container[int],
                 shown: Optional[Callable[[str, Optional[str]], bool]]) -> tuple[int, int]:
    """Of the older lines `newest_lines` gives, how many are not among `seen` (ids of lines taken in before), and
    how many of those `shown` (a filter on source and request id, when given) shows. A read's lines never made
    were never taken in: they are counted, not made."""
    unseen, matched = 0, 0
    for piece, count in older:
        if type(piece) is LogLines and piece.source is not None:
            made = piece.made()
            unmade = len(piece) - len(made)
            new = min(count, unmade) + sum(1 for line in made[:max(0, count - unmade)] if id(line) not in seen)
            unseen += new
            if shown is not None and shown(piece.source, piece.request_id):
                matched += new
            continue
        for line in piece.lines[:count] if type(piece) is LogLines else (piece,):  # type: ignore[union-attr]
            if id(line) not in seen:
                unseen += 1
                if shown is not None and shown(line.source, line.request_id):  # type: ignore[union-attr]
                    matched += 1
    return unseen, matched
