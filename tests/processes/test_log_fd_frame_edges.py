"""The host's reading of the runtime's stdout, where its telemetry log fd writes its framed records too
(processes/output.py FramedLineSplitter), fed bytes as a pipe delivers them. Frames are made as awslambdaric's
FramedTelemetryLogSink makes them (lambda-spec §6.6)."""

from __future__ import annotations

import struct

from lambdatui.processes.output import MAX_LINE_BYTES, MAX_RECORD_BYTES, FramedLineSplitter, LineSplitter


def frame(text: str, kind: int = 0xA55A0003, stamp: int = 1_700_000_000_000_000) -> bytes:
    data = text.encode()
    return struct.pack(">IIQ", kind, len(data), stamp) + data


def feed_all(splitter: FramedLineSplitter | LineSplitter, data: bytes, size: int) -> list[str]:
    out: list[str] = []
    for start in range(0, len(data), size):
        out += splitter.feed(data[start:start + size])
    return out + splitter.finish()


# A print of ordinary text: "¥" is U+00A5, C2 A5 in UTF-8; then "Z" and a NUL (a C string's end, or bytes shown
# with .decode("latin-1")). Its bytes hold A5 5A 00, the frames' magic, inside a character.
YEN_TEXT = "price list: ¥Z\x00\x03\x7f\x7f\x7f\x7f01234567 end"


def test_a_printed_yen_sign_before_z_and_nul_is_text_not_a_frame() -> None:
    data = (YEN_TEXT + "\nthe next print\n").encode() + frame("the next record\nits second line")
    for size in (1, 7, 4096):
        assert feed_all(FramedLineSplitter(), data, size) == [YEN_TEXT, "the next print",
                                                             "the next record\nits second line"], size


def test_binary_bytes_on_stdout_that_look_like_a_frame_cost_nothing_after_their_line() -> None:
    data = b"\x00\x01\xa5\x5a\x00\x10\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00 binary\n" + b"next print\n"
    data += frame("next record")
    out = feed_all(FramedLineSplitter(), data, 4096)
    assert out[-2:] == ["next print", "next record"], out


def test_a_100_kb_record_keeps_all_its_text() -> None:
    text = "A" * 100_000 + "THE END"
    got = feed_all(FramedLineSplitter(), frame(text), 4096)
    assert "".join(got) == text, [len(g) for g in got]


def test_the_same_text_printed_keeps_all_of_it_in_256_kb_lines() -> None:
    """The comparison for the test above: stdout's lines keep every byte of a 100 KB line."""
    text = "A" * 100_000 + "THE END"
    got = feed_all(FramedLineSplitter(), (text + "\n").encode(), 4096)
    assert "".join(got) == text and max(map(len, got)) <= MAX_LINE_BYTES


def test_a_frame_past_the_limit_cut_anywhere_never_raises_nor_swallows_the_next_one() -> None:
    """The cuts the first version failed on (IndexError with exactly a header and 64 KB buffered) and others."""
    big = "é" * 140_000  # 280,000 bytes: past the limit, a multi-byte character at the cut
    data = frame("a" * (65520 - 16)) + frame(big) + frame("next\nrecord") + b"a print\n" + frame("")
    for size in (1000, 4096, 65536, MAX_RECORD_BYTES + 16, MAX_RECORD_BYTES + 17, 400_000):
        got = feed_all(FramedLineSplitter(), data, size)
        assert len(got) == 5 and got[2:] == ["next\nrecord", "a print", ""], size
        kept, _, mark = got[1].partition(" … (cut: ")
        assert set(kept) == {"é"} and len(kept.encode()) <= MAX_RECORD_BYTES and mark.startswith("17,856 more bytes"), size


def test_a_print_a_record_interrupts_goes_on_after_it_and_order_is_kept() -> None:
    data = b"first print\npartial " + frame("a record\nof two lines\n") + b"line ends\n" + frame("second")
    for size in (1, 3, 16, 17, 64):
        assert feed_all(FramedLineSplitter(), data, size) == [
            "first print", "a record\nof two lines", "partial line ends", "second"], size


def test_invalid_utf8_in_a_frame_becomes_replacement_marks_in_that_record_only() -> None:
    data = struct.pack(">IIQ", 0xA55A0003, 4, 1_700_000_000_000_000) + b"a\xffb\xc3" + frame("fine ü")
    assert feed_all(FramedLineSplitter(), data, 5) == ["a\ufffdb\ufffd", "fine ü"]


def test_a_partial_print_ending_in_a_yen_sign_is_flushed_whole() -> None:
    splitter = FramedLineSplitter()
    assert splitter.feed("total: 100¥".encode()) == []
    assert splitter.flush() == ["total: 100¥"]
    assert splitter.feed(b"next\n") == ["next"]
