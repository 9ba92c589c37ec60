"""AWS event-stream frames (`application/vnd.amazon.eventstream`), the body of InvokeWithResponseStream
(lambda-spec §12.2): what botocore's `EventStreamBuffer` parses.

A frame is a prelude (total length, headers length: u32 big-endian each; the CRC32 of those 8 bytes), its headers
(each: name length u8, name, value type u8, value length u16 big-endian, value; only type 7, a UTF-8 string, is
needed here), its payload, and the CRC32 of everything before it. Encoding only: lambdatui never reads a stream.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Optional

EVENT_STREAM = "application/vnd.amazon.eventstream"
OCTET_STREAM = "application/octet-stream"
JSON = "application/json"

_STRING = 7  # the header value type of a UTF-8 string
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")
MAX_PAYLOAD_BYTES = 24 * 1024 * 1024  # what botocore's parser takes in one frame


def frame(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One message: `headers` (string values, in this order), then `payload`."""
    encoded = b"".join(_header(name, value) for name, value in headers)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"an event-stream payload holds at most {MAX_PAYLOAD_BYTES} bytes, not {len(payload)}")
    prelude = _PRELUDE.pack(_PRELUDE.size + _CRC.size + len(encoded) + len(payload) + _CRC.size, len(encoded))
    message = prelude + _CRC.pack(zlib.crc32(prelude)) + encoded + payload
    return message + _CRC.pack(zlib.crc32(message))


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    if len(raw_name) > 0xFF or len(raw_value) > 0xFFFF:
        raise ValueError(f"event-stream header {name!r} is too long")
    return struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", _STRING, len(raw_value)) + raw_value


def event(event_type: str, content_type: str, payload: bytes) -> bytes:
    """An `event` message of `event_type`: the shape botocore's restJson parser maps to that union member."""
    return frame([(":event-type", event_type), (":content-type", content_type), (":message-type", "event")],
                 payload)


def payload_chunk(data: bytes) -> bytes:
    """InvokeWithResponseStream's `PayloadChunk`: the function's bytes as they are (`{"Payload": data}`)."""
    return event("PayloadChunk", OCTET_STREAM, data)


def invoke_complete(error_code: Optional[str] = None, error_details: Optional[str] = None,
                    log_result: Optional[str] = None) -> bytes:
    """InvokeWithResponseStream's last event, `InvokeComplete`: its JSON holds only the fields that are set."""
    fields = {"ErrorCode": error_code, "ErrorDetails": error_details, "LogResult": log_result}
    body = json.dumps({name: value for name, value in fields.items() if value}).encode()
    return event("InvokeComplete", JSON, body)
