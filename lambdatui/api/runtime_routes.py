"""Runtime API `2018-06-01` (lambda-spec §1): what the function's runtime process calls."""

from __future__ import annotations

from quart import Blueprint, Response, request

from lambdatui.api import headers as h
from lambdatui.api.rendering import body_was_truncated, from_reply, read_body
from lambdatui.core import inputs as ins
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model import error_types as et

ERROR_BODY_LIMIT = 1024 * 1024  # RAPID caps /error bodies at 1 MiB


def runtime_blueprint(host: EnvironmentHost) -> Blueprint:
    api = Blueprint("runtime", __name__, url_prefix="/2018-06-01/runtime")

    @api.get("/invocation/next")
    async def next_invocation() -> Response:
        return from_reply(await host.request(ins.RuntimeNext))

    @api.post("/invocation/<request_id>/response")
    async def invocation_response(request_id: str) -> Response:
        mode = request.headers.get(h.RESPONSE_MODE, "")
        invalid_mode = mode if mode and mode.lower() != "streaming" else None
        body, too_large = await read_body(et.MAX_RESPONSE_BYTES)
        truncated = body_was_truncated()
        content_type = request.headers.get("Content-Type", "application/json")
        return from_reply(await host.request(
            lambda token: ins.RuntimeResponse(token, request_id, body, content_type, too_large, invalid_mode, truncated)
        ))

    @api.post("/invocation/<request_id>/error")
    async def invocation_error(request_id: str) -> Response:
        body, _ = await read_body(ERROR_BODY_LIMIT)
        truncated = body_was_truncated()
        content_type = request.headers.get("Content-Type", "application/json")
        error_type = request.headers.get(h.FUNCTION_ERROR_TYPE)
        return from_reply(await host.request(
            lambda token: ins.RuntimeInvocationError(token, request_id, body, content_type, error_type, truncated)
        ))

    @api.post("/init/error")
    async def init_error() -> Response:
        body, _ = await read_body(ERROR_BODY_LIMIT)
        content_type = request.headers.get("Content-Type", "application/json")
        error_type = request.headers.get(h.FUNCTION_ERROR_TYPE)
        return from_reply(await host.request(lambda token: ins.RuntimeInitError(token, body, content_type, error_type)))

    return api
