"""A runtime's streamed /response (lambda-spec §1.8, §12.1), read piece by piece as the runtime sends it.

Each piece goes on to the invoke's caller at once when it takes a stream (host/response_stream.py); otherwise the
whole body is kept, up to a buffered response's 6 MB, as Lambda keeps it for a plain invoke. The error a runtime
declares in its trailers ends the stream as a failed invoke; past 200 MB the rest is dropped
(Function.ResponseSizeTooLarge). After the first 6 MB Lambda caps the bandwidth (about 2 MiB/s): so does this,
while the caller is there to receive it.
Chunks that cannot be parsed end the stream as a hang-up does (Runtime.TruncatedResponse): RAPID fails the invoke
so on any error reading the body, and the core must hear that the stream is over, or the runtime is locked out.
"""

from __future__ import annotations

import base64
import binascii
from typing import Optional

import trio

from lambdatui.api import headers as h
from lambdatui.api.http11_exchange import Exchange
from lambdatui.api.http11_head import BadRequest
from lambdatui.api.rendering import Answer, from_reply
from lambdatui.core import inputs as ins
from lambdatui.core.stream_rules import STREAM_ACCEPTED
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.host.response_stream import ResponseStream, StreamProgress
from lambdatui.model import error_types as et
from lambdatui.model import facts as f

FULL_SPEED_BYTES = 6 * 1024 * 1024  # sent as fast as the runtime writes them (lambda-spec §1.8)
PACED_BYTES_PER_S = 2 * 1024 * 1024  # after that, on average (RIE's ResponseBandwidthRate)
PROGRESS_EVERY_S = 0.05  # the debugger hears how far the stream has come at most this often
_ERROR_TYPE = h.FUNCTION_ERROR_TYPE.lower()
_ERROR_BODY = "lambda-runtime-function-error-body"


class _Pacer:
    """Lambda's bandwidth after the first 6 MB: a piece that would run ahead of the rate waits for it."""

    def __init__(self, full_speed: int = FULL_SPEED_BYTES, rate: float = PACED_BYTES_PER_S) -> None:
        self.full_speed, self.rate = full_speed, rate
        self.paced_since: Optional[float] = None

    async def after(self, size: int) -> None:
        if size <= self.full_speed:
            return
        now = trio.current_time()
        if self.paced_since is None:
            self.paced_since = now
            return
        due = self.paced_since + (size - self.full_speed) / self.rate
        if due > now:
            await trio.sleep(due - now)


async def streamed_response(host: EnvironmentHost, exchange: Exchange, request_id: str, content_type: str) -> Answer:
    """Take the runtime's streamed body to its caller; the answer to the runtime once it has all arrived."""
    arrived, connection = exchange.arrived, exchange.connection
    reply = await host.request(lambda token: ins.RuntimeStreamStarted(token, request_id, content_type, arrived,
                                                                      connection))
    if reply.status != STREAM_ACCEPTED:
        return from_reply(reply)  # an unknown request id, or not the runtime's turn: the body is dropped
    stream = host.streams.get(request_id)
    limit = et.MAX_STREAMED_RESPONSE_BYTES if stream is not None else et.MAX_RESPONSE_BYTES
    if stream is not None:
        stream.begin(content_type)
    kept: list[bytes] = []
    size = chunks = 0
    too_large = truncated = False
    pacer = _Pacer(FULL_SPEED_BYTES, PACED_BYTES_PER_S)  # read now, not when the class was defined
    progress = StreamProgress(host.publish_own, request_id, PROGRESS_EVERY_S)
    malformed: Optional[BadRequest] = None
    told_left = False
    while True:
        try:
            piece = await exchange.receive_piece()
        except BadRequest as bad:
            piece, malformed = None, bad  # the body stops here all the same; the framing answers it (400, closed)
        if piece is None:
            truncated = True  # the runtime hung up (or broke its chunks) before the chunked body's end
            break
        if not piece:
            break
        if too_large:
            continue  # past the limit: read and dropped, so that the runtime can finish its request
        if size + len(piece) > limit:
            too_large = True
            continue
        size += len(piece)
        chunks += 1
        if stream is not None:
            # A slow caller and Lambda's rate hold the stream back: the runtime's bytes wait unread meanwhile, which
            # the debugger's deadlines must not take for a call it is late to hear.
            await exchange.holding_reads(stream.write(piece))
            # Once its caller has gone, nobody receives the rest: pacing it would only hold the runtime (and the
            # environment) back. It is read as fast as it comes, and the function runs on to its end, unaware.
            if not stream.caller_gone:
                await exchange.holding_reads(pacer.after(size))
            elif not told_left:
                told_left = _tell_left(host, request_id, stream)
        else:
            kept.append(piece)
        progress.advanced(size, chunks)
    progress.ended(size, chunks)
    if stream is not None:
        if not told_left:
            _tell_left(host, request_id, stream)
        stream.end()
    trailers = exchange.trailers
    error_type = trailers.get(_ERROR_TYPE) or None
    error_body = _decoded(trailers.get(_ERROR_BODY, ""))
    arrived = exchange.arrived  # the body's end, read
    ended = await host.request(lambda token: ins.RuntimeStreamEnded(
        token, request_id, b"".join(kept), size, content_type, error_type, error_body, truncated, too_large, arrived))
    if malformed is not None:
        raise malformed
    return from_reply(ended)


def _tell_left(host: EnvironmentHost, request_id: str, stream: ResponseStream) -> bool:
    """Whether the caller has hung up mid-stream, told before the invoke ends (a recording hears it with the invoke);
    or held the runtime back until the invoke ended, told once it has."""
    if stream.stalled_after is not None:
        host.publish_own(f.ResponseStreamCallerStalled(request_id, stream.stalled_after))
        return True
    if stream.left_after is None:
        return False
    host.publish_own(f.ResponseStreamCallerLeft(request_id, stream.left_after))
    return True


def _decoded(text: str) -> bytes:
    """The trailer's error body is base64 (lambda-spec §1.8); one that is not is passed on as it came."""
    if not text:
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.encode("utf-8", "replace")
