"""Provides `ResultView`: what the last invoke returned, what REPORT said, and where a timeout hung.

For a timeout lambdatui dumps every thread's stack before the kill; this view lists it with the
function's own frames emphasised, then shows the handler source around the hung line (the innermost
frame in the function's code, `hung_frame`), highlighted: the line where the time went.

A failed Init is a result too (nothing else would show it): the runtime's error document (type,
message, stack trace as it reported them), or the platform's account, and for an Init timeout the
stack where the module's top-level code hung.

A streamed response (lambda-spec §1.8) shows as it arrives: "streaming", its chunks, bytes, time to
first byte, time per chunk and content type; once over, the whole text when lambdatui kept it for a
buffered caller, else how many bytes went to the caller, and a stream that failed mid-way says so
first, with the error its trailers declared.
"""

from __future__ import annotations

import json
import os
import posixpath
from typing import Optional, Union

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from lambdatui.model.debug_snapshot import DebuggerSnapshot, StreamView
from lambdatui.model.error_types import error_kind
from lambdatui.model.facts import (INIT_STACKS, InitFailed, InvocationResult, InvokeReported, MemoryMeasured,
                                   StackFrame, StacksCaptured)
from lambdatui.model.stacks import handler_thread, hung_frame, is_own_code, unparsed_text
from lambdatui.ui.widgets._format import clip, head_lines, pretty_payload, short_id
from lambdatui.ui.widgets._stream_text import stream_destination, stream_failure, stream_figures, streamed_to_caller
from lambdatui.ui.widgets._theme import syntax_theme

CONTEXT = 8  # source lines shown either side of the hung line
SCROLL_TRIES = 20  # refreshes the scroll to the hung line waits at most for the pane's layout
MAX_SOURCE_BYTES = 2 * 1024 * 1024
MAX_PAYLOAD_CHARS = 200_000
MEMORY_POINTS_SHOWN = 8  # the latest measurements: how memory built up to where it is


def init_error_text(failure: InitFailed) -> str:
    """The runtime's /init/error document as reported: message, then stack trace; else the platform's words."""
    document: object = None
    if failure.payload:
        try:
            document = json.loads(failure.payload.decode("utf-8", errors="replace"))
        except ValueError:
            return failure.payload.decode("utf-8", errors="replace")[:MAX_PAYLOAD_CHARS]
    if not isinstance(document, dict):
        return failure.detail
    lines = [str(document.get("errorMessage", ""))]
    trace = document.get("stackTrace")
    if isinstance(trace, list):
        lines += [str(entry).rstrip("\n") for entry in trace]  # awslambdaric's entries are pre-formatted lines
    elif trace:
        lines.append(str(trace))
    return "\n".join(line for line in lines if line)[:MAX_PAYLOAD_CHARS] or failure.detail


def in_code_dir(file: str, code_dir: str) -> bool:
    """Whether a frame is the function's own code (emphasised) rather than the runtime's or a library's."""
    root = posixpath.normpath(code_dir)
    return file.startswith("/") and (posixpath.normpath(file) + "/").startswith(root.rstrip("/") + "/")


def report_line(report: InvokeReported, result: Optional[InvocationResult] = None) -> str:
    """REPORT's metrics as one line: the status first (it survives truncation), then Lambda's order.

    A handled function error (the runtime posted /error) is an error here even where REPORT says success
    (RIE's does): `result`, the same invoke's, says what the caller got.
    """
    status_word, error_type = report.status, report.error_type
    if result is not None and result.request_id == report.request_id and result.function_error \
            and status_word == "success":
        status_word, error_type = "error", error_type or result.error_type or "Unhandled"
    status = f"Status {status_word}" + (f" ({error_type})" if error_type else "")
    parts = [status, f"Duration {report.duration_ms:.2f} ms", f"Billed {report.billed_duration_ms} ms",
             f"Memory {report.max_memory_used_mb if report.max_memory_used_mb is not None else '?'}"
             f"/{report.memory_size_mb} MB"]
    if report.init_duration_ms is not None:
        parts.append(f"Init {report.init_duration_ms:.2f} ms")
    return " · ".join(parts)


