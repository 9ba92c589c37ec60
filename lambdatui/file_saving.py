"""Provides what the debugger writes to disk at the user's request: the visible log lines, and an edited event
saved into the function's `events/` folder. Plain functions (no Textual): the UI calls them from a worker thread,
so a slow or full disk never blocks the screen, and reports the `OSError` they raise.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Iterable, Optional

EVENTS_FOLDER = "events"  # as lambdatui.ui.event_templates reads it
_EVENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]*")
_MAX_NAME = 120


def default_log_name(now: Optional[datetime] = None) -> str:
    """`lambdatui-logs-20261201-051500.txt`: sorts by time, no characters a shell or a file system minds."""
    return f"lambdatui-logs-{(now or datetime.now()).strftime('%Y%m%d-%H%M%S')}.txt"


def write_log_file(name: str, lines: Iterable[str], *, directory: Optional[Path] = None) -> Path:
    """Write the lines (one a line, a newline after each) to `name`, relative to `directory` (default: the working
    directory, where the user ran lambdatui). Returns the absolute path; raises OSError (ValueError for no name)."""
    if not name.strip():
        raise ValueError("no file name")
    path = Path(os.path.expanduser(name.strip()))
    if not path.is_absolute():
        path = (directory or Path.cwd()) / path
    with open(path, "w", encoding="utf-8", errors="replace", newline="\n") as out:
        for line in lines:
            out.write(line)
            out.write("\n")
    return path.resolve()


def event_file_name(name: str) -> str:
    """The file name for an event saved as `name`: `.json` added if missing. Raises ValueError, saying why, for a
    name that is not a plain file name (a path, a leading dot or dash, characters other than letters, digits,
    space, `.`, `_` and `-`)."""
    name = name.strip()
    if not name:
        raise ValueError("give the event a name")
    if "/" in name or "\\" in name:
        raise ValueError("a name, not a path: the event goes into the events/ folder")
    if name.lower().endswith(".json"):
        name = name[: -len(".json")]
    if not _EVENT_NAME.fullmatch(name) or len(name) > _MAX_NAME:
        raise ValueError(f"{name!r} is not a valid name: use letters, digits, space, '.', '_' and '-', "
                         "starting with a letter or digit")
    return f"{name}.json"


def event_path(code_dir: Path, name: str) -> Path:
    """Where an event saved as `name` goes (raises ValueError for a bad name, see `event_file_name`)."""
    return Path(code_dir) / EVENTS_FOLDER / event_file_name(name)


def save_event(code_dir: Path, name: str, text: str, *, overwrite: bool = False) -> Path:
    """Write the event into `code_dir/events/<name>.json` (the folder made if need be). Raises FileExistsError if
    the file exists and `overwrite` is False, ValueError for a bad name, OSError if it cannot be written."""
    path = event_path(code_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w" if overwrite else "x", encoding="utf-8") as out:
        out.write(text if text.endswith("\n") else text + "\n")
    return path
