"""The private `/lambdatui/v1` family: what only our own bootstrap sends (never confused with Lambda's paths)."""

from __future__ import annotations

import json

from quart import Blueprint, Response

from lambdatui.api.rendering import error, from_reply, read_body
from lambdatui.core import inputs as ins
from lambdatui.host.environment_host import EnvironmentHost


def private_blueprint(host: EnvironmentHost) -> Blueprint:
    api = Blueprint("lambdatui", __name__, url_prefix="/lambdatui/v1")

    @api.get("/function-init")
    async def function_init_gate() -> Response:
        return from_reply(await host.request(ins.FunctionInitGate))

    @api.post("/inspection")
    async def inspection_started() -> Response:
        await read_body(1024)
        host.inspection_started()
        return Response(b'{"status":"OK"}', status=202, content_type="application/json")

    @api.post("/globals")
    async def globals_report() -> Response:
        body, too_large = await read_body(4 * 1024 * 1024)
        if too_large:
            return error(413, "RequestEntityTooLarge", "globals report too large")
        try:
            report = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return error(400, "InvalidRequestFormat", f"globals report is not JSON: {exc}")
        if not isinstance(report, dict):
            return error(400, "InvalidRequestFormat", "globals report must be a JSON object")
        try:
            host.globals_reported(report)
        except ValueError as exc:
            return error(400, "InvalidRequestFormat", str(exc))
        return Response(b'{"status":"OK"}', status=202, content_type="application/json")

    return api
