"""LineSplitter: bytes in, lines out, bounded memory; OutputPipe: the lines of a read handed over together."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdatui.processes.output import MAX_LINE_BYTES, LineSplitter


def test_complete_lines_and_kept_tail() -> None:
    s = LineSplitter()
    assert s.feed(b"one\ntw") == ["one"]
    assert s.feed(b"o\n\nthree") == ["two", ""]
    assert s.flush() == ["three"]
    assert s.flush() == []


def test_lines_split_across_many_chunks() -> None:
    s = LineSplitter()
    out: list[str] = []
    for byte in b"alpha\nbeta\n":
        out += s.feed(bytes([byte]))
    assert out == ["alpha", "beta"]


def test_long_line_is_split_at_the_limit() -> None:
    s = LineSplitter()
    lines = s.feed(b"x" * (2 * MAX_LINE_BYTES + 10) + b"\n")
    assert [len(line) for line in lines] == [MAX_LINE_BYTES, MAX_LINE_BYTES, 10]


def test_a_line_of_exactly_the_limit_stays_whole() -> None:
    s = LineSplitter()
    assert s.feed(b"y" * MAX_LINE_BYTES) == []  # the newline may still come
    assert s.feed(b"\n") == ["y" * MAX_LINE_BYTES]


def test_unterminated_output_does_not_grow_without_bound() -> None:
    s = LineSplitter(limit=8)
    assert s.feed(b"abcdefghij") == ["abcdefgh"]
    assert s.feed(b"klmnopq") == ["ijklmnop"]
    assert s.flush() == ["q"]


def test_forced_split_keeps_utf8_characters_whole() -> None:
    s = LineSplitter(limit=8)
    # "é" is two bytes: a cut at byte 8 would fall inside the second one.
    lines = s.feed("aaaaaaaé bc\n".encode())
    assert lines == ["aaaaaaa", "é bc"]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    s = LineSplitter()
    assert s.feed(b"ok \xff\xfe\n") == ["ok \ufffd\ufffd"]


def test_a_pipe_hands_over_the_complete_lines_of_each_read_together() -> None:
    import os

    import trio

    from lambdatui.processes.output import OutputPipe

    calls: list[tuple[str, list[str]]] = []

    async def main() -> None:
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        pipe = OutputPipe(read_end, "stdout", lambda stream, lines: calls.append((stream, lines)))
        os.write(write_end, b"one\ntwo\nthree\npart")  # one write: one read takes it all
        with trio.fail_after(5):
            await trio.lowlevel.wait_readable(read_end)
        pipe._read_once()
        os.write(write_end, b"ial\n")
        os.close(write_end)
        with trio.fail_after(5):
            await pipe.pump()
        pipe.close()

    trio.run(main)
    assert calls == [("stdout", ["one", "two", "three"]), ("stdout", ["partial"])]


class LineByLine(LineSplitter):
    """The splitter's careful way for every read (each line decoded alone): what the fast way must equal."""

    def feed(self, data: bytes) -> list[str]:
        self._buf += data
        return self._split(self._buf)


_BYTES = st.lists(st.sampled_from([b"a", b"\n", "é".encode(), "€".encode(), b"\xe2\x82", b"\xff", b"\x80", b" "]),
                  max_size=40).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(chunks=st.lists(_BYTES, max_size=12), limit=st.integers(min_value=1, max_value=64))
def test_a_reads_lines_are_those_each_line_decoded_alone_gives(chunks: list[bytes], limit: int) -> None:
    fast, careful = LineSplitter(limit=limit), LineByLine(limit=limit)
    for chunk in chunks:
        assert fast.feed(chunk) == careful.feed(chunk)
    assert fast.flush() == careful.flush()


def test_a_burst_of_short_lines_is_split_as_lines() -> None:
    text = "".join(f"line {n} é\n" for n in range(1000)).encode()
    s = LineSplitter()
    assert s.feed(text + b"par") == [f"line {n} é" for n in range(1000)]
    assert s.flush() == ["par"]


def _pipe_size(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, 1032)  # F_GETPIPE_SZ


