"""Faults: injected, refused or armed at a boundary, and an Init that failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lambdatui.model.boundaries import Boundary
from lambdatui.model.error_types import body_error_type


@dataclass(frozen=True)
class FaultInjected:
    """A requested fault took effect (`description`: which, as model/faults.describe puts it)."""

    description: str
    # How far into the invoke in flight it acted, once that invoke's event went out: the invoke's own milliseconds
    # since delivery, holds and inspections excluded. A recording writes it as the fault's `after_ms`, so that a
    # replay acts as far into the handler. None: no invoke's event was out (idle, Init, held before delivery).
    invoke_elapsed_ms: Optional[float] = None


@dataclass(frozen=True)
class FaultRefused:
    """A fault that could not take effect here (no deadline running, no such participant...): nothing was injected."""

    description: str
    reason: str


@dataclass(frozen=True)
class InitFailed:
    """Init ended without success: what the runtime reported (its /init/error body), or what the platform saw.

    `payload` is the runtime's own error document (errorType, errorMessage, stackTrace) when it sent one,
    else empty; `detail` is the platform's account (which participant exited, what Init was waiting on).
    """

    status: str  # "error", "timeout", "failure"
    error_type: Optional[str]
    detail: str
    payload: bytes = b""
    phase: str = "init"  # "init", or "invoke" for a suppressed init inside an invoke

    @property
    def runtime_error_type(self) -> Optional[str]:
        """The errorType of the runtime's own document, as it reported it (None without one). The platform's
        `error_type` can differ: INIT_REPORT sanitises a handler's type to Runtime.Unknown (lambda-spec §1.5)."""
        return body_error_type(self.payload)

    @property
    def shown_type(self) -> str:
        """How the Init failed, as the header and Result say it: the runtime's type, else the platform's, else
        the status."""
        return self.runtime_error_type or self.error_type or self.status


@dataclass(frozen=True)
class FaultArmed:
    """A requested fault waits for `boundary`: it takes effect when the lifecycle reaches it."""

    description: str
    boundary: Boundary
