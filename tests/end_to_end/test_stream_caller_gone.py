"""Once the caller of a stream has gone, the rest of the stream is no longer paced (lambda-spec §1.8: past the first
6 MB Lambda caps a stream's bandwidth at about 2 MiB/s). Nobody receives it: lambdatui reads the runtime's rest as
fast as the runtime sends it and drops it, and tells the runtime nothing (the spec says nothing of Lambda stopping
the function): its stream is accepted (202) and its invoke ends as any other. Before, the host read it at the
paced rate all the same, holding the runtime, and the environment, for nothing.

In-process (`open_environment`) with a real custom runtime and real HTTP: full speed and the rate are lowered with
monkeypatch, so that pacing the rest would take 30 s; the invoke must end well within a third of that.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from e2e_support import LogCollector
from lambdatui.api import runtime_stream
from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.runner import open_environment
from test_stream_runtime import STREAMS_MEGABYTES, TIMEOUT_S, runtime

MEGABYTES = 8  # the runtime streams this many MiB, in 256 KiB chunks
FULL_SPEED = 512 * 1024
RATE = 256 * 1024  # bytes per second past full speed: the rest would take 30 s
PACED_S = (MEGABYTES * 1024 * 1024 - FULL_SPEED) / RATE
REQUEST = (b"POST /2021-11-15/functions/function/response-streaming-invocations HTTP/1.1\r\nHost: test\r\n"
           b"Content-Length: 2\r\n\r\n{}")


def completed(log: LogCollector) -> list[f.InvocationCompleted]:
    return [fact for fact in log.facts if isinstance(fact, f.InvocationCompleted)]


@pytest.mark.trio
async def test_a_stream_whose_caller_has_gone_is_read_at_once_not_paced(
        code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_stream, "FULL_SPEED_BYTES", FULL_SPEED)
    monkeypatch.setattr(runtime_stream, "PACED_BYTES_PER_S", RATE)
    bootstrap = runtime(code_dir, STREAMS_MEGABYTES, megabytes=MEGABYTES)
    log = LogCollector()
    with trio.fail_after(TIMEOUT_S * 2):
        async with open_environment(resolve_function(str(bootstrap), timeout_s=TIMEOUT_S), invoke_port=0,
                                    listeners=[log]) as running:
            assert running.invoke_api is not None
            host, _, port = running.invoke_api.rpartition(":")
            caller = await trio.open_tcp_stream(host, int(port))
            await caller.send_all(REQUEST)
            received = b""
            while b"PayloadChunk" not in received:  # the stream's first event: it has begun, and reached us
                more = await caller.receive_some(65536)
                assert more, received
                received += more
            assert received.startswith(b"HTTP/1.1 200 OK\r\n"), received[:200]
            await caller.aclose()  # gone mid-stream, with most of the stream still to come
            with trio.fail_after(PACED_S / 3):  # paced, the rest would take PACED_S
                await log.wait_for(lambda: bool(completed(log)))
                await log.wait_for_text(r"^stream answer: HTTP/1\.1 202", f.FUNCTION)  # told nothing unusual
    [done] = completed(log)
    assert not done.result.function_error, done.result
