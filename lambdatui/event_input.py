"""The event `-e` names (`invoke`, the debugger): JSON text, a file or a pipe, or `-` for standard input, checked
as Lambda's front end checks an event before any function runs, and no further: an event nested deeper than the
function's Python reads is sent, and its runtime fails the invoke with Runtime.UnmarshalError, as on Lambda."""

from __future__ import annotations

import os
import stat
import sys
from typing import BinaryIO

from lambdatui.config_error import ConfigError
from lambdatui.json_text import check_json
from lambdatui.lambda_limits import MAX_SYNC_EVENT_BYTES, event_size_problem


def read_event(value: str) -> bytes:
    """`-e` takes JSON text, a file, or `-` for stdin; whatever it is must be JSON in UTF-8, as Lambda requires."""
    origin = f"--event {value}"
    if value == "-":
        if sys.stdin is None:  # started with standard input closed
            raise ConfigError("--event -: there is no standard input to read the event from")
        data = _read_event_bytes(sys.stdin.buffer, origin)
    elif os.path.exists(value) and not os.path.isdir(value):  # a file, or a pipe: `-e <(jq ...)`, /dev/stdin
        try:
            with open(value, "rb") as stream:
                data = _read_event_bytes(stream, origin)
        except OSError as exc:
            raise ConfigError(f"{origin}: {exc.strerror}") from None
    else:
        origin = "--event"
        try:
            # Bytes that are not UTF-8 arrive in argv as lone surrogates, which no encoder takes.
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError("--event: not UTF-8 text") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark before it is skipped, as Lambda's front end (and serve) do
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{origin}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        return b"{}"
    try:
        check_json(text)
    except ValueError as exc:
        if origin == "--event" and os.path.isdir(value):
            raise ConfigError(f"--event {value}: a directory, not a JSON file (nor is it JSON text)") from None
        looks_like_path = not text.lstrip().startswith(("{", "[", '"')) and ("/" in text or text.endswith(".json"))
        if looks_like_path and origin == "--event":
            raise ConfigError(f"--event {value}: no such file (nor is it JSON text)") from None
        raise ConfigError(f"{origin}: not valid JSON: {exc}") from None
    return data


def _read_event_bytes(stream: BinaryIO, origin: str) -> bytes:
    """At most one byte more than Lambda takes: `-e /dev/zero`, or an endless pipe, must not fill the memory."""
    data = stream.read(MAX_SYNC_EVENT_BYTES + 1)
    if len(data) > MAX_SYNC_EVENT_BYTES:
        info = os.fstat(stream.fileno())
        raise ConfigError(f"{origin}: {event_size_problem(info.st_size if stat.S_ISREG(info.st_mode) else None)}")
    return data
