"""The Telemetry and Logs APIs' events as the translator (telemetry_records.py) builds them: their categories and
audiences, and what one subscriber takes of them (its API, its `types`, its schema version). What a platform
event's record holds is telemetry_platform_records.py.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from lambdatui.model.telemetry import TELEMETRY, Subscription

PLATFORM = "platform"
FUNCTION = "function"
EXTENSION = "extension"
JSON_RECORDS_FROM = "2022-12-13"  # Telemetry API schema from which function/extension records may be objects
LOGS_RUNTIME_DONE_SCHEMA = "2021-03-18"  # the Logs API schema that adds platform.runtimeDone

# Who an event is for (`Event.audience`): both APIs, one of them, or Logs API subscribers of schema 2021-03-18.
EVERYONE = "everyone"
TELEMETRY_ONLY = "telemetry"
LOGS_ONLY = "logs"
LOGS_2021 = "logs-2021-03-18"

Envelope = dict[str, Any]


class Event:
    """One event, before it is chosen for subscribers: its category (what `types` selects), who it is for, the
    envelope, and for a JSON log line the envelope with the line as an object (`structured`)."""

    __slots__ = ("category", "audience", "envelope", "structured")

    def __init__(self, category: str, audience: str, envelope: Envelope, structured: Optional[Envelope] = None):
        self.category = category
        self.audience = audience
        self.envelope = envelope
        self.structured = structured

    def __repr__(self) -> str:
        return f"Event({self.category!r}, {self.audience!r}, {self.envelope!r})"


class SubscriberView:
    """One subscriber's filter: which events it takes and in which form (`select`)."""

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

    def envelope(self, event: Event) -> Envelope:
        if self.structured and event.structured is not None:
            return event.structured
        return event.envelope

    def select(self, events: Sequence[Event]) -> list[Envelope]:
        return [self.envelope(ev) for ev in events if ev.category in self.types and ev.audience in self.audiences]
