"""Which environment takes an invoke (lambda-spec §11): the fleet's routing, as pure decisions.

The environments' own lifecycle stays in `Environment`; this module sees each one only as what routing needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple, Optional, Sequence

from lambdatui.core.managed_environment import ManagedEnvironment
from lambdatui.model.boundaries import EnvState

if TYPE_CHECKING:
    from lambdatui.core.environment import Environment


class Fit(Enum):
    """What an environment can do with an invoke now."""

    WARM = "warm"  # initialised and idle (frozen, waiting on Next): serves it at once
    FINISHING = "finishing"  # its invoke is answered; the runtime and extensions are about to call Next again
    COLD = "cold"  # idle but must initialise first (a reset environment re-initialises inside the invoke)
    RESETTING = "resetting"  # reset after a failed invoke (timeout, crash): re-initialises inside the next one
    INITIALISING = "initialising"  # no invoke assigned, initialising ahead of requests: serves it once ready
    HELD = "held"  # no invoke assigned, but held by the user at a boundary: serves it once released
    # Managed Instances: room for more invokes, but no worker waits on /next, nor is about to (the others are still in
    # their Function init): RAPID would refuse the invoke there, so another environment, even a new one, takes it
    # first; at the limit it waits here rather than being throttled.
    WORKERS_STARTING = "workers starting"
    BUSY = "busy"  # an invoke is assigned to it, or it is being reset with an invoke waiting
    ENDING = "ending"  # shutting down for good with no invoke left: none is routed to it, and it is no concurrency


class Candidate(NamedTuple):  # made for every environment on every invoke: a tuple is the cheapest record
    number: int
    fit: Fit
    provisioned: bool = False
    idle_since: float = 0.0  # when it last finished an invoke (or started): the longest idle is chosen first
    cold: bool = False  # `starts_cold`: the invoke it takes next is a cold start, whatever its fit


class Choice(Enum):
    EXISTING = "existing"  # `number` takes it (cold says whether it is that environment's cold start)
    NEW = "new"  # a new on-demand environment cold-starts for it
    THROTTLE = "throttle"  # synchronous, at the concurrency limit: 429
    QUEUE = "queue"  # asynchronous, at the limit: waits in the fleet's queue for an environment to be free
    WAIT = "wait"  # at the limit, but an environment being started will have room for it: route again once it joins


@dataclass(frozen=True)
class Route:
    """Where the fleet sends an invoke: environment `number` (`cold`: the invoke is its cold start, see
    `starts_cold`), a new one, a 429, or the fleet's queue. `passed_over`: why the environment asked for was not
    the one (it "is not alive", "is busy"...), when one was asked for."""

    choice: Choice
    number: Optional[int] = None
    cold: bool = False
    passed_over: str = ""


# What a preferred environment may be doing and still take an invoke at once, without a new environment starting.
_CAN_TAKE = (Fit.WARM, Fit.FINISHING, Fit.COLD, Fit.RESETTING, Fit.INITIALISING, Fit.WORKERS_STARTING)


def route(candidates: Sequence[Candidate], limit: int, asynchronous: bool,
          preferred: Optional[int] = None, *, starting: int = 0, per_environment: int = 1,
          waiting: int = 0) -> Route:
    """Idle warm environments first (provisioned ones before on-demand ones, then the longest idle, which
    spreads invokes over the warm environments); then one whose invoke is answered and that is finishing it (a
    caller's next invoke, sent as soon as it has its answer, finds the same warm environment, as in Lambda, not a
    cold start); then an idle one that must initialise, one being reset after a failed invoke, or one
    initialising ahead of requests; then, on Managed Instances, a wait for an environment being started that has
    room beyond the invoke it was started for and the `waiting` ones (a burst fills the workers of the environment
    it started rather than starting one environment, of M workers, per invoke); then a new
    environment while under `limit`; then a Managed Instances one with room only in workers still starting (it
    serves the invoke once one asks for work); then one the user holds at a boundary with no invoke (it serves the
    invoke once released, as a debugger user holding the only environment expects); else, while `starting` environments
    are being started that each take `per_environment` invokes at once (Managed Instances), a wait for one of them
    to join, since it has room for more than the invoke it was started for; else a throttle, or for an Event invoke,
    the queue.

    Before all of those, the `preferred` environment when it can take the invoke with no new one started
    (`_CAN_TAKE`: neither busy nor held): a replay sends an invoke where the session did, so that it meets the
    same state (globals, /tmp) when other environments were busy in the session but are idle in the replay.
    """
    if preferred is None:
        return _route(candidates, limit, asynchronous, starting, per_environment, waiting)
    asked = next((c for c in candidates if c.number == preferred), None)
    if asked is not None and asked.fit in _CAN_TAKE:
        return Route(Choice.EXISTING, asked.number, cold=_cold(asked))
    routed = _route(candidates, limit, asynchronous, starting, per_environment, waiting)
    if routed.number == preferred:
        return routed  # held, and waited for at the limit as any held one is
    why = ("is not alive" if asked is None else "is held at a boundary" if asked.fit is Fit.HELD
           else "is shutting down" if asked.fit is Fit.ENDING else "is busy")
    return replace(routed, passed_over=why)


def _route(candidates: Sequence[Candidate], limit: int, asynchronous: bool, starting: int,
           per_environment: int, waiting: int) -> Route:
    def first(fit: Fit) -> Optional[Candidate]:
        fitting = [c for c in candidates if c.fit is fit]
        return min(fitting, key=lambda c: (not c.provisioned, c.idle_since, c.number), default=None)

    for fit in (Fit.WARM, Fit.FINISHING):
        warm = first(fit)
        if warm is not None:
            return Route(Choice.EXISTING, warm.number, cold=warm.cold)
    for fit in (Fit.COLD, Fit.RESETTING, Fit.INITIALISING):
        cold = first(fit)
        if cold is not None:
            return Route(Choice.EXISTING, cold.number, cold=_cold(cold))
    if per_environment > 1 and starting * (per_environment - 1) > waiting:
        return Route(Choice.WAIT)
    if sum(1 for c in candidates if c.fit is not Fit.ENDING) < limit:
        # Concurrency counts the environments that serve invokes (lambda-spec §11.1): one spinning down serves
        # none, so a new one may start beside it, as in Lambda, rather than the invoke being throttled.
        return Route(Choice.NEW, cold=True)
    for fit in (Fit.WORKERS_STARTING, Fit.HELD):  # workers starting come by themselves; a hold waits for the user
        later = first(fit)
        if later is not None:
            return Route(Choice.EXISTING, later.number, cold=later.cold)
    if starting and per_environment > 1:
        return Route(Choice.WAIT)
    return Route(Choice.QUEUE if asynchronous else Choice.THROTTLE)


def _cold(chosen: Candidate) -> bool:
    """Whether the invoke `chosen` takes is its cold start: it must initialise first (a reset one re-initialises
    inside the invoke); one initialising ahead of requests is a cold start unless provisioned (`starts_cold` says
    which), as is a warm one whose on-demand Init ran ahead of this invoke."""
    return chosen.cold or chosen.fit in (Fit.COLD, Fit.RESETTING)


def idle_expired(candidates: Sequence[Candidate], now: float, idle_shutdown_s: Optional[float]) -> list[int]:
    """The environments to spin down: warm and idle for `idle_shutdown_s` (provisioned ones stay, as in Lambda)."""
    if idle_shutdown_s is None:
        return []
    return [c.number for c in candidates
            if c.fit in (Fit.WARM, Fit.COLD) and not c.provisioned and now - c.idle_since >= idle_shutdown_s]


def next_idle_expiry(candidates: Sequence[Candidate], idle_shutdown_s: float) -> Optional[float]:
    """When the next environment `idle_expired` would take will have been idle long enough (None: none would; one
    that becomes idle later is checked then). Provisioned environments never are, however long idle."""
    return min((c.idle_since + idle_shutdown_s for c in candidates
                if c.fit in (Fit.WARM, Fit.COLD) and not c.provisioned), default=None)


def fit(env: "Environment") -> Fit:
    """What `env` can do with an invoke now, from its own lifecycle state."""
    if (env.state is EnvState.RESETTING and env.shutdown is not None and not env.shutdown.final
            and not env.draining and not env.spindown_after_invoke and env.current is None and not env.queue
            and env.hold is None):
        # Lambda resets the environment after a timeout or a crash and the next invoke re-initialises it (its
        # /tmp kept): not busy, no request runs in it; an invoke sent as soon as the failure's answer is in waits
        # for the reset rather than cold-starting another environment, or being throttled at the limit.
        return Fit.RESETTING
    if ((env.state in (EnvState.SHUTTING_DOWN, EnvState.SHUT_DOWN) or (env.shutdown is not None and env.shutdown.final))
            and not env.draining and not env.queue):
        return Fit.ENDING  # a final shutdown answered the invoke it cut off (`_begin_shutdown`)
    if env.shutdown is not None or env.draining or env.spindown_after_invoke or env.state in _ENDING:
        return Fit.BUSY
    if isinstance(env, ManagedEnvironment):
        return _managed_fit(env)
    if env.current is not None and env.current.result is not None and not env.queue and env.hold is None \
            and not env.expecting_exit:
        return Fit.FINISHING
    if env.current is not None or env.queue or env.expecting_exit:
        return Fit.BUSY
    if env.hold is not None:
        return Fit.HELD
    if env.init is not None or env.state is EnvState.INIT:
        return Fit.INITIALISING
    if env.state is EnvState.FROZEN:
        return Fit.WARM
    if env.state is EnvState.COLD:
        return Fit.COLD
    return Fit.BUSY


def runs_an_invoke(env: "Environment") -> bool:
    """Busy with an invoke (running it, queued or held before it runs), not with ending: a shut-down environment the
    fleet has yet to remove, or one spinning down, runs none (a replay, where nothing overlaps, meets it gone)."""
    return fit(env) is Fit.BUSY and env.shutdown is None and env.state not in _ENDING


def starts_cold(env: "Environment") -> bool:
    """Whether the invoke `env` takes next is a cold start, as its REPORT will call it (`InvokeReported.cold`): it
    initialises first (or is initialising), or its on-demand Init or restore ran ahead of this invoke, whose REPORT
    then carries the Init (or Restore) Duration, as the debugger's env #1 after `c` and serve's env #1 do. A
    provisioned environment's Init ahead of traffic is no cold start (no Init Duration, lambda-spec §11.2), even
    while it still runs when the invoke arrives."""
    initialising = env.state is EnvState.INIT or env.init is not None
    return (env.state is EnvState.COLD or (initialising and not env.config.initialised_ahead)
            or env.pending_init_duration_ms is not None or env.pending_restore is not None)


def _managed_fit(env: ManagedEnvironment) -> Fit:
    """Lambda Managed Instances (lambda-spec §11.3): busy for routing only when every worker holds an invoke (M at
    most; a timed-out invoke whose handler runs on still holds its worker). One with invokes in flight and room
    for more ranks as FINISHING: after idle warm ones, before a cold start, and never idle enough to spin down.
    Room counts only when a worker waits on /next for it, or has just answered and asks again at once: RAPID
    hands an invoke to a runtime waiting on /next or refuses it, so one whose other workers are still in their
    Function init (each worker initialises on its own) must not keep an invoke waiting that another environment
    could serve now (WORKERS_STARTING)."""
    admitted = env.admitted()
    if env.expecting_exit or admitted >= env.capacity():
        return Fit.BUSY
    if env.hold is not None:
        return Fit.HELD if not admitted else Fit.BUSY
    if env.init is not None or env.state is EnvState.INIT:
        return Fit.INITIALISING
    if env.state is EnvState.COLD:
        return Fit.COLD
    if not admitted:
        return Fit.WARM
    if env.idle_workers() or env.returning:  # one waits on /next, or has just answered and asks again at once
        return Fit.FINISHING
    return Fit.WORKERS_STARTING


_ENDING = (EnvState.RESETTING, EnvState.SHUTTING_DOWN, EnvState.SHUT_DOWN)
