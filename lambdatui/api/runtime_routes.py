"""Runtime API `2018-06-01` (lambda-spec §1): what the function's runtime process calls."""

from __future__ import annotations

from typing import Callable, Optional

from lambdatui.api import headers as h
from lambdatui.api.http11_exchange import Exchange, Route
from lambdatui.api.http11_head import BadRequest
from lambdatui.api.rendering import JSON, Answer, from_reply
from lambdatui.api.runtime_stream import streamed_response
from lambdatui.core import inputs as ins
from lambdatui.core.effects import Reply
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model import error_types as et

PREFIX = "/2018-06-01/runtime"
MANAGED_ERROR_BODY_LIMIT = 1024 * 1024  # Managed-Instances RAPID caps /init/error's body at 1 MiB (lambda-spec §1.5)
_RESPONSE_MODE = h.RESPONSE_MODE.lower()
_ERROR_TYPE = h.FUNCTION_ERROR_TYPE.lower()


def runtime_routes(host: EnvironmentHost) -> list[tuple[str, str, Route]]:
    managed = host.env.config.managed
    # RAPID reads an /init/error's (and a restore's /restore/error's) body as an /error's, the first invoke's answer
    # (lambda-spec §1.6): under the payload limit, or Managed Instances' own cap. Past it the type header tells.
    init_error_limit = MANAGED_ERROR_BODY_LIMIT if managed else et.MAX_RESPONSE_BYTES

    def answer_now(exchange: Exchange) -> Callable[[object], None]:
        return lambda reply: exchange.answer_now(from_reply(reply))  # type: ignore[arg-type]

    def result_answer(exchange: Exchange, reply: Reply) -> Answer:
        """A /response's or /error's answer. A refused one closes the connection: a call pipelined behind it (our
        runtime sends its /next behind a small response) was sent before the runtime saw the refusal, which ends
        a runtime (awslambdaric's and ours), and must not be taken as the runtime's next step (the invoke would
        end, and the exit be charged to the next one, its event lost). A runtime that goes on asks again."""
        if reply.status >= 400:
            exchange.end_after_answer()
        return from_reply(reply)

    def answer_result_now(exchange: Exchange) -> Callable[[Reply], None]:
        return lambda reply: exchange.answer_now(result_answer(exchange, reply))

    async def next_invocation(exchange: Exchange) -> Optional[Answer]:
        # The event is written as the core delivers it: the runtime starts while the host still tells the facts.
        arrived, connection = exchange.arrived, exchange.connection
        if managed:  # its worker is numbered by its connection: the core hears when that one ends
            exchange.when_closed(lambda: host.feed(ins.ConnectionClosed(connection)))
        reply = await host.request(lambda token: ins.RuntimeNext(token, arrived, connection), answer_now(exchange),
                                   long_poll=exchange)
        return None if reply is None else exchange.early or from_reply(reply)

    async def invocation_response(exchange: Exchange) -> Answer:
        (request_id,) = exchange.params
        mode = exchange.headers.get(_RESPONSE_MODE, "")
        content_type = exchange.headers.get("content-type") or JSON
        if mode == "streaming":  # RAPID takes this value only, as written: any other is InvalidResponseModeHeader
            return await streamed_response(host, exchange, request_id, content_type)
        invalid_mode = mode or None
        malformed: Optional[BadRequest] = None
        try:
            body, too_large, truncated = await exchange.read_body(et.MAX_RESPONSE_BYTES)
        except BadRequest as bad:
            # Chunks that cannot be parsed cut the body short as a hang-up does (RAPID: any error reading it is a
            # truncated response): the core ends the invoke; the framing answers the malformed body (400, closed).
            malformed, body, too_large, truncated = bad, b"", False, True
        # Answered as the core decides (a runtime that waits for its 202 before its next /next, as awslambdaric
        # does, asks a scheduler pass sooner); a malformed body is the framing's to answer.
        arrived, connection = exchange.arrived, exchange.connection
        reply = await host.request(lambda token: ins.RuntimeResponse(
            token, request_id, body, content_type, too_large, invalid_mode, truncated, arrived, connection),
            answer_result_now(exchange) if malformed is None else None)
        if malformed is not None:
            raise malformed
        return exchange.early or result_answer(exchange, reply)

    async def invocation_error(exchange: Exchange) -> Answer:
        (request_id,) = exchange.params
        content_type = exchange.headers.get("content-type") or JSON
        error_type = exchange.headers.get(_ERROR_TYPE)
        return result_answer(exchange, await host.request(lambda token: ins.RuntimeInvocationError(
            token, request_id, exchange.body, content_type, error_type, exchange.truncated, exchange.too_large,
            exchange.arrived, exchange.connection)))

    async def init_error(exchange: Exchange) -> Answer:
        content_type = exchange.headers.get("content-type") or JSON
        error_type = exchange.headers.get(_ERROR_TYPE)
        arrived = exchange.arrived
        return from_reply(await host.request(
            lambda token: ins.RuntimeInitError(token, exchange.body, content_type, error_type, arrived)))

    async def restore_next(exchange: Exchange) -> Optional[Answer]:
        # The snapshot's call is never answered: it parks until the runtime (or lambdatui) ends.
        reply = await host.request(ins.RuntimeRestoreNext, long_poll=exchange)
        return None if reply is None else from_reply(reply)

    async def restore_error(exchange: Exchange) -> Answer:
        content_type = exchange.headers.get("content-type") or JSON
        error_type = exchange.headers.get(_ERROR_TYPE)
        return from_reply(await host.request(
            lambda token: ins.RuntimeRestoreError(token, exchange.body, content_type, error_type)))

    return [
        ("GET", f"{PREFIX}/invocation/next", Route(next_invocation)),
        # SnapStart (lambda-spec §1.7): served to every function; the core refuses them unless it is SnapStart.
        ("GET", f"{PREFIX}/restore/next", Route(restore_next)),
        # A body cut short (a hang-up, chunks that cannot be parsed) on these four still reaches the core: on
        # /response and /error it decides the invoke (Runtime.TruncatedResponse); /init/error and /restore/error
        # are taken without it, as RAPID takes them when it cannot read their bodies (their header says the type).
        ("POST", f"{PREFIX}/restore/error", Route(restore_error, init_error_limit, hears_truncation=True)),
        # A streamed /response is read as it arrives (runtime_stream.py); a plain one whole, by the route too.
        ("POST", f"{PREFIX}/invocation/<request_id>/response", Route(invocation_response, reads_body=True)),
        # RAPID reads an /error body whole and sends it to the caller as it sends a /response, under the same
        # payload limit (lambda-spec §1.4, §1.5): past it the core refuses it (413), never forwards it emptied.
        ("POST", f"{PREFIX}/invocation/<request_id>/error",
         Route(invocation_error, et.MAX_RESPONSE_BYTES, hears_truncation=True)),
        ("POST", f"{PREFIX}/init/error", Route(init_error, init_error_limit, hears_truncation=True)),
    ]
