"""Telemetry API and Logs API subscriptions: validated as Lambda does, open during the extension's Init only (issue 10)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from driver import Driver

from lambdatui.core import inputs as ins
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.model.telemetry import LOGS, TELEMETRY

GOOD: dict[str, Any] = {
    "schemaVersion": "2022-12-13",
    "types": ["platform", "function"],
    "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 100},
    "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/telemetry"},
}


def registered(*names: str) -> Driver:
    d = Driver(extensions=names or ("obs",))
    d.start()
    for name in names or ("obs",):
        d.register(name)
    return d


def subscribe(d: Driver, body: Any, name: str = "obs", api: str = TELEMETRY, extension_id: str | None = None):
    tok = d.token()
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    d.feed(ins.TelemetrySubscribe(tok, d.ext_ids[name] if extension_id is None else extension_id, api, raw))
    reply = d.reply(tok)
    return reply.status, json.loads(reply.body)


def test_a_valid_subscription_is_ok_and_a_fact_with_the_buffering_asked_for() -> None:
    d = registered()
    assert subscribe(d, GOOD) == (200, "OK")
    [fact] = d.facts(f.TelemetrySubscribed)
    sub = fact.subscription
    assert (fact.extension, sub.api, sub.schema_version, sub.types) == ("obs", TELEMETRY, "2022-12-13",
                                                                         ("platform", "function"))
    assert (sub.max_items, sub.max_bytes, sub.timeout_ms) == (1000, 262144, 100)
    assert (sub.protocol, sub.port, sub.path, sub.method) == ("HTTP", 4243, "/telemetry", "POST")


def test_buffering_defaults_are_lambdas() -> None:
    d = registered()
    body = {k: v for k, v in GOOD.items() if k != "buffering"}
    assert subscribe(d, body) == (200, "OK")
    sub = d.facts(f.TelemetrySubscribed)[0].subscription
    assert (sub.max_items, sub.max_bytes, sub.timeout_ms) == (10_000, 262_144, 1_000)


@pytest.mark.parametrize("change, words", [
    ({"schemaVersion": "2020-01-01"}, "schemaVersion"),
    ({"schemaVersion": None}, "schemaVersion"),
    ({"types": []}, "types"),
    ({"types": ["platform", "debug"]}, "types"),
    ({"buffering": {"maxItems": 999}}, "buffering.maxItems"),
    ({"buffering": {"maxItems": 10_001}}, "buffering.maxItems"),
    ({"buffering": {"maxBytes": 262_143}}, "buffering.maxBytes"),
    ({"buffering": {"maxBytes": 1_048_577}}, "buffering.maxBytes"),
    ({"buffering": {"timeoutMs": 24}}, "buffering.timeoutMs"),
    ({"buffering": {"timeoutMs": 30_001}}, "buffering.timeoutMs"),
    ({"buffering": {"timeoutMs": "100"}}, "buffering.timeoutMs"),
    ({"destination": None}, "destination"),
    ({"destination": {"protocol": "HTTPS", "URI": "https://sandbox.localdomain:1"}}, "protocol"),
    ({"destination": {"protocol": "HTTP", "URI": "http://example.com:80"}}, "sandbox"),
    ({"destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain"}}, "port"),
    ({"destination": {"protocol": "TCP", "port": 0}}, "port"),
])
def test_invalid_requests_get_400_validation_error_and_no_subscription(change: dict[str, Any], words: str) -> None:
    d = registered()
    status, body = subscribe(d, {**GOOD, **change})
    assert status == 400 and body["errorType"] == "ValidationError" and words in body["errorMessage"]
    assert d.facts(f.TelemetrySubscribed) == []


def test_a_body_that_is_not_json_is_a_validation_error_and_the_logs_api_names_it_its_own_way() -> None:
    d = registered()
    assert subscribe(d, b"{nope")[1]["errorType"] == "ValidationError"
    assert subscribe(d, b"[1]", api=LOGS)[1]["errorType"] == "Logs.ValidationError"


def test_identifier_errors_are_the_extensions_apis() -> None:
    d = registered()
    status, body = subscribe(d, GOOD, extension_id="")
    assert (status, body["errorType"]) == (403, "Extension.MissingExtensionIdentifier")
    status, body = subscribe(d, GOOD, extension_id="no-such-id")
    assert (status, body["errorType"]) == (403, "Extension.UnknownExtensionIdentifier")


def test_an_extension_parked_on_next_may_subscribe_until_init_ends() -> None:
    # lambda-spec §3.1: Lambda stops accepting subscriptions when Init ends, not when the extension is ready: one that
    # parks its main thread on /event/next may subscribe from another thread while the function's Init runs.
    d = registered()
    d.ext_next("obs")
    assert d.state is not EnvState.FROZEN  # the runtime's Init still runs
    assert subscribe(d, GOOD) == (200, "OK")
    d.runtime_next()  # Init is over
    status, body = subscribe(d, GOOD)
    assert (status, body) == (403, {"errorMessage": "Telemetry API subscription is closed",
                                    "errorType": "Telemetry.SubscriptionClosed"})
    status, body = subscribe(d, {"types": ["platform"], "destination": GOOD["destination"]}, api=LOGS)
    assert (status, body["errorType"]) == (403, "Logs.SubscriptionClosed")


def test_subscriptions_close_when_init_fails_though_the_extension_is_still_registered() -> None:
    # lambda-spec §3.1: Lambda stops accepting subscriptions when Init ends. An Init that failed (another extension
    # reported an error and exited) is over: a Registered extension subscribing during the reset that follows
    # would otherwise be told 200 and sent its platform.telemetrySubscription alone, none of the Init's events.
    d = registered("obs", "bad")
    d.ext_init_error("bad")
    d.exited("extension:bad", code=0)
    assert any(isinstance(fact, f.PhaseEnded) and fact.phase == "init" and fact.status != "success"
               for fact in d.facts())
    status, body = subscribe(d, GOOD)
    assert (status, body["errorType"]) == (403, "Telemetry.SubscriptionClosed")
    assert not d.facts(f.TelemetrySubscribed)


def test_one_api_or_the_other_and_a_second_subscription_replaces_the_first() -> None:
    d = registered()
    assert subscribe(d, GOOD) == (200, "OK")
    status, body = subscribe(d, {"types": ["platform"], "destination": GOOD["destination"]}, api=LOGS)
    assert status == 400 and "not both" in body["errorMessage"]
    tcp = {**GOOD, "destination": {"protocol": "TCP", "port": 4244}}
    assert subscribe(d, tcp) == (200, "OK")
    subs = [fact.subscription for fact in d.facts(f.TelemetrySubscribed)]
    assert [(s.protocol, s.port) for s in subs] == [("HTTP", 4243), ("TCP", 4244)]


def test_the_logs_api_defaults_its_schema_and_may_deliver_by_put() -> None:
    d = registered()
    body = {"types": ["platform", "function"],
            "destination": {"protocol": "HTTP", "URI": "http://sandbox:8080/logs", "method": "PUT"}}
    assert subscribe(d, body, api=LOGS) == (200, "OK")
    sub = d.facts(f.TelemetrySubscribed)[0].subscription
    assert (sub.api, sub.schema_version, sub.method, sub.port) == (LOGS, "2020-08-15", "PUT", 8080)
