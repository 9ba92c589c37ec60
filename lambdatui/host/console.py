"""The headless reporter: every log line on stderr, tagged with its source, as the invoke and serve modes print them."""

from __future__ import annotations

import sys
from typing import TextIO

from lambdatui.model import facts as f

_WIDTH = 10


def tag(source: str) -> str:
    if source.startswith("extension:"):
        return source.split(":", 1)[1]
    return source


def format_line(line: f.LogLine) -> str:
    prefix = f"[{tag(line.source)}]".ljust(_WIDTH + 2)
    # awslambdaric joins a traceback with \r so CloudWatch keeps it as one event; a terminal would overwrite it.
    text = line.text.replace("\r", "\n" + " " * len(prefix))
    return f"{prefix} {text}"


class ConsoleReporter:
    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream

    def __call__(self, fact: f.Fact) -> None:
        if isinstance(fact, f.LogLine):
            self.stream.write(format_line(fact) + "\n")
            self.stream.flush()
