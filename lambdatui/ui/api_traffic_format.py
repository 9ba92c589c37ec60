"""How the API traffic view words one exchange: its row's cells and its whole text (pure, no Textual).

Times are read against `now` (the wall clock the capture used), so that a /next still parked says how long it has
waited so far, and a test can fix the clock.
"""

from __future__ import annotations

import re
import time
from typing import Optional

from lambdatui.api.headers import header_text
from lambdatui.model.facts import ApiExchanged
from lambdatui.model.facts.sandbox_api import PREVIEW_BYTES
from lambdatui.ui.widgets._format import clip, duration, one_line, seconds, short_id, size

BODY_CELL = 32  # characters of a body preview in a row (enter shows the whole preview)
HEADERS_CELL = 36
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Headers a row names in short, in this order: (header name in lower case, what the row calls it).
_SHORT_HEADERS = (
    ("lambda-runtime-aws-request-id", "rid"),
    ("lambda-runtime-deadline-ms", "deadline"),
    ("lambda-extension-name", "name"),
    ("lambda-extension-identifier", "ext-id"),
    ("lambda-extension-event-identifier", "event-id"),
    ("lambda-runtime-function-response-mode", "mode"),
    ("lambda-runtime-function-error-type", "error"),
    ("lambda-extension-function-error-type", "error"),
)
_IDS = {"rid", "ext-id", "event-id"}


def since(exchange: ApiExchanged, origin: float) -> str:
    """When it began, from the first exchange shown: "+1.234 s"."""
    return f"+{max(exchange.started - origin, 0.0):.3f} s"


def path_cell(path: str) -> str:
    """The path with its request or extension ids cut to their first characters: a row stays readable."""
    return _UUID.sub(lambda match: short_id(match.group()) + "…", path)


def status_cell(exchange: ApiExchanged) -> str:
    if exchange.status:
        return str(exchange.status)
    if exchange.answered is not None:
        return "—"
    return "parked" if exchange.long_poll else "…"


def parked_cell(exchange: ApiExchanged, now: float) -> str:
    """"1.2 s…" (counting) while a long poll waits, "1.2 s" once answered, "hung up" when its caller left."""
    if not exchange.long_poll:
        return ""
    if exchange.answered is None:
        return f"{seconds(now - exchange.started)}…"
    if exchange.status == 0:
        return "hung up"
    return duration(exchange.parked_ms)


def headers_cell(exchange: ApiExchanged) -> str:
    """The headers that matter, in short: "rid 56d2fa9f · deadline +3.0 s · error Runtime.X"."""
    values: dict[str, str] = {}
    for name, value in (*exchange.request_headers, *exchange.response_headers):
        values.setdefault(name.lower(), value)
    parts = []
    for name, short in _SHORT_HEADERS:
        value = values.get(name)
        if value is None:
            continue
        if short in _IDS:
            value = short_id(value)
        elif short == "deadline" and value.isdigit():
            # What the invoke had left when it was handed over (the answer), as a handler sees it.
            value = f"+{duration(int(value) - (exchange.answered or exchange.started) * 1000)}"
        parts.append(f"{short} {value}")
    if exchange.error_type and not any(part.startswith("error ") for part in parts):
        parts.append(f"error {exchange.error_type}")
    return clip(" · ".join(parts), HEADERS_CELL)


def body_cell(exchange: ApiExchanged) -> str:
    """The answer's preview for a call that fetches (/next, register), else what the caller sent."""
    text = exchange.response_preview if exchange.method == "GET" or not exchange.request_preview \
        else exchange.request_preview
    return clip(one_line(text), BODY_CELL)


def row_cells(exchange: ApiExchanged, origin: float, now: float) -> tuple[str, ...]:
    return (since(exchange, origin), exchange.method, path_cell(exchange.path), status_cell(exchange),
            parked_cell(exchange, now), headers_cell(exchange), body_cell(exchange))


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


def _preview_block(title: str, preview: str, total: int, streamed: bool = False) -> list[str]:
    if not total:
        return [f"{title}: {'streamed (read piece by piece, not kept)' if streamed else '(empty)'}"]
    # The preview holds the body's first PREVIEW_BYTES decoded: its own length says nothing (a character cut in two,
    # or bytes that are not UTF-8, decode to a 3-byte U+FFFD each), the body's size does.
    cut = f" (first {PREVIEW_BYTES} of {size(total)})" if total > PREVIEW_BYTES else ""
    return [f"{title}{cut}:", preview]


def exchange_text(exchange: ApiExchanged, now: Optional[float] = None) -> str:
    """Everything recorded of one exchange, for the detail view."""
    now = time.time() if now is None else now
    lines = [f"{exchange.method} {exchange.path}", f"by {exchange.participant} · #{exchange.seq}",
             f"started {_clock(exchange.started)}"]
    if exchange.answered is None:
        waited = f"parked {parked_cell(exchange, now)}" if exchange.long_poll else "in progress"
        lines.append(f"not answered yet: {waited}")
    else:
        verb = "parked" if exchange.long_poll else "took"
        outcome = f"status {exchange.status}" if exchange.status else "the caller hung up before the answer"
        lines.append(f"answered {_clock(exchange.answered)} · {verb} {seconds(exchange.answered - exchange.started)} · {outcome}")
    if exchange.error_type:
        lines.append(f"error type: {exchange.error_type}")
    lines.append("")
    lines.append("request headers:")
    lines.extend(f"  {name}: {header_text(value)}" for name, value in exchange.request_headers)
    if not exchange.request_headers:
        lines.append("  (none of those that matter)")
    sent = dict(exchange.request_headers)
    streamed = sent.get("transfer-encoding", "").lower() == "chunked" or \
        sent.get("lambda-runtime-function-response-mode", "").lower() == "streaming"
    lines.extend(_preview_block("request body", exchange.request_preview, exchange.request_bytes, streamed))
    lines.append("")
    lines.append("response headers:")
    lines.extend(f"  {name}: {header_text(value)}" for name, value in exchange.response_headers)
    if not exchange.response_headers:
        lines.append("  (none)")
    lines.extend(_preview_block("response body", exchange.response_preview, exchange.response_bytes))
    return "\n".join(lines)
