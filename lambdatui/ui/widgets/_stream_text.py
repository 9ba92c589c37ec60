"""Provides the words the result panel uses for a streamed response (lambda-spec §1.8): how far it has come, where
its bytes go, and how it failed when it did.

Pure functions (no Textual), like `_format`: the panel and its tests agree on the text without rendering anything.
The figures come from the snapshot's `StreamView`; nothing here decides what a stream means for the lifecycle.
"""

from __future__ import annotations

import json
from typing import Optional

from lambdatui.model.debug_snapshot import StreamView
from lambdatui.model.facts import InvocationResult
from lambdatui.ui.widgets._format import duration, one_line, size

MESSAGE_CHARS = 300  # of an error's message, on the one line that says how the stream failed


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def stream_figures(stream: StreamView) -> tuple[str, str]:
    """How far it has come, as two short rows (the panel is a third of the screen):
    ("3 chunks · 27 B · text/plain", "first byte 12.3 ms · 33.4 ms/chunk avg")."""
    amount = [plural(stream.chunks, "chunk"), size(stream.size)]
    if stream.content_type:
        amount.append(stream.content_type)
    timing = [f"first byte {duration(stream.first_byte_ms)}"]
    per_chunk = stream.ms_per_chunk
    if per_chunk is not None:
        timing.append(f"{duration(per_chunk)}/chunk avg")
    return " · ".join(amount), " · ".join(timing)


def stream_destination(stream: StreamView) -> str:
    """Where its bytes go while it runs: on to the caller at once, or kept until the end for a buffered caller; past a
    caller that hung up mid-stream, nowhere."""
    if stream.caller_left_after is not None:
        return f"caller hung up after {size(stream.caller_left_after)}: the rest read unpaced, dropped"
    return "to the caller as it arrives" if stream.to_caller else "kept whole for a buffered caller"


def streamed_to_caller(sent: int, left_after: Optional[int] = None, stalled_after: Optional[int] = None) -> str:
    """What a streaming caller got, where a buffered caller's text would be: "27 bytes streamed to the caller"; of a
    caller that hung up mid-stream (`left_after` bytes taken), what it took and what went nowhere."""
    exact = plural(sent, "byte")
    amount = exact if sent < 1024 else f"{exact} ({size(sent)})"
    if stalled_after is not None:
        return f"{amount} streamed; the caller read no more after {size(stalled_after)}, holding the runtime back"
    if left_after is not None:
        return f"{amount} streamed; the caller hung up after taking {size(left_after)}, the rest was dropped"
    return f"{amount} streamed to the caller"


def error_message(payload: bytes) -> str:
    """An error document's `errorMessage` (the body its trailers carried), else its text, on one line."""
    text = payload.decode("utf-8", errors="replace")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and "errorMessage" in document:
        text = str(document["errorMessage"])
    return one_line(text).strip()[:MESSAGE_CHARS]


def stream_failure(stream: StreamView, result: Optional[InvocationResult]) -> Optional[tuple[str, str]]:
    """How the stream failed, once its invoke's result is in, as two lines: what happened to the stream, then the
    error its trailers declared (or why lambdatui cut it) with the message of the error the caller got. None when
    it ended well.

    ("✗ stream failed mid-way after 2 chunks (16 B)", "Function.StreamFailed · StreamFailed: failed after 2 chunks")
    """
    if result is None or result.request_id != stream.request_id or not result.function_error:
        return None
    declared = stream.error_type if stream.ended else None
    what = "failed mid-way" if stream.ended else "never ended"
    head = f"✗ stream {what} after {plural(stream.chunks, 'chunk')} ({size(stream.size)})"
    if stream.caller_stalled_after is not None:  # a caller that reads slowly slows the runtime down
        head += f": its caller read no more after {size(stream.caller_stalled_after)}, holding the runtime back"
    caller_type = result.error_type or "Unhandled"
    types = caller_type if declared in (None, caller_type) else f"{declared} · {caller_type}"
    message = error_message(result.payload)
    return head, f"{types}: {message}" if message else types
