"""The runtime's telemetry log fd, read as Lambda reads it (lambda-spec §6.6): one record per frame, whatever
lines it holds, from bytes as a pipe delivers them (cut anywhere), and nothing lost where the bytes are no frames.
The frames are made as awslambdaric's FramedTelemetryLogSink makes them."""

from __future__ import annotations

import struct

from lambdatui.processes.output import FrameSplitter


def frame(text: str, kind: int = 0xA55A0003, stamp: int = 1_700_000_000_000_000) -> bytes:
    data = text.encode()
    return struct.pack(">IIQ", kind, len(data), stamp) + data


def test_each_frame_is_one_record_with_its_lines_and_without_its_final_newline() -> None:
    splitter = FrameSplitter()
    data = frame("[INFO]\tt\tid\tfirst\nsecond\n") + frame("[ERROR] boom\nTraceback", 0xA55A0017)
    assert splitter.feed(data) == ["[INFO]\tt\tid\tfirst\nsecond", "[ERROR] boom\nTraceback"]


def test_frames_cut_anywhere_come_out_whole_and_in_order() -> None:
    data = b"".join(frame(f"record {n}\nline two ü") for n in range(5))
    for size in (1, 3, 7, 16, 17, 40):
        splitter = FrameSplitter()
        out: list[str] = []
        for start in range(0, len(data), size):
            out += splitter.feed(data[start:start + size])
        assert out == [f"record {n}\nline two ü" for n in range(5)], size
        assert splitter.flush() == []


def test_a_record_past_the_limit_is_cut_and_its_rest_skipped_as_it_comes() -> None:
    splitter = FrameSplitter(limit=10)
    data = frame("x" * 25) + frame("next")
    out: list[str] = []
    for start in range(0, len(data), 4):
        out += splitter.feed(data[start:start + 4])
    assert out == ["x" * 10, "next"]


def test_bytes_that_are_not_frames_are_kept_as_lines() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(frame("framed") + b"plain text written to the fd\nand more") == [
        "framed", "plain text written to the fd"]
    assert splitter.feed(b" of it\n") == ["and more of it"]


def test_a_frame_cut_short_by_its_writer_s_end_is_kept_as_far_as_it_came() -> None:
    splitter = FrameSplitter()
    whole = frame("the last record, cut")
    assert splitter.feed(whole[:-4]) == []
    assert splitter.flush() == ["the last record,"]
