"""Lambda's Invoke API `2015-03-31` (lambda-spec §7), as boto3's lambda client and the AWS CLI call it, and the
deprecated InvokeAsync `2014-11-13` that both still offer (`invoke_async`, `aws lambda invoke-async`)."""

from __future__ import annotations

from typing import Optional

import outcome
import trio
from quart import Blueprint, Response, request

from lambdatui.api import headers as h
from lambdatui.api.invoke_checks import (REQUEST_TOO_LARGE, InvokeRefused, check_no_tenant,
                                         checked_client_context, checked_invocation_type, checked_log_type,
                                         checked_payload, checked_qualifier, payload_limit, result_parts,
                                         throttle_parts)
from lambdatui.host.environment_host import EventRefused
from lambdatui.host.fleet_host import FleetHost, Throttled
from lambdatui.ids import new_uuid
from lambdatui.model import facts as f
from lambdatui.model.fleet import DRY_RUN, EVENT, REQUEST_RESPONSE

INVOCATION_TYPES = (REQUEST_RESPONSE, EVENT, DRY_RUN)


def api_error(refused: InvokeRefused) -> Response:
    status, headers, body = refused.parts()
    return Response(body, status=status, headers=dict(headers))


def event_refused(refused: EventRefused | Throttled) -> Response:
    status, headers, body = throttle_parts(refused)
    return Response(body, status=status, headers=dict(headers))


async def read_body(limit: int) -> tuple[bytes, bool, int]:
    """Read at most `limit` bytes of the request body; the rest is consumed, not kept. Also how many there were."""
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
    return b"".join(chunks), too_large, size


def invoke_blueprint(host: FleetHost) -> Blueprint:
    api = Blueprint("invoke", __name__, url_prefix="/2015-03-31/functions")

    # No automatic OPTIONS (quart's 200 with `Allow`, no request id): Lambda's Invoke API answers every method but
    # POST 405 MethodNotAllowed, OPTIONS too (a browser's CORS preflight is not told it may POST).
    @api.post("/<path:function_name>/invocations", provide_automatic_options=False)
    async def invoke(function_name: str) -> Response:
        try:
            invocation_type = checked_invocation_type(request.headers.get(h.INVOCATION_TYPE), INVOCATION_TYPES)
            log_type = checked_log_type(request.headers.get(h.LOG_TYPE))
            payload, too_large, size = await read_body(payload_limit(invocation_type))
            payload = checked_payload(payload, too_large, invocation_type, size=size)
            client_context = checked_client_context(request.headers.get(h.CLIENT_CONTEXT))  # an Event's too
            check_no_tenant(request.headers.get(h.TENANT_ID))
            qualifier = checked_qualifier(function_name, request.query_string.decode("latin-1"), host.config)
        except InvokeRefused as refused:
            return api_error(refused)

        if invocation_type == DRY_RUN:  # validated, not run: an answer of the API's own, with its id
            return Response(b"", status=204, headers={"Content-Type": "application/json",
                                                       h.AMZN_REQUEST_ID: new_uuid()})
        trace_id = request.headers.get(h.TRACE_ID)
        try:
            result, tail = await _invoke_in_the_fleets_nursery(
                host,
                payload,
                client_context=client_context,
                trace_id=trace_id,
                wants_log_tail=log_type == "Tail" and invocation_type == REQUEST_RESPONSE,
                asynchronous=invocation_type == EVENT,
                qualifier=qualifier,
            )
        except (EventRefused, Throttled) as refused:
            return event_refused(refused)
        if invocation_type == EVENT and not result.api_status:
            return Response(b"", status=202, headers={"Content-Type": "application/json",
                                                       h.AMZN_REQUEST_ID: result.request_id})
        status, headers, body = result_parts(result, tail, host.options.function_version)
        return Response(body, status=status, headers=dict(headers))

    return api


# InvokeAsync's own limit (its API reference: "The payload limit is 256KB"), below an Event invoke's 1 MB.
MAX_INVOKE_ASYNC_BYTES = 256 * 1024


async def _invoke_in_the_fleets_nursery(host: FleetHost, payload: bytes,
                                    **kwargs: object) -> tuple[f.InvocationResult, Optional[str]]:
    """`host.invoke`, run in the fleet's own nursery. quart cancels a route's task when its caller's connection resets,
    and with it the invoke, while the fleet placed it (starting an environment for it): what the API accepted would
    be dropped without a word. Lambda runs an invoke whose caller went away; so does the plain route, which does not
    watch for hang-ups. The fleet's end still ends it, as every invoke."""
    done = trio.Event()
    ended: list[outcome.Outcome[tuple[f.InvocationResult, Optional[str]]]] = []

    async def run() -> None:
        try:
            ended.append(outcome.Value(await host.invoke(payload, **kwargs)))  # type: ignore[arg-type]
        except Exception as exc:  # Throttled, EventRefused...: the route answers them
            ended.append(outcome.Error(exc))
        finally:
            done.set()

    host.start_soon(run)
    await done.wait()
    if not ended:  # cancelled by the fleet's end: so is this route
        await trio.sleep_forever()
    return ended[0].unwrap()


def invoke_async_blueprint(host: FleetHost) -> Blueprint:
    """InvokeAsync: an Event invoke by an older route, which Lambda still serves. It answers 202 and botocore reads
    `Status` from that code; it never propagates a trace id to the function (its API reference says so)."""
    api = Blueprint("invoke_async", __name__, url_prefix="/2014-11-13/functions")

    # Both spellings: botocore sends none, the API reference writes a trailing slash.
    @api.post("/<path:function_name>/invoke-async/", strict_slashes=False, provide_automatic_options=False)
    async def invoke_async(function_name: str) -> Response:
        try:
            payload, too_large, size = await read_body(MAX_INVOKE_ASYNC_BYTES)
            if too_large:
                raise InvokeRefused(413, REQUEST_TOO_LARGE, f"{size} byte payload is too large for the InvokeAsync "
                                                            f"operation (limit {MAX_INVOKE_ASYNC_BYTES} bytes)")
            payload = checked_payload(payload, False, EVENT)
            qualifier = checked_qualifier(function_name, "", host.config)
        except InvokeRefused as refused:
            return api_error(refused)
        try:
            result, _ = await host.invoke(payload, asynchronous=True, qualifier=qualifier)
        except (EventRefused, Throttled) as refused:
            return event_refused(refused)
        if result.api_status:
            status, headers, body = result_parts(result, None, host.options.function_version)
            return Response(body, status=status, headers=dict(headers))
        return Response(b'{"Status": 202}', status=202, headers={"Content-Type": "application/json",
                                                                  h.AMZN_REQUEST_ID: result.request_id})

    return api
