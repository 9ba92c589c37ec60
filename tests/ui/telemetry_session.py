"""A debugger state where an extension subscribed to the Telemetry API and was sent events (issue 10).

The facts are fed directly, as the controller publishes them (the core's subscription, INVOKE and SHUTDOWN, the
host's deliveries), into the model's own reducer; the result goes into the recorded cold start of
`sample_functions/extension` (its `audit` extension), now warm after one invoke. Fixed clock readings, so the
picture is the same on every run.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from replay_backend import RecordedSession, load_session

from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.debug_state import ExtensionActivities
from lambdatui.model.telemetry import TELEMETRY, Subscription

NAME = "audit"
SUBSCRIPTION = Subscription(TELEMETRY, "2022-12-13", ("platform", "function"), 1000, 262144, 100, "HTTP", 4243,
                            "/telemetry", "POST", "http://sandbox.localdomain:4243/telemetry")
RID = "a1000000-0000-4000-8000-000000000001"
TIME = "2023-11-14T22:13:20.000Z"
AS_OF = 1002.0


def record(kind: str, body: Any) -> dict[str, Any]:
    return {"time": TIME, "type": kind, "record": body}


def delivered(at: float, *records: dict[str, Any], error: str | None = None, attempt: int = 1) -> f.TelemetryDelivered:
    text = json.dumps(list(records))
    return f.TelemetryDelivered(NAME, TELEMETRY, len(records), len(text), tuple(r["type"] for r in records), error,
                                attempt, text, at)


INIT_RECORDS = (
    record("platform.initStart", {"initializationType": "on-demand", "phase": "init", "functionName": "extension"}),
    record("platform.telemetrySubscription", {"name": NAME, "state": "Subscribed", "types": ["platform", "function"]}),
)
INVOKE_RECORDS = (
    record("platform.start", {"requestId": RID, "version": "$LATEST"}),
    record("function", "handling one event\n"),
    record("function", "done\n"),
    record("platform.runtimeDone", {"requestId": RID, "status": "success", "metrics": {"durationMs": 2.5}}),
)
REPORT = record("platform.report", {"requestId": RID, "status": "success",
                                    "metrics": {"durationMs": 2.5, "billedDurationMs": 3, "memorySizeMB": 128}})


def facts() -> list[tuple[f.Fact, float]]:
    """(fact, clock reading) in the order the controller published them."""
    invoke = json.dumps({"eventType": "INVOKE", "deadlineMs": 1_700_000_003_000, "requestId": RID,
                         "invokedFunctionArn": "arn:aws:lambda:us-east-1:012345678912:function:extension",
                         "tracing": {"type": "X-Amzn-Trace-Id", "value": ""}}).encode()
    return [
        (f.StateChanged(EnvState.INIT, 1), 1000.0),
        (f.TelemetrySubscribed(NAME, SUBSCRIPTION, 1000.02), 1000.02),
        (delivered(1000.03, *INIT_RECORDS, error="connection refused (listener not up yet)"), 1000.03),
        (delivered(1000.05, *INIT_RECORDS, attempt=2), 1000.05),
        (f.StateChanged(EnvState.FROZEN, 1), 1000.1),
        (f.PhaseStarted("invoke", RID, 1001.0), 1001.0),
        (f.StateChanged(EnvState.RUNNING, 1), 1001.0),
        (f.ExtensionEventDelivered(NAME, invoke, 1001.0002), 1001.0002),
        (delivered(1001.104, *INVOKE_RECORDS), 1001.104),
        (delivered(1001.21, REPORT), 1001.21),
        (f.StateChanged(EnvState.FROZEN, 1), 1001.3),
    ]


def activity_snapshot(session: str = "cold_held_init_function") -> DebuggerSnapshot:
    """The recorded cold start, warm and frozen after the invoke above, with the audit extension's activity."""
    recorded: RecordedSession = load_session(session)
    activities = ExtensionActivities()
    for fact, at in facts():
        activities.apply(fact, at)
    snapshot = recorded.snapshot
    participants = tuple(dataclasses.replace(p, state="Ready", alive=True, parked=True, parked_since=1001.25,
                                             next_delivery="INVOKE" if p.key != "runtime" else "the next invoke's event")
                         for p in snapshot.environment.participants)
    environment = dataclasses.replace(snapshot.environment, state=EnvState.FROZEN, held_at=None, frozen=True,
                                      participants=participants, as_of=AS_OF, invocations_done=1)
    # The fleet as it is then: the one environment, FROZEN after its first invoke, which met it cold.
    lines = tuple(dataclasses.replace(line, state=EnvState.FROZEN, held_at=None, invocations=1)
                  for line in snapshot.environments)
    fleet = snapshot.fleet and dataclasses.replace(snapshot.fleet, cold_starts=1, peak_concurrency=1)
    return dataclasses.replace(snapshot, environment=environment, extensions=activities.views(), invocations=1,
                               environments=lines, fleet=fleet)
