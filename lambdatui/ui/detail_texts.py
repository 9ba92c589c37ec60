"""What the detail view shows for each value a panel cuts: a global's whole repr, the whole result or error with its
stacks, the whole event. Plain text and a pygments lexer per section; the screen highlights and scrolls them.

A global's repr is whole only as far as the runtime made it: lambdatui's bootstrap bounds every repr (so the report
after each invoke stays quick, and it reports off the function's clock), and the view says where it was cut
rather than pretend the value is whole.
"""

from __future__ import annotations

import ast
import json
import pprint
from dataclasses import dataclass
from typing import Optional

from lambdatui.bootstrap.inspect_state import MAX_DICT_ITEMS, MAX_ITEMS, MAX_LEVEL, MAX_STRING, REPR_LIMIT
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.error_types import error_kind
from lambdatui.model.facts import INIT_STACKS, GlobalEntry, InitFailed, InvocationResult, StacksCaptured
from lambdatui.model.shared_init_values import is_a_value
from lambdatui.model.stacks import unparsed_text
from lambdatui.ui.widgets._format import pretty_payload

MAX_CHARS = 200_000  # a 6 MB response is readable in its first 200,000 characters; highlighting all of it is not
PRETTY_WIDTH = 96


@dataclass(frozen=True)
class Section:
    """One part of a detail view: a heading and its text, with the pygments lexer that highlights it."""

    heading: str
    text: str
    lexer: str = "text"


@dataclass(frozen=True)
class Detail:
    """What the detail view shows for one value: a title, notes on what is cut or missing, and the sections."""

    title: str
    notes: tuple[str, ...] = ()
    """Said above the value, in the warning colour: where it was cut, why it is not there."""
    sections: tuple[Section, ...] = ()


def _bounded(text: str) -> tuple[str, Optional[str]]:
    if len(text) <= MAX_CHARS:
        return text, None
    return text[:MAX_CHARS], f"showing the first {MAX_CHARS:,} of {len(text):,} characters"


def repr_cut_note(text: str) -> Optional[str]:
    """What the runtime left out of this repr, in words; None when it is whole."""
    if len(text) >= REPR_LIMIT and text.endswith("..."):
        return (f"repr cut at {REPR_LIMIT} characters by the runtime (lambdatui's bootstrap bounds every repr so the "
                "report after each invoke stays quick)")
    if "..." in text and _marks_a_cut(text):
        return (f"'...' marks what the runtime's bounded repr left out (strings past {MAX_STRING} characters, "
                f"containers past {MAX_ITEMS} items, dicts past {MAX_DICT_ITEMS}, nesting past {MAX_LEVEL} levels)")
    return None


def _marks_a_cut(text: str) -> bool:
    """Whether a '...' in the repr is reprlib's: outside a quoted string (an item, a level or digits left out), or
    inside one cut to MAX_STRING characters (its middle left out). A whole string may hold '...' of its own."""
    at, quote, start = 0, "", 0
    while at < len(text):
        char = text[at]
        if quote:
            if char == "\\":
                at += 1
            elif char == quote:
                literal = text[start:at + 1]
                if "..." in literal and len(literal) == MAX_STRING:
                    return True
                quote = ""
        elif char in "'\"":
            quote, start = char, at
        elif text.startswith("...", at):
            return True
        at += 1
    return False


def pretty_repr(text: str) -> str:
    """A literal's repr laid out over lines (dicts and lists one item a line); a cut or custom container's repr
    one top-level item a line; anything else as it came."""
    if len(text) < PRETTY_WIDTH:
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return _items_on_lines(text)
    return pprint.pformat(value, width=PRETTY_WIDTH, sort_dicts=False)


def _items_on_lines(text: str) -> str:
    """Break a repr that does not parse (cut by the runtime, or not a literal) after each comma of its outermost
    brackets, quotes respected: `[1, 2, ...` becomes three lines, "[1,", " 2," and " ..."."""
    out: list[str] = []
    depth, quote, escaped = 0, "", False
    for index, char in enumerate(text):
        out.append(char)
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 1 and text[index + 1:index + 2] == " ":
            out.append("\n")
    return "".join(out)  # the space that followed each comma now indents the next item


def global_detail(entry: GlobalEntry) -> Detail:
    notes: list[str] = []
    if not is_a_value(entry):
        notes.append("the runtime did not show this value: its repr was slow, raised, or the report ran out of time")
    else:
        cut = repr_cut_note(entry.repr)
        if cut:
            notes.append(cut)
    change = {"same": "unchanged since the previous report", "new": "new in this report",
              "changed": "changed in place (the same object)", "replaced": "replaced by another object"}
    about = f"{entry.kind} · {change.get(entry.change, entry.change)} · id {entry.identity:#x}"
    return Detail(f"{entry.name}: {entry.type}", tuple(notes),
                  (Section(about, pretty_repr(entry.repr), "python"),))


