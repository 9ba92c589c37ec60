"""The private `/lambdatui/v1` family: what only our own bootstrap sends (never confused with Lambda's paths)."""

from __future__ import annotations

import json
from typing import Optional

from lambdatui.api.http11_exchange import Exchange, Route
from lambdatui.api.rendering import ACCEPTED, Answer, error, from_reply
from lambdatui.core import inputs as ins
from lambdatui.host.environment_host import EnvironmentHost

PREFIX = "/lambdatui/v1"
GLOBALS_BODY_LIMIT = 4 * 1024 * 1024
WORKER_REPORT_LIMIT = 4096


def private_routes(host: EnvironmentHost) -> list[tuple[str, str, Route]]:
    async def function_init_gate(exchange: Exchange) -> Optional[Answer]:
        # Held while the user holds before Function init: a long poll, like /next.
        # Written as the core decides it (as /next's): the runtime's wait for the host ends there, not a pass later.
        arrived = exchange.arrived
        reply = await host.request(lambda token: ins.FunctionInitGate(token, arrived),
                                   lambda reply: exchange.answer_now(from_reply(reply)),
                                   long_poll=exchange)
        return None if reply is None else exchange.early or from_reply(reply)

    async def inspection_started(exchange: Exchange) -> Answer:
        host.inspection_started(exchange.arrived)
        return ACCEPTED

    async def globals_report(exchange: Exchange) -> Answer:
        if exchange.too_large:
            return error(413, "RequestEntityTooLarge", "globals report too large")
        try:
            report = json.loads(exchange.body)
        except (ValueError, RecursionError) as exc:
            return error(400, "InvalidRequestFormat", f"globals report is not JSON: {exc}")
        if not isinstance(report, dict):
            return error(400, "InvalidRequestFormat", "globals report must be a JSON object")
        try:
            host.globals_reported(report)
        except ValueError as exc:
            return error(400, "InvalidRequestFormat", str(exc))
        return ACCEPTED

    async def worker_exited(exchange: Exchange) -> Answer:
        # Managed Instances: our runtime's parent process says a worker ended ({"pid", "code" or "signal",
        # "requestId"}): Lambda never hears of it, the debugger shows it.
        try:
            report = json.loads(exchange.body)
        except (ValueError, RecursionError) as exc:
            return error(400, "InvalidRequestFormat", f"worker report is not JSON: {exc}")
        fields = report if isinstance(report, dict) else {}
        pid, code, signal_number, request_id = (fields.get(k) for k in ("pid", "code", "signal", "requestId"))
        if (not isinstance(pid, int) or not isinstance(code, (int, type(None)))
                or not isinstance(signal_number, (int, type(None))) or not isinstance(request_id, (str, type(None)))):
            return error(400, "InvalidRequestFormat", "worker report: pid (int), code or signal (int), requestId")
        host.worker_exited(pid, code, signal_number, request_id or None)
        return ACCEPTED

    return [
        ("POST", f"{PREFIX}/worker-exited", Route(worker_exited, WORKER_REPORT_LIMIT)),
        ("GET", f"{PREFIX}/function-init", Route(function_init_gate)),
        ("POST", f"{PREFIX}/inspection", Route(inspection_started)),
        ("POST", f"{PREFIX}/globals", Route(globals_report, GLOBALS_BODY_LIMIT)),
    ]