def memory_line(points: tuple[MemoryMeasured, ...]) -> str:
    """How the runtime's memory built up, one figure after its Init and after each invoke, against the limit:
    "Memory in use, phase by phase: 20 → 45 → 70 of 128 MB (enforced by cgroup v1; runtime peak 68 MB)"."""
    if not points:
        return ""
    last = points[-1]
    figures = [p.environment_mb if p.environment_mb is not None else p.runtime_mb for p in points]
    shown = figures[-MEMORY_POINTS_SHOWN:]
    series = ("… → " if len(figures) > len(shown) else "") + " → ".join("?" if x is None else str(x) for x in shown)
    how = {"watch": "watched by lambdatui", "": "not enforced here"}.get(last.enforced_by,
                                                                        f"enforced by {last.enforced_by}")
    peak = f"; runtime peak {last.runtime_peak_mb} MB" if last.runtime_peak_mb is not None else ""
    return f"Memory in use, phase by phase: {series} of {last.limit_mb} MB ({how}{peak})"


class ResultView(VerticalScroll):
    """The last response or error, its REPORT, and for a timeout the stack and the hung source line."""

    DEFAULT_CSS = """
    ResultView {
        height: 1fr;
        padding: 0 1;
    }
    ResultView > Static {
        height: auto;
    }
    ResultView > #result-head {
        dock: top;  /* what happened stays in view while the stack and source scroll to the hung line */
        height: auto;
        background: $surface;
    }
    ResultView #result-title, ResultView #result-stream, ResultView #result-report {
        height: auto;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ResultView #result-title {
        height: 1;  /* one line whatever it says: a new title needs no layout of the screen (~15 ms) */
    }
    ResultView > .-section {
        margin-top: 1;
        text-style: bold;
    }
    ResultView #result-title.-error {
        color: $text-error;
    }
    """
    """Stacked sections that scroll together; hidden sections take no room."""

    def __init__(self, *, name: Optional[str] = None, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._snapshot: Optional[DebuggerSnapshot] = None
        self._report_rows = -1  # the lines the report section shows (-1: drawn otherwise, or not yet)
        self._key: object = None
        self._payload: object = None  # what #result-payload shows: (text, lexer), a Content or a str
        self.hung_line: Optional[int] = None
        """The hung line number shown highlighted in the source, or None."""
        self.hung_file: Optional[str] = None
        self._ready = False  # children exist (is_mounted turns True only after on_mount)

    def compose(self) -> ComposeResult:
        with Vertical(id="result-head"):
            yield Static(id="result-title")
            yield Static(id="result-stream")
            yield Static(id="result-report")
        yield Static(id="result-payload")
        yield Static("Stack at the timeout", id="stack-title", classes="-section")
        yield Static(id="stack")
        yield Static(id="source-title", classes="-section")
        yield Static(id="source")

    def on_mount(self) -> None:
        self._ready = True
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw(force=True))
        self._redraw()

    def show(self, snapshot: DebuggerSnapshot) -> None:
        """Render the last result, report and (for a timeout) stacks of this snapshot."""
        self._snapshot = snapshot
        if self._ready:
            self._redraw()

    # ------------------------------------------------------------------ drawing

    def _redraw(self, force: bool = False) -> None:
        snapshot = self._snapshot
        result = snapshot.last_result if snapshot else None
        report = snapshot.last_report if snapshot else None
        stacks = snapshot.last_stacks if snapshot else None
        init_failure = snapshot.last_init_failure if snapshot else None
        memory = snapshot.memory if snapshot else ()
        stream = snapshot.stream if snapshot else None
        label = snapshot.last_result_label if snapshot else ""
        key = ((result, report, stacks, init_failure, stream, label), memory)
        if key == self._key and not force:
            return  # unchanged: keep the scroll position
        # Only the memory figure moved (measured as an invoke ends, often while the next one runs): its line is
        # rewritten in place, not every section (whose Statics would lay the whole screen out again, ~15 ms).
        memory_only = not force and self._key is not None and key[0] == self._key[0]  # type: ignore[index]
        self._key = key
        code_dir = snapshot.function.code_dir if snapshot else ""
        if init_failure is not None:
            self._report_rows = -1
            self._show_init_failure(init_failure, stacks, code_dir)
            return
        if stream is not None and (result is None or result.request_id != stream.request_id):
            self._report_rows = -1
            self._show_arriving(stream, memory)
            return
        if memory_only:
            self._show_report(report, result, memory)
            return
        ended = stream if stream is not None and result is not None and stream.request_id == result.request_id \
            else None
        title = self.query_one("#result-title", Static)
        title.set_class(bool(result and result.function_error), "-error")
        title.update(self._title(result, label), layout=False)
        self._show_stream(ended, result)
        self._show_report(report, result, memory)
        if result is not None and result.streamed >= 0 and not result.function_error:
            left, stalled = (ended.caller_left_after, ended.caller_stalled_after) if ended else (None, None)
            self._show_payload(Content.styled(streamed_to_caller(result.streamed, left, stalled), "italic"), force)
        elif result is not None:
            text, lexer = pretty_payload(result.payload, MAX_PAYLOAD_CHARS)
            self._show_payload((text, lexer), force)
        else:
            self._show_payload("", force)
        relevant = stacks if stacks is not None and result is not None and stacks.request_id == result.request_id \
            else None
        self._set_stack_title("Stack at the timeout")
        self._show_stacks(relevant, code_dir)

    def _show_payload(self, payload: Union[str, Content, tuple[str, str]], force: bool = False) -> None:
        """The response or error, highlighted when given as (text, lexer). The same text as shown already (the same
        event invoked again) is left as it is: a new payload lays the whole screen out again (~15 ms of the UI's
        thread, which the host shares), and an invoke's result is followed at once by its REPORT."""
        if payload == self._payload and not force:
            return
        self._payload = payload
        shown = self.query_one("#result-payload", Static)
        if isinstance(payload, tuple):
            text, lexer = payload
            shown.update(Syntax(head_lines(text, "d shows the rest"), lexer, theme=syntax_theme(self),
                                background_color="default", word_wrap=True))
        else:
            shown.update(payload)

    def _set_stack_title(self, text: str) -> None:
        title = self.query_one("#stack-title", Static)
        if title.content != text:
            title.update(text)

    def _show_report(self, report: Optional[InvokeReported], result: Optional[InvocationResult],
                     memory: tuple[MemoryMeasured, ...]) -> None:
        """The REPORT line and the memory figure, one row each (the screen laid out again only when that count
        changes). A result newer than the last REPORT (held at invoke.response, or just answered) has its own to
        come, at its invoke's end: said in the same row, never the earlier invoke's figures."""
        if report is not None and result is not None and report.request_id != result.request_id:
            lines = [f"REPORT of {short_id(result.request_id)}: at its invoke's end"]
        else:
            lines = [report_line(report, result)] if report is not None else []
        if memory:
            lines.append(memory_line(memory))
        shown = self.query_one("#result-report", Static)
        shown.update(Content.styled("\n".join(lines), "dim") if lines else "", layout=len(lines) != self._report_rows)
        self._report_rows = len(lines)

    @staticmethod
    def _title(result: Optional[InvocationResult], label: str = "") -> Content:
        if result is None:
            return Content.styled("No invoke yet: the last response or error appears here.", "dim italic")
        head = (f"{error_kind(result.api_status)}: {result.error_type or 'Unhandled'}", "bold") \
            if result.function_error \
            else ("response", "bold $success")
        return Content.assemble(head, (f"  {label}" if label else "", "bold"),
                                (f"  request {short_id(result.request_id)}", "dim"),
                                (f"  {result.content_type}", "dim"))

    def _show_arriving(self, stream: StreamView, memory: tuple[MemoryMeasured, ...]) -> None:
        """A streamed response on its way: how far it has come, refreshed as it arrives. The last invoke's result
        and report give way to it (they are another invoke's)."""
        title = self.query_one("#result-title", Static)
        title.set_class(False, "-error")
        title.update(Content.assemble(
            ("streamed" if stream.ended else "streaming…", "bold $text-warning"),
            (f"  {stream.label}" if stream.label else "", "bold"),
            (f"  request {short_id(stream.request_id)}", "dim")), layout=False)
        self._show_stream(stream, None)
        self.query_one("#result-report", Static).update(
            Content.styled(memory_line(memory), "dim") if memory else "")
        self._show_payload("")
        self._show_stacks(None, "")

    def _show_stream(self, stream: Optional[StreamView], result: Optional[InvocationResult]) -> None:
        """The stream's figures (and, once its result is in, how it failed, marked as an error); nothing for a
        response that did not stream."""
        box = self.query_one("#result-stream", Static)
        box.display = stream is not None
        if stream is None:
            return
        rows = [Content(row) for row in stream_figures(stream)]
        if result is None:
            rows.append(Content.styled(stream_destination(stream), "dim"))  # once over, the payload says it
        failure = stream_failure(stream, result)
        if failure is not None:
            head, detail = failure
            rows += [Content.styled(head, "bold $text-error"), Content.styled(detail, "$text-error")]
        box.update(Content("\n").join(rows))

    def _show_init_failure(self, failure: InitFailed, stacks: Optional[StacksCaptured], code_dir: str) -> None:
        self._show_stream(None, None)
        title = self.query_one("#result-title", Static)
        title.set_class(True, "-error")
        what = "Init timed out" if failure.status == "timeout" else "Init failed"
        where = " (a suppressed Init, inside an invoke)" if failure.phase == "invoke" else ""
        title.update(Content.assemble((f"{what}: {failure.shown_type}", "bold"), (where, "dim")), layout=False)
        self.query_one("#result-report", Static).update(
            Content.styled(failure.detail, "dim") if failure.detail and failure.payload else "")
        self._show_payload(Content(init_error_text(failure)))
        relevant = stacks if stacks is not None and stacks.request_id == INIT_STACKS else None
        self._set_stack_title("Stack where Init hung")
        self._show_stacks(relevant, code_dir)

    def _show_stacks(self, stacks: Optional[StacksCaptured], code_dir: str) -> None:
        frame = hung_frame(stacks, code_dir) if stacks is not None else None
        for widget_id in ("#stack-title", "#stack"):
            self.query_one(widget_id).display = stacks is not None
        self.hung_line = frame.line if frame is not None else None
        self.hung_file = frame.file if frame is not None else None
        if stacks is not None:
            self.query_one("#stack", Static).update(self._stack_content(stacks, code_dir, frame))
        source = self._source(frame)
        for widget_id in ("#source-title", "#source"):
            self.query_one(widget_id).display = source is not None
        if frame is not None and source is not None:
            self.query_one("#source-title", Static).update(Content.assemble(
                (f"{os.path.basename(frame.file)}:{frame.line}", "bold $text-error"),
                (f" in {frame.function}: where the time went", "bold")))
            self.query_one("#source", Static).update(source)
            self.call_after_refresh(self._scroll_to_source)

    @staticmethod
    def _stack_content(stacks: StacksCaptured, code_dir: str, hung: Optional[StackFrame]) -> Content:
        rows: list[Content] = []
        if not stacks.threads:
            return Content(unparsed_text(stacks))
        runner = handler_thread(stacks)
        for thread in stacks.threads:
            mark = "  (the handler's thread)" if thread is runner else ""
            rows.append(Content.assemble((thread.thread, "bold"), (mark, "dim")))
            for frame in thread.frames:
                ours = is_own_code(frame.file, code_dir)
                style = "bold $text-error" if frame == hung else "bold $text-warning" if ours else "dim"
                where = os.path.relpath(frame.file, code_dir) if in_code_dir(frame.file, code_dir) else frame.file
                rows.append(Content.assemble("  ", (clip(f"{where}:{frame.line}", 70), style),
                                             (f" in {frame.function}", style if ours else "dim")))
        return Content("\n").join(rows)

    def _source(self, frame: Optional[StackFrame]) -> Optional[Syntax]:
        if frame is None or frame.line <= 0:
            return None
        try:
            if os.path.getsize(frame.file) > MAX_SOURCE_BYTES:
                return None
            with open(frame.file, encoding="utf-8", errors="replace") as handle:
                code = handle.read()
        except OSError:
            return None
        first = max(1, frame.line - CONTEXT)
        return Syntax(code, "python", theme=syntax_theme(self), line_numbers=True, highlight_lines={frame.line},
                      line_range=(first, frame.line + CONTEXT), background_color="default", word_wrap=False)

    def _scroll_to_source(self, tries: int = SCROLL_TRIES) -> None:
        """Centre the hung line (not just the source block, which may be taller than a small pane)."""
        source = self.query_one("#source", Static)
        if not source.display or self.hung_line is None:
            return
        region = source.virtual_region
        if (not region.height or region.bottom > self.virtual_size.height) and tries > 0:
            # The refresh came before this pane laid the stack and source out (a loaded machine): the scroll would be
            # clamped to what the pane held before, and the hung line never come into view.
            self.call_after_refresh(self._scroll_to_source, tries - 1)
            return
        row = self.hung_line - max(1, self.hung_line - CONTEXT)  # its row inside the shown line range
        top = region.y + row - self.scrollable_content_region.height // 2
        self.scroll_to(y=max(0, min(top, self.max_scroll_y)), animate=False)
