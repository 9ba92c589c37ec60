"""The AWS event-stream encoder (api/event_stream.py), read back by botocore's own parser: the frames, their CRCs,
and InvokeWithResponseStream's events as boto3's lambda client turns them into dicts."""

from __future__ import annotations

import json
import struct
import zlib

import botocore.session
import pytest
from botocore import parsers
from botocore.eventstream import ChecksumMismatch, EventStream, EventStreamBuffer

from lambdatui.api import event_stream as es


def decoded(data: bytes, piece: int = 0) -> list:
    """Every message in `data`, fed to botocore's buffer whole, or `piece` bytes at a time."""
    buffer = EventStreamBuffer()
    messages = []
    for start in range(0, len(data), piece or len(data) or 1):
        buffer.add_data(data[start:start + (piece or len(data))])
        messages.extend(buffer)
    return messages


class _Body:
    """A response body as botocore's EventStream reads it (urllib3's `stream()`), in pieces of `piece` bytes."""

    def __init__(self, data: bytes, piece: int) -> None:
        self.data, self.piece = data, piece

    def stream(self):
        for start in range(0, len(self.data), self.piece):
            yield self.data[start:start + self.piece]


def as_boto3(data: bytes, piece: int = 5) -> list[dict]:
    """What iterating `invoke_with_response_stream(...)["EventStream"]` yields for these bytes: botocore's
    EventStream with the lambda model's event shape and the rest-json protocol's event parser."""
    model = botocore.session.get_session().get_service_model("lambda")
    shape = model.operation_model("InvokeWithResponseStream").output_shape.members["EventStream"]
    assert model.protocol == "rest-json"
    return list(EventStream(_Body(data, piece), shape, parsers.EventStreamJSONParser(), "InvokeWithResponseStream"))


def test_a_frame_round_trips_with_its_headers_in_order() -> None:
    data = es.frame([("a", "1"), (":event-type", "Thing"), ("unicode", "é ✓")], b"\x00\xffpayload")
    [message] = decoded(data)
    assert message.headers == {"a": "1", ":event-type": "Thing", "unicode": "é ✓"}
    assert list(message.headers) == ["a", ":event-type", "unicode"]
    assert message.payload == b"\x00\xffpayload"
    assert message.prelude.total_length == len(data)


def test_the_wire_layout_is_the_documented_one() -> None:
    data = es.frame([("n", "v")], b"xyz")
    total, headers_length, prelude_crc = struct.unpack(">III", data[:12])
    assert (total, headers_length) == (len(data), 1 + 1 + 1 + 2 + 1)
    assert prelude_crc == zlib.crc32(data[:8])
    assert data[12:18] == b"\x01n\x07\x00\x01v"  # name length, name, type 7 (string), value length u16, value
    assert data[18:21] == b"xyz"
    assert struct.unpack(">I", data[-4:])[0] == zlib.crc32(data[:-4])


def test_an_empty_frame_and_many_frames_parse_in_any_slicing() -> None:
    data = es.frame([], b"") + b"".join(es.payload_chunk(bytes([n]) * n) for n in range(1, 40))
    for piece in (0, 1, 7, 64):
        messages = decoded(data, piece)
        assert len(messages) == 40
        assert messages[0].headers == {} and messages[0].payload == b""
        assert [m.payload for m in messages[1:]] == [bytes([n]) * n for n in range(1, 40)]


def test_a_corrupted_frame_is_refused_by_botocore() -> None:
    data = bytearray(es.payload_chunk(b"hello"))
    data[-6] ^= 0x01  # a payload byte
    with pytest.raises(ChecksumMismatch):
        decoded(bytes(data))


def test_payload_chunks_and_invoke_complete_as_boto3_reads_them() -> None:
    data = (es.payload_chunk(b"chunk 0\n") + es.payload_chunk(b"\x00binary\xff")
            + es.invoke_complete("StreamFailed", '{"errorMessage": "x"}', "TG9n"))
    assert as_boto3(data) == [
        {"PayloadChunk": {"Payload": b"chunk 0\n"}},
        {"PayloadChunk": {"Payload": b"\x00binary\xff"}},
        {"InvokeComplete": {"ErrorCode": "StreamFailed", "ErrorDetails": '{"errorMessage": "x"}',
                            "LogResult": "TG9n"}},
    ]
    message = decoded(es.payload_chunk(b"x"))[0]
    assert message.headers == {":event-type": "PayloadChunk", ":content-type": "application/octet-stream",
                               ":message-type": "event"}


def test_invoke_complete_leaves_out_the_empty_fields() -> None:
    assert as_boto3(es.invoke_complete()) == [{"InvokeComplete": {}}]
    assert as_boto3(es.invoke_complete(log_result="TG9n")) == [{"InvokeComplete": {"LogResult": "TG9n"}}]
    [message] = decoded(es.invoke_complete(error_code="E", error_details=""))
    assert json.loads(message.payload) == {"ErrorCode": "E"}
    assert message.headers[":content-type"] == "application/json"


def test_what_botocore_would_refuse_is_refused_here_first() -> None:
    with pytest.raises(ValueError):
        es.frame([("n" * 256, "v")], b"")
    with pytest.raises(ValueError):
        es.frame([("n", "v" * 65536)], b"")
    with pytest.raises(ValueError):
        es.frame([], b"\0" * (es.MAX_PAYLOAD_BYTES + 1))
