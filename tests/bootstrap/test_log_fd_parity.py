"""Differential test: on the telemetry log fd (`_LAMBDA_TELEMETRY_LOG_FD`, lambda-spec §6.6) lambdatui's runtime
writes the frames awslambdaric writes: the same records, one frame each, of the same types, in the text and JSON
formats, with and without a log level; print() stays on stdout, and the variable is gone from the function's sight.

Both runtimes run as real processes against the same scripted Runtime API, each with a real pipe as its fd; the
frames are read back as the host reads them (processes/output.FrameSplitter) and by hand, timestamps aside.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from bootstrap_harness import BOOTSTRAP_DIR, WAIT_S, Event, FakeRuntimeApi, bootstrap_env, write

pytest.importorskip("awslambdaric")

HANDLER = """
    import logging
    import os

    logger = logging.getLogger()
    logger.setLevel(logging.DEBUG)
    logger.info("at Init")

    def handler(event, context):
        print("a print\\nof two lines")
        logger.debug("debug")
        logger.warning("first line\\nsecond line")
        logger.log(25, "a level of its own")
        try:
            raise ValueError("with its traceback")
        except ValueError:
            logger.exception("caught")
        logger.critical("critical")
        context.log("context.log's text")
        if event.get("fail"):
            raise KeyError("unhandled")
        return os.environ.get("_LAMBDA_TELEMETRY_LOG_FD", "gone")
"""


def _frames(data: bytes) -> List[Tuple[int, str]]:
    """(type, message) of each frame, read by hand; its timestamp checked to be now-ish (µs since the epoch)."""
    frames, at = [], 0
    now_us = time.time_ns() // 1000
    while at < len(data):
        kind, length, stamp = struct.unpack_from(">IIQ", data, at)
        assert abs(now_us - stamp) < 120_000_000, stamp
        frames.append((kind, data[at + 16:at + 16 + length].decode()))
        at += 16 + length
    return frames


def _masked(text: str) -> str:
    """Times and file paths differ between two runs: hidden."""
    import re

    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", "<time>", text)
    return re.sub(r'File "[^"]*/([^/"]+)"', r'File "<dir>/\1"', text)


def _run(which: str, code_dir: Path, **extra: Optional[str]) -> Tuple[List[Tuple[int, str]], str, List[str]]:
    api = FakeRuntimeApi().start()
    read_end, write_end = os.pipe()
    try:
        api.events.extend([Event(b"{}", "r1"), Event(b'{"fail": true}', "r2")])
        env = bootstrap_env(api, code_dir, "logs_probe.handler", _LAMBDA_TELEMETRY_LOG_FD=str(write_end), **extra)
        cmd = [sys.executable, str(BOOTSTRAP_DIR)] if which == "ours" else [
            sys.executable, "-m", "awslambdaric", "logs_probe.handler"]
        out = subprocess.run(cmd, cwd=str(code_dir), env=env, capture_output=True, timeout=WAIT_S,
                             pass_fds=(write_end,))
        os.close(write_end)
        write_end = -1
        chunks = []
        while chunk := os.read(read_end, 1 << 16):
            chunks.append(chunk)
        posts = [r.body.decode() for r in api.requests if r.method == "POST" and r.path.endswith("/response")]
        frames = [(kind, _masked(text)) for kind, text in _frames(b"".join(chunks))]
        return frames, out.stdout.decode(), posts
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
        api.stop()


@pytest.mark.parametrize("settings", [{}, {"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}, {"AWS_LAMBDA_LOG_FORMAT": "JSON"}],
                         ids=["text", "text-with-level", "json"])
def test_the_same_frames_as_awslambdaric(tmp_path: Path, settings: dict) -> None:
    write(tmp_path, "logs_probe.py", HANDLER)
    ours = _run("ours", tmp_path, **settings)
    theirs = _run("awslambdaric", tmp_path, **settings)
    assert len(theirs[0]) >= 8, theirs  # the oracle framed its records
    assert ours[0] == theirs[0]
    assert ours[2][:1] == theirs[2][:1] == ['"gone"']  # the variable is taken out of the function's environment
    for stdout in (ours[1], theirs[1]):
        assert "a print\nof two lines\n" in stdout and "first line" not in stdout, stdout


def test_a_multi_line_record_is_one_frame_and_prints_stay_lines(tmp_path: Path) -> None:
    """What the host gets from our runtime: one frame per record, whatever lines it holds."""
    from lambdatui.processes.output import FramedLineSplitter

    write(tmp_path, "logs_probe.py", HANDLER)
    frames, stdout, _ = _run("ours", tmp_path)
    framed = b"".join(struct.pack(">IIQ", k, len(t.encode()), time.time_ns() // 1000) + t.encode() for k, t in frames)
    records = FramedLineSplitter().feed(framed)
    warned = [r for r in records if "first line" in r]  # one each invoke
    assert len(warned) == 2 and all(r.endswith("\tfirst line\nsecond line") for r in warned), records
    caught = [r for r in records if "\tcaught" in r]
    assert len(caught) == 2 and all("\nValueError: with its traceback" in r for r in caught), records
    unhandled = [r for r in records if r.startswith("[ERROR] KeyError")]
    assert len(unhandled) == 1 and "\nTraceback (most recent call last):" in unhandled[0], records
