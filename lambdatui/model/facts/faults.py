"""Faults: injected, refused or armed at a boundary, and an Init that failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lambdatui.model.boundaries import Boundary


@dataclass(frozen=True)
class FaultInjected:
    """A requested fault took effect (`description`: which, as model/faults.describe puts it)."""

    description: str


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


@dataclass(frozen=True)
class FaultArmed:
    """A requested fault waits for `boundary`: it takes effect when the lifecycle reaches it."""

    description: str
    boundary: Boundary
