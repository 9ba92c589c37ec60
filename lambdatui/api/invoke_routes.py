"""Lambda's Invoke API `2015-03-31` (lambda-spec §7), as boto3's lambda client and the AWS CLI call it."""

from __future__ import annotations

from quart import Blueprint, Response, request

from lambdatui.api import headers as h
from lambdatui.api.invoke_checks import (InvokeRefused, api_failure_parts, checked_client_context,
                                         checked_invocation_type, checked_payload, result_headers, throttle_parts)
from lambdatui.host.environment_host import EventRefused
from lambdatui.host.fleet_host import FleetHost, Throttled
from lambdatui.model import error_types as et
from lambdatui.model.fleet import DRY_RUN, EVENT, REQUEST_RESPONSE

INVOCATION_TYPES = (REQUEST_RESPONSE, EVENT, DRY_RUN)


def api_error(refused: InvokeRefused) -> Response:
    status, headers, body = refused.parts()
    return Response(body, status=status, headers=dict(headers))


def event_refused(refused: EventRefused | Throttled) -> Response:
    status, headers, body = throttle_parts(refused)
    return Response(body, status=status, headers=dict(headers))


async def read_body(limit: int) -> tuple[bytes, bool]:
    """Read at most `limit` bytes of the request body; the rest is consumed, not kept."""
    chunks: list[bytes] = []
    size = 0
    too_large = False
    async for chunk in request.body:
        size += len(chunk)
        if size > limit:
            too_large = True
            chunks = []  # keep reading so the connection stays usable, but drop the data
            continue
        chunks.append(chunk)
    return b"".join(chunks), too_large


def invoke_blueprint(host: FleetHost) -> Blueprint:
    api = Blueprint("invoke", __name__, url_prefix="/2015-03-31/functions")

    @api.post("/<path:function_name>/invocations")
    async def invoke(function_name: str) -> Response:
        try:
            invocation_type = checked_invocation_type(request.headers.get(h.INVOCATION_TYPE), INVOCATION_TYPES)
            limit = et.MAX_ASYNC_PAYLOAD_BYTES if invocation_type == EVENT else et.MAX_SYNC_PAYLOAD_BYTES
            payload, too_large = await read_body(limit)
            payload = checked_payload(payload, too_large, limit, invocation_type)
            client_context = checked_client_context(request.headers.get(h.CLIENT_CONTEXT))
        except InvokeRefused as refused:
            return api_error(refused)

        if invocation_type == DRY_RUN:
            return Response(b"", status=204)
        trace_id = request.headers.get(h.TRACE_ID)
        log_type = request.headers.get(h.LOG_TYPE, "None")
        try:
            result, tail = await host.invoke(
                payload,
                client_context=client_context,
                trace_id=trace_id,
                wants_log_tail=log_type == "Tail" and invocation_type == REQUEST_RESPONSE,
                asynchronous=invocation_type == EVENT,
            )
        except (EventRefused, Throttled) as refused:
            return event_refused(refused)
        failed = api_failure_parts(result)
        if failed is not None:
            return Response(failed[2], status=failed[0], headers=dict(failed[1]))
        if invocation_type == EVENT:
            response = Response(b"", status=202)
            response.headers[h.AMZN_REQUEST_ID] = result.request_id
            return response
        return Response(result.payload, status=200, headers=dict(result_headers(result, tail)))

    return api
