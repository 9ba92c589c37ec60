"""Effects the host carries out. The core decides; the host only does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Union

from lambdatui.core.inputs import Token
from lambdatui.model.facts import Fact, InvocationResult

RUNTIME = "runtime"


def extension_key(name: str) -> str:
    return f"extension:{name}"


@dataclass(frozen=True)
class Spawn:
    """Start a participant's process (the runtime or an extension) for the environment's Init number `generation`."""

    participant: str  # RUNTIME or extension_key(name)
    generation: int


@dataclass(frozen=True)
class Reply:
    """Answer a request the core was holding (or answer at once)."""

    token: Token
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class EventRefusal(NamedTuple):
    """An Event invoke turned away instead of queued, as the Invoke API answers it."""

    status: int
    error_type: str
    message: str
    reason: Optional[str] = None  # TooManyRequestsException's Reason


@dataclass(frozen=True)
class AnswerEvent:
    """An Event invoke's caller hears at once: queued (202, `refusal` None) or turned away, and why."""

    token: Token
    refusal: Optional[EventRefusal] = None


@dataclass(frozen=True)
class CompleteInvocation:
    """Give an invoke's caller its result (`token` None: nobody waits), with its log tail if it asked for one."""

    token: Optional[Token]
    result: InvocationResult
    with_log_tail: bool = False


@dataclass(frozen=True)
class HandBack:
    """An offered invoke the environment did not take (InvokeOffered): the fleet routes it again."""

    token: Optional[Token]


@dataclass(frozen=True)
class Freeze:
    """Stop these participants' processes (SIGSTOP)."""

    participants: tuple[str, ...]
    whole: bool = False  # the environment's freeze (everything in it stops), not one participant's


@dataclass(frozen=True)
class Thaw:
    """Let these participants' stopped processes go on (SIGCONT)."""

    participants: tuple[str, ...]
    whole: bool = False


@dataclass(frozen=True)
class Terminate:
    """Ask a participant's process to end (SIGTERM)."""

    participant: str


@dataclass(frozen=True)
class Kill:
    """End a participant's process at once (SIGKILL)."""

    participant: str


@dataclass(frozen=True)
class SignalProcess:
    """Send a participant's process a signal (an injected crash)."""

    participant: str
    signal: int


@dataclass(frozen=True)
class ExitProcess:
    """Make our bootstrap exit with this code (an injected crash with an exit status)."""

    participant: str
    code: int


@dataclass(frozen=True)
class CaptureStacks:
    """Ask our bootstrap to dump its threads' stacks before it is killed (timeout); signals to it wait for the dump,
    after which it stops itself (the host feeds `StacksDumped`). `thaw_first`: the user froze it, so it must run to
    take the signal (it stops itself again once its stacks are written, and the timeout shows where it was)."""

    participant: str
    request_id: str
    thaw_first: bool = False


@dataclass(frozen=True)
class StartTimer:
    """Start the timer `name` (or move it), due at `at`: the host feeds `TimerFired` then."""

    name: str
    at: float  # monotonic seconds


@dataclass(frozen=True)
class CancelTimer:
    """Stop the timer `name`, if it runs: it will not fire."""

    name: str


@dataclass(frozen=True)
class Emit:
    """Publish a fact to every client (console, Invoke API, UI, scenarios)."""

    fact: Fact


@dataclass(frozen=True)
class RenewSandbox:
    """Give the next environment an empty /tmp."""


@dataclass(frozen=True)
class EndSandbox:
    """Every participant is gone: whatever else still runs in the sandbox (a daemon that left its process
    group) ends too, as nothing outlives a Lambda sandbox. `final`: no Init follows (lambdatui is shutting
    down), so no sandbox is prepared for one."""

    final: bool = False


Effect = Union[
    Spawn, Reply, AnswerEvent, CompleteInvocation, HandBack, Freeze, Thaw, Terminate, Kill, SignalProcess, ExitProcess,
    CaptureStacks, StartTimer, CancelTimer, Emit, RenewSandbox, EndSandbox,
]
