"""Read the stack dump a timed-out handler's faulthandler wrote, and find the line it hung on.

The dump is written from a signal handler just before the runtime is killed, so it may be cut
short anywhere (the host waits a bounded time for it): every line that does not parse is skipped,
a last line without its newline is treated as cut off, and the raw text is always kept so that
nothing the parser does not understand is lost to the user.

Format (CPython's faulthandler, unchanged in substance since 3.3):

    Thread 0x00007f81656b16c0 (most recent call first):
      File "/var/task/app.py", line 12 in worker
      ...

    Current thread 0x00007f8166c17b80 (most recent call first):
      File "/var/task/app.py", line 30 in handler
      <no Python frame>            (a thread running only C code)
      ...                          (more frames than faulthandler prints)

`Stack (most recent call first):` heads a single-thread dump (all_threads=False).
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Callable, Iterable, Optional

from lambdatui.model.facts import StackFrame, StacksCaptured, ThreadStack
from lambdatui.model.paths import SandboxPaths, host_path

_HEADER = re.compile(r"^(?P<thread>(?:Current thread|Thread) .*?|Stack)\s*\(most recent call first\):\s*$")
# faulthandler writes `???` (unquoted) for an unknown file and for an unknown line number.
_FRAME = re.compile(r'^\s+File (?:"(?P<file>.*)"|\?\?\?), line (?P<line>-?\d+|\?\?\?) in (?P<function>.*?)\s*$')
# It escapes every non-ASCII character (it cannot allocate in a signal handler to encode them).
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})")
UNKNOWN = "???"
CURRENT = "Current thread"
SINGLE_STACK = "Stack"  # all_threads=False: the only stack is the dumping thread's own


def parse_faulthandler(text: str, request_id: str, paths: Optional[SandboxPaths] = None) -> StacksCaptured:
    """Every thread's frames, innermost first and in the order faulthandler listed the threads.

    With `paths`, a frame's file is the host's (/var/task/... the user's own file, /opt/... the layer's that
    provides it), so that every reader shows and opens the real file; `text` stays as the process wrote it.
    """
    threads: list[ThreadStack] = []
    name: Optional[str] = None
    frames: list[StackFrame] = []
    for line in _complete_lines(text):
        header = _HEADER.match(line)
        if header:
            if name is not None:
                threads.append(ThreadStack(name, tuple(frames)))
            name, frames = header.group("thread"), []
            continue
        frame = _parse_frame(line)
        if frame is not None and name is not None:
            if paths is not None and frame.file != UNKNOWN:
                frame = StackFrame(host_path(frame.file, paths), frame.line, frame.function)
            frames.append(frame)
        # Anything else ("<no Python frame>", "...", a fatal-error banner, a blank line) carries no frame.
    if name is not None:
        threads.append(ThreadStack(name, tuple(frames)))
    return StacksCaptured(request_id, text, tuple(threads))


def hung_frame(stacks: StacksCaptured, code_dir: str) -> Optional[StackFrame]:
    """The innermost frame of the user's own code, looked for in the handler's thread first.

    Our bootstrap dumps from a C-level handler (of its STACK_DUMP signal), which runs on whichever thread the kernel
    picked: faulthandler's "Current thread" mark names that thread, not necessarily the handler's.
    The handler's thread is the one whose stack passes through the runtime's own loop (our
    bootstrap, or awslambdaric); after it the current thread, then the others oldest first
    (CPython lists threads newest first, so the main thread is the last one listed).

    The user's own code is a file under `code_dir` that is not a library (site-packages, a
    virtualenv's lib/pythonX.Y) nor our bootstrap: those are where the handler waited, not what the
    user wrote. Only when no thread has such a frame does a library frame under `code_dir` count.
    """
    frames = user_frames(stacks, code_dir)[1]
    return frames[0] if frames else None


def handler_thread(stacks: StacksCaptured) -> Optional[ThreadStack]:
    """The thread that runs the handler (or Init): the first in `hung_frame`'s order, if any thread was listed."""
    ordered = _by_preference(stacks.threads)
    return ordered[0] if ordered else None


def user_frames(stacks: StacksCaptured, code_dir: str) -> tuple[str, list[StackFrame]]:
    """The user's own frames, innermost first, in the thread `hung_frame` looks at first: (thread name, frames).

    Only when no thread has a frame of the user's own code do library frames under `code_dir` count.
    """
    root = _normalized_dir(code_dir)
    ordered = _by_preference(stacks.threads)
    for wanted in (_is_own_code, _inside):
        for thread in ordered:
            frames = [frame for frame in thread.frames if wanted(frame.file, root)]
            if frames:
                return thread.thread, frames
    return "", []


SHOWN_FRAMES = 6  # a terminal's summary of a dump: the innermost frames tell where the time went
# A line of faulthandler's names one frame (a path, a function): far below this. The function can write anything
# where its dump goes (8 MB of NULs was a one-line "dump" that took `invoke` seconds to escape and print).
SHOWN_LINE_CHARS = 1000


def stack_summary(stacks: StacksCaptured, code_dir: str) -> list[str]:
    """Where a timed-out handler (or Init) was, for a terminal (`replay`, `invoke`, `serve`): a heading, then the
    function's own frames innermost first, relative to `code_dir`; where none is its own, the dump's first lines."""
    thread, frames = user_frames(stacks, code_dir)
    if not frames:
        return ["captured at the timeout, but no frame is in the function's code:",
                *(_clipped(text.strip()) for text in stacks.text.splitlines()[:SHOWN_FRAMES])]
    return [f"where the handler was at the timeout ({thread}, innermost first):",
            *(f"{_relative(frame.file, code_dir)}:{frame.line} in {frame.function}" for frame in frames[:SHOWN_FRAMES])]


