"""The Telemetry and Logs APIs' events as the translator (telemetry_records.py) builds them: their vocabulary
(types, reasons, audiences), the function's identity they carry, and what one subscriber takes of them (its API,
its `types`, its schema version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from lambdatui.model.telemetry import TELEMETRY, Subscription

PLATFORM = "platform"
FUNCTION = "function"
EXTENSION = "extension"
SUBSCRIBED = "Subscribed"
TIMED_OUT = "Sandbox.Timedout"
TRACE_HEADER = "X-Amzn-Trace-Id"
JSON_RECORDS_FROM = "2022-12-13"  # Telemetry API schema from which function/extension records may be objects
LOGS_RUNTIME_DONE_SCHEMA = "2021-03-18"  # the Logs API schema that adds platform.runtimeDone
# An Init that logs without end, before anyone subscribes, must not take the host's memory: past this many
# events the replay keeps the first ones only (Lambda's own buffer is bounded by maxItems, at most 10,000).
INIT_REPLAY_LIMIT = 10_000
TELEMETRY_DROP_REASON = "Some logs were dropped because the downstream consumer is slower than the logs production rate"
LOGS_DROP_REASON = "Consumer seems to have fallen behind as it has not acknowledged receipt of logs."

# Who an event is for (`Event.audience`): both APIs, one of them, or Logs API subscribers of schema 2021-03-18.
EVERYONE = "everyone"
TELEMETRY_ONLY = "telemetry"
LOGS_ONLY = "logs"
LOGS_2021 = "logs-2021-03-18"

Envelope = dict[str, Any]
Delivery = tuple[str, list[Envelope]]


@dataclass(frozen=True)
class FunctionInfo:
    """What `platform.initStart` and `platform.start` say about the function."""

    function_name: str
    function_version: str = "$LATEST"
    memory_mb: int = 128
    runtime_version: str = ""
    runtime_version_arn: str = ""
    instance_id: str = ""  # RAPID sends the log stream's name
    initialization_type: str = "on-demand"

    @classmethod
    def of(cls, config: Any, instance_id: str = "") -> FunctionInfo:
        """From the core's `EnvironmentConfig` (or anything with its attribute names)."""
        return cls(config.function_name, config.function_version, config.memory_mb, config.runtime_version,
                   config.runtime_version_arn, instance_id)


class Event:
    """One event, before it is chosen for subscribers: its category (what `types` selects), who it is for, the
    envelope, and for a JSON log line the envelope with the line as an object (`structured`)."""

    __slots__ = ("category", "audience", "envelope", "structured")

    def __init__(self, category: str, audience: str, envelope: Envelope, structured: Optional[Envelope] = None):
        self.category = category
        self.audience = audience
        self.envelope = envelope
        self.structured = structured

    @property
    def type(self) -> str:
        return self.envelope["type"]

    def __repr__(self) -> str:
        return f"Event({self.category!r}, {self.audience!r}, {self.envelope!r})"


class SubscriberView:
    """One subscriber's filter: which events it takes (`wants`) and in which form (`envelope`)."""

    __slots__ = ("name", "subscription", "types", "audiences", "structured")

    def __init__(self, name: str, subscription: Subscription, json_logs: bool) -> None:
        self.name = name
        self.subscription = subscription
        self.types = frozenset(subscription.types)
        if subscription.api == TELEMETRY:
            self.audiences = frozenset((EVERYONE, TELEMETRY_ONLY))
        elif subscription.schema_version >= LOGS_RUNTIME_DONE_SCHEMA:
            self.audiences = frozenset((EVERYONE, LOGS_ONLY, LOGS_2021))
        else:
            self.audiences = frozenset((EVERYONE, LOGS_ONLY))
        self.structured = (json_logs and subscription.api == TELEMETRY
                           and subscription.schema_version >= JSON_RECORDS_FROM)

    def wants(self, event: Event) -> bool:
        return event.category in self.types and event.audience in self.audiences

    def envelope(self, event: Event) -> Envelope:
        if self.structured and event.structured is not None:
            return event.structured
        return event.envelope

    def select(self, events: Sequence[Event]) -> list[Envelope]:
        return [self.envelope(ev) for ev in events if ev.category in self.types and ev.audience in self.audiences]
