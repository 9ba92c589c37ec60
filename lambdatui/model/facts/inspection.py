"""What the debugger inspects: the handler's globals and threads, the environment's /tmp and a hung handler's stacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class GlobalEntry:
    """One global of the handler module, as our bootstrap reported it, and how it changed since the last report."""

    name: str
    type: str
    repr: str  # bounded to 200 characters by the bootstrap
    identity: int
    kind: str  # "state", "module", "dunder", "function", "class", "import"
    change: str  # "new", "changed" (same object, new value), "replaced" (another object), "same"
    # A fingerprint of a plain container's whole content ("" when none was taken): an in-place change past the
    # repr's cut leaves the repr as it was, not this.
    digest: str = ""


@dataclass(frozen=True)
class ThreadEntry:
    """One live Python thread of the runtime's process (threading.enumerate), in a `GlobalsReported`."""

    name: str
    ident: Optional[int]
    daemon: bool
    alive: bool


@dataclass(frozen=True)
class GlobalsReported:
    """The handler module's globals after Function init or after an invoke, diffed against the previous report."""

    phase: str  # "init" or "invoke"
    request_id: Optional[str]
    generation: int
    entries: tuple[GlobalEntry, ...]
    gone: tuple[str, ...]  # names present in the previous report of this generation, absent now
    threads: tuple[ThreadEntry, ...]
    dropped: int = 0  # globals the report held past the ones kept in `entries` (globals_diff.MAX_ENTRIES)


@dataclass(frozen=True)
class TmpEntry:
    """One file, directory or link under the environment's /tmp, with the phases that created and last changed it."""

    path: str  # as the function sees it: "/tmp/counter.txt"
    kind: str  # "file", "dir", "symlink", "other"
    size: int
    mtime: float  # epoch seconds
    created_by: str  # "init", a request id, or "before" (there when lambdatui first looked)
    changed_by: str
    change: str  # "new", "changed", "same" against the previous listing


@dataclass(frozen=True)
class TmpChanged:
    """The environment's /tmp after a phase ended; `by` is what that phase was (a request id or "init")."""

    entries: tuple[TmpEntry, ...]
    removed: tuple[str, ...]
    by: str
    truncated: bool = False  # more entries than lambdatui lists


@dataclass(frozen=True)
class StackFrame:
    """One frame of a faulthandler stack dump: the file, line and function it was in."""

    file: str
    line: int
    function: str


@dataclass(frozen=True)
class ThreadStack:
    """One thread's stack in a faulthandler dump (`StacksCaptured`)."""

    thread: str  # "Current thread 0x..." or "Thread 0x..."
    frames: tuple[StackFrame, ...]  # innermost first, as faulthandler prints them


@dataclass(frozen=True)
class StacksCaptured:
    """Where a timed-out handler hung: every thread's stack, dumped by faulthandler before the kill."""

    request_id: str
    text: str
    threads: tuple[ThreadStack, ...]


INIT_STACKS = "init"  # StacksCaptured.request_id of the stacks dumped when Init timed out outside any invoke
