"""A caller pipelining requests that are answered at once must not hold the host's other tasks. Such a request
passes no checkpoint (EnvironmentHost.request returns without one when the core answers in its feed), and the
server reads buffered requests without one: http11's connection yields after 16 of them, where nothing pipelined
waits behind (256 at most). Several long polls are answered at once too (refusals, a gate not held); the first
version of the bound was reset by every long poll, and these held the host for the whole flood (9 s).

A thread floods a real environment's sandbox server (lambdatui's own process is admitted) while the trio loop runs a
ticker; the longest gap between ticks is how long the host was held."""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.runner import open_environment

BOUND = 60
HELLO = Path(__file__).resolve().parents[2] / "sample_functions" / "hello" / "handler.py"
FLOOD_S = 1.0
BATCH = 400  # requests per sendall


def _request(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: x"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _flood(address: str, request: bytes, stop: threading.Event, counts: dict[str, int]) -> None:
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def drain() -> None:
        try:
            while True:
                data = sock.recv(1 << 20)
                if not data:
                    return
                counts["answers"] += data.count(b"HTTP/1.1 ")
        except OSError:
            return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    chunk = request * BATCH
    deadline = time.monotonic() + FLOOD_S + 5
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            sock.sendall(chunk)
            counts["sent"] += BATCH
    except OSError:
        pass
    finally:
        # An abortive close (a reset, SO_LINGER 0): the requests still buffered, megabytes of them, are dropped, not
        # answered after the measured second (several CPU-seconds that measured nothing). A host held for the whole
        # flood is still caught: it is held until this thread's own deadline, FLOOD_S + 5 s.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            sock.shutdown(socket.SHUT_RD)  # wakes the reader
        except OSError:
            pass
        reader.join(10)
        sock.close()


async def _longest_gap(address: str, request: bytes) -> tuple[float, dict[str, int]]:
    stop = threading.Event()
    counts = {"sent": 0, "answers": 0}
    flooder = threading.Thread(target=_flood, args=(address, request, stop, counts), daemon=True)
    longest = 0.0
    flooder.start()
    try:
        with trio.fail_after(BOUND):
            began = last = trio.current_time()
            while trio.current_time() - began < FLOOD_S:
                await trio.sleep(0.005)
                now = trio.current_time()
                longest, last = max(longest, now - last), now
    finally:
        stop.set()
        await trio.to_thread.run_sync(flooder.join, 15)
    return longest, counts


# Each answered at once by the core on a warm, non-SnapStart environment, each through `until_hangup`.
LONG_POLLS = {
    "restore-next-refused": ("/2018-06-01/runtime/restore/next", {}),  # 404: not a SnapStart function
    "extension-next-unknown-id": ("/2020-01-01/extension/event/next",
                                  {"Lambda-Extension-Identifier": str(uuid.uuid4())}),  # 403 unknown extension
    "function-init-gate-after-init": ("/lambdatui/v1/function-init", {}),  # 200 {}: the gate is not held
}
CONTROLS = {
    "unknown-path": ("/no/such/route", {}),  # 404 by the router: no long poll, the counter applies
    "extension-next-no-id": ("/2020-01-01/extension/event/next", {}),  # 403 before until_hangup
}


@pytest.mark.trio
@pytest.mark.parametrize("name", list(LONG_POLLS) + list(CONTROLS))
async def test_a_pipelining_caller_does_not_hold_the_host(name: str) -> None:
    path, headers = {**LONG_POLLS, **CONTROLS}[name]
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(HELLO))) as running:
            host = running.host
            host.start_environment()
            await host.invoke(b"{}")  # warm: the runtime parked on /next
            longest, counts = await _longest_gap(running.runtime_api, _request(path, headers))
            assert counts["answers"] > 1000, counts  # the flood was served
            # The host ran its other tasks at least every few hundred milliseconds (the controls: a few ms)
            assert longest < 0.5, (name, longest, counts)
            result, _ = await host.invoke(b'{"after": 1}')
            assert not result.function_error
