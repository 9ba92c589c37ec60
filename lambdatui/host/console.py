"""The headless reporter: every log line on stderr, tagged with its source, as the invoke and serve modes print them.

Whatever user code wrote reaches a terminal only through `printable`: one line, no control sequence.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import Optional, Sequence, TextIO

from lambdatui.model import facts as f

_WIDTH = 10


# Bidirectional controls reorder what a terminal shows (a name that reads as something else): shown, not obeyed.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Control characters (but tab), lone surrogates (undecodable bytes), line and paragraph separators.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _escaped(c: str) -> bool:
    return c != "\t" and (unicodedata.category(c) in _ESCAPED_CATEGORIES or c in _BIDI_CONTROLS)


def printable(text: str) -> str:
    """`text` as one terminal line: what user code wrote is shown, never obeyed.

    Control characters other than tab (ESC, CR, LF, NUL, C1 controls such as CSI), undecodable bytes,
    Unicode line separators and bidirectional controls are written as Python escapes (ESC as \\x1b), so no
    escape sequence reaches the terminal and no name or log line can print a line of its own. Everything
    else, accents, CJK, emoji, passes as it is. The one helper for every mode: console, replay, globals.
    """
    if text.isprintable() or ("\t" in text and text.replace("\t", "").isprintable()):  # REPORT lines have tabs
        return text
    return "".join(repr(c)[1:-1] if _escaped(c) else c for c in text)


def tag(source: str) -> str:
    if source.startswith("extension:"):
        return source.split(":", 1)[1]
    return source


def format_line(line: f.LogLine) -> str:
    """The line as printed; a record of several lines is one row per line, each tagged.

    A record of several lines: one the runtime framed on its telemetry log fd (a `logging` record with its
    traceback), or a traceback that awslambdaric joined with \\r on stdout so CloudWatch keeps it as one event (a
    terminal would overwrite it). Every row carries the source's tag, so no part of a line can pass for another
    source's line or for lambdatui's own output, and every other control character is shown escaped.
    """
    return _formatted(_prefix(line.source), line.text)


def formatted_lines(fact: f.Fact) -> Sequence[str]:
    """The log lines `fact` carries (none, one, or a read's), each as `format_line` prints it: a read's from its
    texts, without making a `LogLine` of each."""
    kind = type(fact)  # every fact comes here, ~20 an invoke: most carry no line
    if kind is f.LogLine:
        return (format_line(fact),)  # type: ignore[arg-type]
    if kind is not f.LogLines:
        return ()
    if fact.source is None:  # type: ignore[union-attr]  # lines of their own
        return [format_line(line) for line in fact.lines]  # type: ignore[union-attr]
    prefix = _prefix(fact.source)  # type: ignore[union-attr]
    return [_formatted(prefix, text) for text in fact.texts]  # type: ignore[union-attr]


def _prefix(source: str) -> str:
    prefix = _prefixes.get(source)
    if prefix is None:
        prefix = _prefixes[source] = f"[{printable(tag(source))}]".ljust(_WIDTH + 2) + " "
    return prefix


def _formatted(prefix: str, text: str) -> str:
    if "\r" not in text and "\n" not in text:  # nearly every line: one row
        return prefix + printable(text)
    text = text.rstrip("\r")  # a CRLF line's CR ends it; it starts no empty row
    return "\n".join(prefix + printable(part) for part in _ROW_BREAKS.split(text))


_ROW_BREAKS = re.compile(r"\r\n|\r|\n")


# A few sources (platform, function, lambdatui, each extension), a prefix each: computed once, not per line.
_prefixes: dict[str, str] = {}


_TELEMETRY_TROUBLE = frozenset((f.TelemetryDelivered, f.TelemetryDropped))


class TelemetryTrouble:
    """Telemetry a subscriber's listener did not take, said on the console once each time it starts failing (and once
    when it takes a batch again): the debugger and `replay` show every attempt, the headless modes said nothing, and
    an extension author with a listener on the wrong port had no hint. Retries, every few hundred ms, are not said."""

    def __init__(self) -> None:
        self._failing: set[tuple[int, str]] = set()

    def lines(self, number: int, fact: f.Fact) -> Sequence[str]:
        if type(fact) not in _TELEMETRY_TROUBLE:  # every fact without a log line comes here: nearly all of them
            return ()
        if isinstance(fact, f.TelemetryDelivered):
            key = (number, fact.extension)
            if fact.error is None:
                if key not in self._failing:
                    return ()
                self._failing.discard(key)
                return (self._line(f"Telemetry for extension {fact.extension} is taken by its listener again."),)
            if key in self._failing:
                return ()
            self._failing.add(key)
            return (self._line(f"Telemetry for extension {fact.extension} was not taken by its listener "
                               f"({fact.error}): retried, as Lambda does; said again once it is taken."),)
        if isinstance(fact, f.TelemetryDropped) and not fact.gone:
            return (self._line(f"Telemetry for extension {fact.extension}: {fact.records} records dropped, its "
                               "listener falling behind (platform.logsDropped tells it)."),)
        return ()

    @staticmethod
    def _line(text: str) -> str:
        return format_line(f.LogLine(f.LAMBDATUI, text))


class ConsoleReporter:
    """`code_dir`: where a timed-out handler was is said too (the stack lambdatui dumps at the timeout), relative to
    it; `replay`'s timeline says it in its own way, and gives none."""

    def __init__(self, stream: TextIO = sys.stderr, code_dir: Optional[str] = None) -> None:
        self.stream = stream
        self.code_dir = code_dir
        # A stream that writes whole lines on its own (the headless modes' non-blocking stderr) batches a burst
        # into one write; any other is flushed line by line, so a line is out as soon as it happened.
        self._flush = not getattr(stream, "writes_on_its_own", False)
        self._telemetry = TelemetryTrouble()

    def __call__(self, fact: f.Fact) -> None:
        texts = formatted_lines(fact) or self._telemetry.lines(0, fact) or self._stack_lines(fact)
        if not texts:
            return
        self.stream.write("\n".join(texts) + "\n")  # a read's lines: one write
        if self._flush:
            self.stream.flush()

    def _stack_lines(self, fact: f.Fact) -> Sequence[str]:
        if type(fact) is not f.StacksCaptured or self.code_dir is None:  # nearly every fact: nothing to say
            return ()
        from lambdatui.model.stacks import stack_summary  # as the host's own import of it: only when a dump came

        heading, *frames = stack_summary(fact, self.code_dir)  # type: ignore[arg-type]
        prefix = _prefix(f.LAMBDATUI)
        return [prefix + printable(heading), *(prefix + "  " + printable(frame) for frame in frames)]


class FleetConsoleReporter(ConsoleReporter):
    """`serve`'s reporter, where several environments run at once: each line starts with its environment's
    number (`#2 [platform]   START ...`), as each writes its own log stream in CloudWatch; the fleet's own lines
    (number 0) have none."""

    def __call__(self, number: int, fact: f.Fact) -> None:  # type: ignore[override]
        # A burst's read: its lines in one write.
        texts = formatted_lines(fact) or self._telemetry.lines(number, fact) or self._stack_lines(fact)
        if not texts:
            return
        if number:
            prefix = _numbers.get(number) or _numbers.setdefault(number, f"#{number} ")
            texts = [prefix + (text.replace("\n", "\n" + prefix) if "\n" in text else text) for text in texts]
        self.stream.write("\n".join(texts) + "\n")
        if self._flush:
            self.stream.flush()


_numbers: dict[int, str] = {}  # "#2 " once per environment, not once per line
