"""Traffic on the sandbox's APIs: Telemetry and Logs API subscriptions and deliveries, every request's exchange."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lambdatui.model.telemetry import Subscription


@dataclass(frozen=True)
class TelemetrySubscribed:
    """An extension subscribed to the Telemetry API or the Logs API (a later one replaces its earlier one)."""

    extension: str
    subscription: Subscription
    at: float = 0.0


@dataclass(frozen=True)
class TelemetryDelivered:
    """One batch a subscriber's listener was sent (or failed to take: `error` says why, and it is retried)."""

    extension: str
    api: str
    records: int
    bytes: int
    types: tuple[str, ...]  # the records' types, in order
    error: Optional[str] = None
    attempt: int = 1
    batch: str = ""  # the JSON sent, for the debugger's event view (bounded by maxBytes)
    at: float = 0.0


@dataclass(frozen=True)
class TelemetryDropped:
    """Records a subscriber's buffer had to drop because its listener fell behind (platform.logsDropped, to that
    subscriber), or could not deliver before it ended. `gone`: its process or environment had ended, so nobody is
    told (a new extension of the same name, after a reset, is another process); the debugger still shows it."""

    extension: str
    records: int
    bytes: int
    at: float = 0.0
    gone: bool = False


PREVIEW_BYTES = 200  # of each body kept in an `ApiExchanged`: its preview decodes at most these first bytes


@dataclass(frozen=True)
class ApiExchanged:
    """One request a process in the environment made to the sandbox's API (Runtime, Extensions, Telemetry, Logs, the
    metadata endpoint, lambdatui's private family) and its answer, for the debugger's API traffic view
    (api/api_capture.py).

    A long poll (every GET there but the metadata endpoint's: /next, the init gate) is published twice under one
    `seq`: once as it parks (`answered` None, `status` 0) and once answered. Previews are the bodies' first bytes,
    never whole bodies."""

    seq: int  # numbers the environment's exchanges in the order they began
    participant: str  # "runtime", the extension's name, or the metadata endpoint's callers (api_capture.py)
    method: str
    path: str
    status: int  # 0: not answered (still parked, or the caller hung up: `answered` says which)
    request_headers: tuple[tuple[str, str], ...]  # the ones that matter (api_capture.REQUEST_HEADERS), as sent
    response_headers: tuple[tuple[str, str], ...]
    request_preview: str
    response_preview: str
    started: float  # wall clock, seconds
    answered: Optional[float] = None  # wall clock; None while parked
    request_bytes: int = 0
    response_bytes: int = 0
    error_type: str = ""  # a refusal's errorType, or the error type the caller reported in its header
    long_poll: bool = False  # a request that parks until the lifecycle answers it (/next)

    @property
    def parked_ms(self) -> Optional[float]:
        """How long a long poll waited (None for other requests, and while it still waits)."""
        if not self.long_poll or self.answered is None:
            return None
        return (self.answered - self.started) * 1000
