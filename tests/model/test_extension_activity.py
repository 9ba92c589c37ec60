"""What each extension subscribed to and was sent, folded from the facts (issue 10: "The debugger shows it").

The facts are fed directly, in the order the controller publishes them: the core's (subscriptions, INVOKE and
SHUTDOWN handed over, phases) and the host's telemetry delivery (batches, failed attempts, drops).
"""

from __future__ import annotations

import json

from lambdatui.model import debug_snapshot as ds
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.model.debug_state import MAX_RECEIVED_EVENTS, DebugState, ExtensionActivities
from lambdatui.model.telemetry import LOGS, TELEMETRY, Subscription

SUB = Subscription(TELEMETRY, "2022-12-13", ("platform", "function"), 1000, 262144, 100, "HTTP", 4243,
                   "/telemetry", "POST", "http://sandbox.localdomain:4243/telemetry")
RID = "a1000000-0000-4000-8000-000000000001"


def invoke_event(request_id: str = RID) -> bytes:
    return json.dumps({"eventType": "INVOKE", "deadlineMs": 1, "requestId": request_id,
                       "invokedFunctionArn": "arn", "tracing": {}}).encode()


def batch(*types: str, error: str | None = None, attempt: int = 1, at: float = 0.0,
          extension: str = "obs") -> f.TelemetryDelivered:
    records = [{"time": "2023-11-14T22:13:20.000Z", "type": t, "record": {}} for t in types]
    text = json.dumps(records)
    return f.TelemetryDelivered(extension, TELEMETRY, len(types), len(text), tuple(types), error, attempt, text, at)


def cold_then_invoke(state: DebugState) -> None:
    state.apply(f.StateChanged(EnvState.INIT, 1), 10.0)
    state.apply(f.TelemetrySubscribed("obs", SUB, 10.05))
    state.apply(batch("platform.initStart", "platform.telemetrySubscription", at=10.2))
    state.apply(f.StateChanged(EnvState.FROZEN, 1), 10.3)
    state.apply(f.PhaseStarted("invoke", RID, 11.0))
    state.apply(f.StateChanged(EnvState.RUNNING, 1), 11.0)
    state.apply(f.ExtensionEventDelivered("obs", invoke_event(), 11.001))
    state.apply(batch("platform.start", "function", "platform.runtimeDone", at=11.1))


def test_nothing_is_listed_before_an_extension_subscribes_or_receives_anything() -> None:
    state = DebugState()
    state.apply(f.StateChanged(EnvState.INIT, 1), 1.0)
    assert state.extensions.views() == ()


def test_the_subscription_and_every_event_in_order_with_what_the_environment_was_doing() -> None:
    state = DebugState()
    cold_then_invoke(state)
    (obs,) = state.extensions.views()
    assert obs.name == "obs" and obs.subscription == SUB
    assert [(e.seq, e.kind, e.during) for e in obs.events] == [
        (1, ds.BATCH, "init"), (2, ds.INVOKE, "invoke a1000000"), (3, ds.BATCH, "invoke a1000000")]
    first, invoke, second = obs.events
    assert first.types == ("platform.initStart", "platform.telemetrySubscription")
    assert round(first.since_ms) == 200  # Init began at 10.0
    assert invoke.request_id == RID and json.loads(invoke.body)["eventType"] == "INVOKE"
    assert round(invoke.since_ms) == 1
    assert [r["type"] for r in json.loads(second.body)] == ["platform.start", "function", "platform.runtimeDone"]


def test_delivery_counts_failures_retries_drops_and_the_last_delivery() -> None:
    state = DebugState()
    cold_then_invoke(state)
    state.apply(batch("platform.report", error="connection refused", at=12.0))
    state.apply(batch("platform.report", error="connection refused", attempt=2, at=12.02))
    state.apply(batch("platform.report", attempt=3, at=12.06))
    state.apply(f.TelemetryDropped("obs", 40, 9000, 12.5))
    (obs,) = state.extensions.views()
    assert (obs.batches, obs.records, obs.failed, obs.retries) == (3, 6, 2, 2)
    assert obs.bytes == sum(e.bytes for e in obs.events if e.kind == ds.BATCH and e.error is None)
    assert (obs.dropped_records, obs.dropped_bytes) == (40, 9000)
    assert obs.last_delivery_at == 12.06
    assert [(e.kind, e.error, e.attempt) for e in obs.events[-4:]] == [
        (ds.BATCH, "connection refused", 1), (ds.BATCH, "connection refused", 2), (ds.BATCH, None, 3),
        (ds.DROPPED, None, 1)]


def test_shutdown_carries_its_reason_and_a_later_subscription_replaces_the_earlier() -> None:
    state = DebugState()
    cold_then_invoke(state)
    state.apply(f.StateChanged(EnvState.SHUTTING_DOWN, 1), 20.0)
    shutdown = {"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 2}
    state.apply(f.ExtensionEventDelivered("obs", json.dumps(shutdown).encode(), 20.4))
    logs = Subscription(LOGS, "2021-03-18", ("platform",), 1000, 262144, 1000, "TCP", 4244)
    state.apply(f.TelemetrySubscribed("obs", logs, 30.0))
    (obs,) = state.extensions.views()
    last = obs.events[-1]
    assert (last.kind, last.reason, last.during, round(last.since_ms)) == (ds.SHUTDOWN, "spindown", "shutdown", 400)
    assert obs.subscription == logs


def test_extensions_are_listed_in_the_order_first_seen_and_the_snapshot_finds_them_by_name() -> None:
    activities = ExtensionActivities()
    activities.apply(f.ExtensionEventDelivered("second", invoke_event(), 1.0))
    activities.apply(f.TelemetrySubscribed("first", SUB, 2.0))
    assert [x.name for x in activities.views()] == ["second", "first"]


def test_views_are_cached_until_something_changes() -> None:
    activities = ExtensionActivities()
    activities.apply(batch("function", at=1.0))
    views = activities.views()
    activities.apply(f.LogLine(f.PLATFORM, "START"))
    assert activities.views() is views
    activities.apply(batch("function", at=2.0))
    assert activities.views() is not views and len(activities.views()[0].events) == 2


def test_the_event_list_is_bounded_and_counts_what_it_let_go() -> None:
    activities = ExtensionActivities()
    for i in range(MAX_RECEIVED_EVENTS + 7):
        activities.apply(batch("function", at=float(i + 1)))
    (obs,) = activities.views()
    assert len(obs.events) == MAX_RECEIVED_EVENTS and obs.forgotten == 7
    assert obs.events[0].seq == 8 and obs.batches == MAX_RECEIVED_EVENTS + 7


def test_large_batches_are_bounded_by_their_text_too() -> None:
    activities = ExtensionActivities()
    big = "x" * (1024 * 1024)
    for i in range(6):
        activities.apply(f.TelemetryDelivered("obs", TELEMETRY, 1, len(big), ("function",), batch=big, at=i + 1.0))
    (obs,) = activities.views()
    assert len(obs.events) == 4 and obs.forgotten == 2  # 4 MB kept


def test_an_event_that_is_not_json_is_kept_as_sent() -> None:
    activities = ExtensionActivities()
    activities.apply(f.ExtensionEventDelivered("obs", b"\xffnot json", 1.0))
    (event,) = activities.views()[0].events
    assert event.kind == "?" and event.request_id is None and "not json" in event.body