def _error_sections(payload: bytes, fallback_type: str) -> list[Section]:
    """The runtime's error document: errorType and errorMessage, then stackTrace as a Python traceback."""
    try:
        document = json.loads(payload.decode("utf-8", errors="replace"))
    except ValueError:
        document = None
    if not isinstance(document, dict):
        text, lexer = pretty_payload(payload)
        return [Section("the error as the runtime sent it", text, lexer)]
    error_type = str(document.get("errorType") or fallback_type)
    message = str(document.get("errorMessage", ""))
    sections = [Section("errorType", error_type), Section("errorMessage", message)]
    trace = document.get("stackTrace")
    if isinstance(trace, list) and trace:
        lines = "".join(str(entry) if str(entry).endswith("\n") else f"{entry}\n" for entry in trace)
        sections.append(Section("stackTrace", f"Traceback (most recent call last):\n{lines}{error_type}: {message}",
                                "pytb"))
    elif trace:
        sections.append(Section("stackTrace", str(trace)))
    extra = {k: v for k, v in document.items() if k not in ("errorType", "errorMessage", "stackTrace")}
    if extra:
        sections.append(Section("other fields", json.dumps(extra, indent=2, ensure_ascii=False), "json"))
    return sections


def _stack_section(stacks: StacksCaptured, heading: str) -> Section:
    if stacks.threads:
        lines = []
        for thread in stacks.threads:
            lines.append(thread.thread)
            lines += [f'  File "{frame.file}", line {frame.line} in {frame.function}' for frame in thread.frames]
        return Section(heading, "\n".join(lines))
    return Section(heading, unparsed_text(stacks))


def result_detail(snapshot: DebuggerSnapshot) -> Optional[Detail]:
    """The Result panel's value whole: a failed Init, a function error, or a response; None before any."""
    failure: Optional[InitFailed] = snapshot.last_init_failure
    stacks = snapshot.last_stacks
    if failure is not None:
        what = "Init timed out" if failure.status == "timeout" else "Init failed"
        sections = _error_sections(failure.payload, failure.shown_type) if failure.payload \
            else [Section("what the platform saw", failure.detail)]
        if failure.payload and failure.detail:
            sections.append(Section("what the platform saw", failure.detail))
        if stacks is not None and stacks.request_id == INIT_STACKS:
            sections.append(_stack_section(stacks, "every thread's stack where Init hung"))
        return _with_bounds(Detail(f"{what}: {failure.shown_type}", (), tuple(sections)))
    result: Optional[InvocationResult] = snapshot.last_result
    if result is None:
        return None
    if result.streamed >= 0 and not result.function_error:
        return Detail(f"response to request {result.request_id}",
                      (f"streamed to its caller: {result.streamed:,} bytes, not kept by lambdatui",))
    if result.function_error:
        sections = _error_sections(result.payload, result.error_type or "Unhandled")
        title = f"{error_kind(result.api_status)}: {result.error_type or 'Unhandled'} (request {result.request_id})"
    else:
        text, lexer = pretty_payload(result.payload)
        sections = [Section(f"{result.content_type} · {len(result.payload):,} bytes", text, lexer)]
        title = f"response to request {result.request_id}"
    if stacks is not None and stacks.request_id == result.request_id:
        sections.append(_stack_section(stacks, "every thread's stack at the timeout, before the kill"))
    return _with_bounds(Detail(title, (), tuple(sections)))


def event_detail(event_text: str, source: str) -> Detail:
    try:
        text, lexer = json.dumps(json.loads(event_text), indent=2, ensure_ascii=False), "json"
    except (ValueError, RecursionError):  # not JSON, or nested deeper than this Python's parser follows
        text, lexer = event_text, "json"
    heading = f"{source or 'event'} · {len(event_text.encode()):,} bytes"
    return _with_bounds(Detail("the event the next invoke sends", (), (Section(heading, text, lexer),)))


def _with_bounds(detail: Detail) -> Detail:
    notes = list(detail.notes)
    sections = []
    for section in detail.sections:
        text, cut = _bounded(section.text)
        if cut:
            notes.append(f"{section.heading}: {cut}")
        sections.append(Section(section.heading, text, section.lexer))
    return Detail(detail.title, tuple(notes), tuple(sections))
