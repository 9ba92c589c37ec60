"""Log lines: the platform's, the function's, the extensions' and lambdatui's own output, one line or a read's burst."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

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


def read_lines(source: str, texts: list[str], request_id: Optional[str], stream: str) -> tuple[LogLine, ...]:
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


@dataclass(frozen=True)
class LogLines:
    """The lines one read of a process's pipe held, in order: a burst of output crosses the host a read at a time,
    not a line at a time (platform and lambdatui lines stay single `LogLine`s)."""

    lines: tuple[LogLine, ...]


def log_lines(fact: object) -> tuple[LogLine, ...]:
    """The log lines a fact carries: its own, a read's, or none."""
    kind = type(fact)
    if kind is LogLine:
        return (fact,)  # type: ignore[return-value]
    if kind is LogLines:
        return fact.lines  # type: ignore[attr-defined, no-any-return]
    return ()