def unparsed_text(stacks: StacksCaptured, lines: int = 200) -> str:
    """A dump with no thread in it, as the debugger shows it: its first `lines` lines, each clipped, then how many
    more lines there were (the fact keeps it whole)."""
    every = stacks.text.rstrip().splitlines()
    shown = [_clipped(line) for line in every[:lines]]
    if len(every) > lines:
        shown.append(f"... ({len(every) - lines:,} more lines)")
    return "\n".join(shown) or "(the dump was empty)"


def _clipped(line: str) -> str:
    if len(line) <= SHOWN_LINE_CHARS:
        return line
    return f"{line[:SHOWN_LINE_CHARS]}... ({len(line) - SHOWN_LINE_CHARS:,} more characters)"


def _relative(path: str, code_dir: str) -> str:
    root = posixpath.normpath(code_dir).rstrip("/")
    path = posixpath.normpath(path)
    return path[len(root) + 1:] if root and path.startswith(root + "/") else path


def is_own_code(file: str, code_dir: str) -> bool:
    """Whether a frame is the user's own code: under `code_dir`, not a library, a virtualenv or our bootstrap."""
    return _is_own_code(file, _normalized_dir(code_dir))


def is_current(thread: ThreadStack) -> bool:
    """Whether this is the thread that wrote the dump (the one the signal interrupted)."""
    return thread.thread.startswith(CURRENT) or thread.thread == SINGLE_STACK


# ---------------------------------------------------------------------- parsing


def _complete_lines(text: str) -> list[str]:
    lines = text.splitlines()
    if lines and not text.endswith(("\n", "\r")):
        lines.pop()  # cut off mid-line by the kill: `line 12 in fu` would name the wrong function
    return lines


def _parse_frame(line: str) -> Optional[StackFrame]:
    match = _FRAME.match(line)
    if match is None:
        return None
    number = match.group("line")
    file = match.group("file")
    return StackFrame(
        _unescape(file) if file is not None else UNKNOWN,
        int(number) if number != UNKNOWN else 0,
        _unescape(match.group("function")),
    )


def _unescape(text: str) -> str:
    """Undo faulthandler's `\\xe9` / `\\u20ac` escapes, so a path names the file the user can open."""
    return _ESCAPE.sub(_character, text)


def _character(match: re.Match[str]) -> str:
    code = int(match.group(1)[1:], 16)
    return chr(code) if code <= 0x10FFFF else match.group(0)  # not a character: leave the text as written


# ---------------------------------------------------------------------- which frame is "where it hung"


def _by_preference(threads: Iterable[ThreadStack]) -> list[ThreadStack]:
    listed = list(threads)
    runtime = [t for t in listed if any(_is_runtime_loop(frame.file) for frame in t.frames)]
    current = [t for t in listed if is_current(t) and t not in runtime]
    others = [t for t in listed if t not in runtime and t not in current]
    return runtime + current + others[::-1]  # oldest thread (the main one) first


def _normalized_dir(code_dir: str) -> str:
    return posixpath.normpath(code_dir).rstrip("/") or "/"


def _inside(file: str, root: str) -> bool:
    if not file.startswith("/"):
        return False  # "<string>", "<frozen importlib._bootstrap>": no file of the user's
    path = posixpath.normpath(file)
    return root == "/" or path == root or path.startswith(root + "/")


def _is_runtime_loop(file: str) -> bool:
    """A frame of the runtime's invoke loop: lambdatui's bootstrap, or awslambdaric's."""
    return _BOOTSTRAP in file or _AWSLAMBDARIC in file


def _is_own_code(file: str, root: str) -> bool:
    if not _inside(file, root) or _is_runtime_loop(file):
        return False
    parts = posixpath.normpath(file)[len(root):].lstrip("/").split("/")
    if any(part in _LIBRARY_DIRS or _STDLIB_DIR.match(part) for part in parts):
        return False
    return parts[0] not in _installed_in(root)


def _installed_in(root: str) -> frozenset[str]:
    """The top-level modules and packages that distributions pip installed into the code folder itself own (`pip
    install -t .`, `sam build`: each with its *.dist-info beside them), read once from their RECORD (an egg's
    top_level.txt): libraries, where the handler waited, not what the user wrote."""
    known = _INSTALLED.get(root)
    if known is None:
        names: set[str] = set()
        try:
            entries = os.listdir(root)
        except OSError:
            entries = []
        for entry in entries:
            if entry.endswith(".dist-info"):
                names.update(_owned(os.path.join(root, entry, "RECORD"), lambda line: line.split(",", 1)[0]))
            elif entry.endswith(".egg-info"):  # its packages' names, each a package or a module
                for name in _owned(os.path.join(root, entry, "top_level.txt"), lambda line: line):
                    names.update((name, name + ".py"))
        known = _INSTALLED[root] = frozenset(names)
    return known


def _owned(listing: str, path_of: Callable[[str], str]) -> set[str]:
    try:
        with open(listing, encoding="utf-8", errors="replace") as fh:
            paths = [path_of(line.strip()) for line in fh if line.strip()]
    except OSError:
        return set()
    first = {path.split("/", 1)[0] for path in paths}
    return {name for name in first if name and name not in ("..", "__pycache__") and not name.endswith(".dist-info")}


_INSTALLED: dict[str, frozenset[str]] = {}


_BOOTSTRAP = "/lambdatui/bootstrap/"
_AWSLAMBDARIC = "/awslambdaric/"
_LIBRARY_DIRS = frozenset({"site-packages", "dist-packages", "__pypackages__"})
# A virtualenv's lib/python3.11 (its libraries, or a copied standard library).
_STDLIB_DIR = re.compile(r"^(?:pypy|python)\d+(?:\.\d+)*$")
