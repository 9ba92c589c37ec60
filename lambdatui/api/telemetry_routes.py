"""Telemetry API `2022-07-01` and Logs API `2020-08-15` subscriptions (lambda-spec §3.1, §3.7).

The identifier is checked here as the Extensions API checks it; the body is validated by the core, which
decides whether the subscription is taken (core/telemetry_rules.py).
"""

from __future__ import annotations

from lambdatui.api.extension_routes import extension_identifier
from lambdatui.api.http11_exchange import Exchange, Route
from lambdatui.api.rendering import Answer, error, from_reply
from lambdatui.core import inputs as ins
from lambdatui.core.common import NOT_FOUND
from lambdatui.core.telemetry_subscription import validation_error_type
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model.telemetry import LOGS, TELEMETRY

SUBSCRIBE_BODY_LIMIT = 64 * 1024


def telemetry_routes(host: EnvironmentHost) -> list[tuple[str, str, Route]]:
    def subscribe(api: str) -> Route:
        async def handle(exchange: Exchange) -> Answer:
            if api == LOGS and host.env.config.managed:
                # RAPID on Managed Instances serves no Logs API: the path is unknown there, whoever asks
                # (the core gives the same answer, core/managed_runtime_rules.py).
                return error(404, *NOT_FOUND)
            extension_id = extension_identifier(exchange)
            if isinstance(extension_id, Answer):
                return extension_id
            if exchange.too_large:
                return error(400, validation_error_type(api), "The subscription request is too large")
            body = exchange.body
            return from_reply(await host.request(lambda token: ins.TelemetrySubscribe(token, extension_id, api, body)))

        return Route(handle, SUBSCRIBE_BODY_LIMIT)

    return [
        ("PUT", "/2022-07-01/telemetry", subscribe(TELEMETRY)),
        ("PUT", "/2020-08-15/logs", subscribe(LOGS)),
    ]
