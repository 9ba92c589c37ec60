"""The runtime's stdout with its telemetry log fd's records among its lines (processes/output.FramedLineSplitter):
each frame one record, whatever lines it holds, each line one line, in the order they were written, from bytes as a
pipe delivers them (cut anywhere). The frames are made as awslambdaric's FramedTelemetryLogSink makes them
(lambda-spec §6.6)."""

from __future__ import annotations

import struct

from lambdatui.processes.output import FramedLineSplitter


def frame(text: str, kind: int = 0xA55A0003, stamp: int = 1_700_000_000_000_000) -> bytes:
    data = text.encode()
    return struct.pack(">IIQ", kind, len(data), stamp) + data


def fed(splitter: FramedLineSplitter, data: bytes, size: int) -> list[str]:
    out: list[str] = []
    for start in range(0, len(data), size):
        out += splitter.feed(data[start:start + size])
    return out


def test_records_and_lines_come_out_in_the_order_written_each_record_whole() -> None:
    data = (frame("[INFO]\tt\tid\trecord 1\nits second line\n") + b"print 2\n"
            + frame("[ERROR] boom\nTraceback", 0xA55A0017) + b"print 4\nprint 5\n")
    expected = ["[INFO]\tt\tid\trecord 1\nits second line", "print 2", "[ERROR] boom\nTraceback", "print 4", "print 5"]
    for size in (1, 2, 3, 7, 16, 17, 40, len(data)):
        splitter = FramedLineSplitter()
        assert fed(splitter, data, size) == expected, size
        assert splitter.finish() == []


def test_a_line_a_record_interrupts_goes_on_after_it() -> None:
    data = b"half a print, " + frame("a record") + b"then its end\n"
    for size in (1, 5, len(data)):
        assert fed(FramedLineSplitter(), data, size) == ["a record", "half a print, then its end"], size


def test_text_with_bytes_like_a_frame_s_first_stays_text() -> None:
    """0xA5 is never a UTF-8 character's first byte, but ¥ is C2 A5: text with "¥Z" and a NUL, or binary bytes, hold
    a frame type's first three bytes; without the rest of a frame's header they are text, and nothing after them
    is lost."""
    splitter = FramedLineSplitter()
    assert splitter.feed("price ¥Z5\n".encode() + b"\xa5") == ["price ¥Z5"]
    assert splitter.feed(b"Z and more\n") == ["\ufffdZ and more"]
    text = "¥Z\x00\x03\x7f\x7f\x7f\x7f01234567 end"  # a type, a length, but no time this century
    assert fed(FramedLineSplitter(), (text + "\n").encode() + frame("a record"), 3) == [text, "a record"]


def test_a_partial_line_is_flushed_but_a_frame_being_written_is_not() -> None:
    splitter = FramedLineSplitter()
    whole = frame("the record")
    assert splitter.feed(b"no newline yet" + whole[:10]) == []
    assert splitter.flush() == ["no newline yet"]
    assert splitter.feed(whole[10:]) == ["the record"]


def test_a_record_past_the_limit_is_cut_marked_and_its_rest_skipped_as_it_comes() -> None:
    splitter = FramedLineSplitter(record_limit=10)
    cut = "x" * 10 + " … (cut: 15 more bytes; Lambda keeps a log event up to 256 KB)"
    assert fed(splitter, frame("x" * 25) + frame("next") + b"line\n", 4) == [cut, "next", "line"]


def test_a_frame_cut_short_by_its_writer_s_end_is_kept_as_far_as_it_came() -> None:
    splitter = FramedLineSplitter()
    whole = frame("the last record, cut")
    assert splitter.feed(b"a line\n" + whole[:-4]) == ["a line"]
    assert splitter.finish() == ["the last record,"]
