"""The Telemetry and Logs APIs' vocabulary: what an extension subscribed to (lambda-spec §3)."""

from __future__ import annotations

from dataclasses import dataclass

TELEMETRY = "telemetry"
LOGS = "logs"
LOGS_DROPPED = "platform.logsDropped"  # the record that says a subscriber's buffer overflowed


@dataclass(frozen=True)
class Subscription:
    """What an extension subscribed to: which API, which record types, how they are batched, and where
    they are sent."""

    api: str  # TELEMETRY or LOGS
    schema_version: str
    types: tuple[str, ...]
    max_items: int
    max_bytes: int
    timeout_ms: int
    protocol: str  # "HTTP" or "TCP"
    port: int  # on the sandbox's loopback
    path: str = "/"  # HTTP only
    method: str = "POST"  # HTTP only
    uri: str = ""  # as the extension gave it (HTTP), for the debugger