def test_a_childs_pipe_holds_a_burst_without_the_child_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from lambdatui.processes import output

    monkeypatch.setattr(output, "_enlarged", {})
    read_end, write_end = output.output_pipe()
    try:
        assert _pipe_size(write_end) == output.PIPE_SIZE and not os.get_blocking(read_end)
        os.set_blocking(write_end, False)
        burst = b"line of a burst\n" * (output.PIPE_SIZE // 16)
        written = 0
        while written < len(burst):  # a pipe takes a large write a page at a time; none of it must block
            written += os.write(write_end, burst[written:])
        assert written == output.PIPE_SIZE
    finally:
        os.close(write_end)
        output.close_read_end(read_end)
    assert output._enlarged == {}


def test_enlarged_pipes_stay_within_their_budget_and_closing_one_gives_its_share_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from lambdatui.processes import output

    monkeypatch.setattr(output, "_enlarged", {})
    pipes = [output.output_pipe() for _ in range(output.ENLARGED_PIPES_BUDGET // output.PIPE_SIZE + 2)]
    try:
        sizes = [_pipe_size(read_end) for read_end, _ in pipes]
        enlarged = sizes.count(output.PIPE_SIZE)
        assert enlarged >= 1 and set(sizes[enlarged:]) == {65536}  # the rest keep the default
        assert enlarged * (output.PIPE_SIZE - 65536) <= output.ENLARGED_PIPES_BUDGET
        read_end, write_end = pipes.pop(0)
        os.close(write_end)
        output.close_read_end(read_end)
        again = output.output_pipe()
        pipes.append(again)
        assert _pipe_size(again[0]) == output.PIPE_SIZE
    finally:
        for read_end, write_end in pipes:
            os.close(write_end)
            output.close_read_end(read_end)
    assert output._enlarged == {}


def test_after_a_read_of_a_burst_the_pump_lets_the_pipe_fill_before_it_reads_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A child printing nonstop, one write a line (as the Python runtime's unbuffered stdout does): after a read of
    more than a print (and less than a read takes), the pump waits a moment before the next, so that the pipe fills
    and reads are few and large. Read as each wakeup found it, 100,000 lines took ~1,100 reads, each a wakeup and a
    fact for the host, and the child's every write woke the host."""
    import os
    import subprocess
    import sys
    import time

    import trio

    from lambdatui.processes import output

    monkeypatch.setattr(output, "_enlarged", {})
    count = 20_000
    reads: list[tuple[float, int]] = []  # when each read's lines were handed over, and their bytes
    got: list[str] = []

    def emit(stream: str, lines: list[str]) -> None:
        reads.append((time.monotonic(), sum(len(line) + 1 for line in lines)))
        got.extend(lines)

    async def main() -> None:
        read_end, write_end = output.output_pipe()
        # Lines of ~100 bytes: a read of a dozen is a burst's, however slowly a loaded machine runs the child.
        writer = f"import os\nfor i in range({count}):\n    os.write(1, b'burst line %d %s\\n' % (i, b'x' * 80))\n"
        child = subprocess.Popen([sys.executable, "-c", writer], stdout=write_end)
        os.close(write_end)
        pipe = output.OutputPipe(read_end, "stdout", emit)
        try:
            with trio.fail_after(30):
                await pipe.pump()
        finally:
            pipe.close()
            child.wait(10)

    trio.run(main)
    assert got == [f"burst line {i} {'x' * 80}" for i in range(count)]
    # A read's lines are its bytes but for a partial line at either end (< 100 bytes each): the reads sure to have
    # been a burst's and below a read's size.
    margin = 200
    bursts = [(at, reads[i + 1][0] - at) for i, (at, size) in enumerate(reads[:-1])
              if output._BURST_READ + margin <= size < output._READ_SIZE - margin]
    assert bursts, f"no read of a burst among {len(reads)}"
    too_soon = [gap for _, gap in bursts if gap < output._BURST_PAUSE_S * 0.9]
    assert not too_soon, f"{len(too_soon)} of {len(bursts)} reads followed a burst's read within a millisecond"
