"""Which environment takes an invoke (lambda-spec §11): the fleet's routing, as pure decisions.

The environments' own lifecycle stays in `Environment`; this module sees each one only as what routing needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional, Sequence

from lambdatui.model.boundaries import Boundary, EnvState

if TYPE_CHECKING:
    from lambdatui.core.environment import Environment
    from lambdatui.core.managed_environment import ManagedEnvironment


class Fit(Enum):
    """What an environment can do with an invoke now."""

    WARM = "warm"  # initialised and idle (frozen, waiting on Next): serves it at once
    FINISHING = "finishing"  # its invoke is answered; the runtime and extensions are to call Next again
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
    # FINISHING only: how long its runtime and extensions have taken so far to ask for their next event after its
    # invoke was answered (`finishing_for`). None: it takes an invoke now (Managed Instances: a worker waits on /next,
    # or is about to), as do the candidates of other fits.
    finishing_s: Optional[float] = None
    # Never started, and a later environment was (`unstarted`): not alive yet, so no concurrency and never idle; an
    # invoke may still start it (COLD), as it would a new environment.
    unstarted: bool = False


# How long an invoke waits for an environment that has answered its invoke to become idle (its runtime and every
# extension asking for their next event) before it is routed elsewhere. On loopback a caller's next invoke comes
# microseconds after its answer, while the runtime's /next takes a millisecond or so, a quick extension's about as
# long, and a few tens of ms on a loaded 2-core machine or behind a debugger's repaint (p99 < 40 ms, design.md).
# Lambda's network hides that gap, so without this wait every such invoke would cold-start a new environment. An
# extension that really works after the invoke (flushing logs or traces over the network) takes hundreds of ms or
# more, and Lambda keeps its environment in the Invoke phase until it is done (lambda-spec §4.4): the invoke must not
# wait for it. 50 ms is a third or less of a cold start here (Init 75-200 ms), which a caller behind such an
# extension pays anyway, as it would in Lambda.
FINISHING_GRACE_S = 0.05


class Choice(Enum):
    EXISTING = "existing"  # `number` takes it (cold says whether it is that environment's cold start)
    NEW = "new"  # a new on-demand environment cold-starts for it
    THROTTLE = "throttle"  # synchronous, at the concurrency limit: 429
    QUEUE = "queue"  # asynchronous, at the limit: waits in the fleet's queue for an environment to be free
    WAIT = "wait"  # at the limit, but an environment being started will have room for it: route again once it joins
    # `number` answered its invoke within FINISHING_GRACE_S: the invoke is offered to it for `wait_s` at most, taken
    # once it is idle (core/offer_rules.py), else handed back and routed again
    AWAIT_FINISH = "await finish"


@dataclass(frozen=True)
class Route:
    """Where the fleet sends an invoke: environment `number` (`cold`: the invoke is its cold start, see
    `starts_cold`), a new one, a 429, or the fleet's queue. `passed_over`: why the environment asked for was not
    the one (it "is not alive", "is busy"...), when one was asked for. `wait_s`: how long AWAIT_FINISH offers it
    at most. `past_finishing`: an environment still finishing its answered invoke past FINISHING_GRACE_S, which the
    invoke would have waited for otherwise and goes past (the fleet says so); None when it takes the invoke."""

    choice: Choice
    number: Optional[int] = None
    cold: bool = False
    passed_over: str = ""
    wait_s: float = 0.0
    past_finishing: Optional[int] = None


# What a preferred environment may be doing and still take an invoke at once, without a new environment starting.
_CAN_TAKE = (Fit.WARM, Fit.FINISHING, Fit.COLD, Fit.RESETTING, Fit.INITIALISING, Fit.WORKERS_STARTING)


def route(candidates: Sequence[Candidate], limit: int, asynchronous: bool,
          preferred: Optional[int] = None, *, starting: int = 0, per_environment: int = 1,
          waiting: int = 0, next_number: Optional[int] = None, skipped: frozenset[int] = frozenset()) -> Route:
    """Idle warm environments first (provisioned ones before on-demand ones, then the longest idle, which spreads
    invokes over the warm environments); then one whose invoke is answered and that is finishing it: at once on
    Managed Instances (a worker asks for work), else offered to it until it is idle, while it was answered less than
    FINISHING_GRACE_S ago (a caller's next invoke, sent as soon as it has its answer, finds the same warm
    environment, as in Lambda, not a cold start); past that it is busy until its extensions are done, as Lambda's
    Invoke phase is (lambda-spec §4.4); then an idle one that must initialise, one being reset after a failed
    invoke, or one initialising ahead of requests; then, on Managed Instances, a wait for an environment being
    started that has room beyond the invoke it was started for and the `waiting` ones (a burst fills the workers of
    the environment it started rather than starting one environment, of M workers, per invoke); then a new
    environment while under `limit`; then one finishing past the grace (the invoke waits in it rather than being
    throttled, as it would have within the grace); then a Managed Instances one with room only in workers still
    starting (it serves the invoke once one asks for work); then one the user holds at a boundary with no invoke (it
    serves the invoke once released, as a debugger user holding the only environment expects); else, while
    `starting` environments are being started that each take `per_environment` invokes at once (Managed Instances),
    a wait for one of them to join, since it has room for more than the invoke it was started for; else a throttle,
    or for an Event invoke, the queue.

    Before all of those, the `preferred` environment when it can take the invoke with no new one started
    (`_CAN_TAKE`: neither busy nor held, nor finishing past the grace; within it, offered): a replay sends an
    invoke where the session did, so that it meets the same state (globals, /tmp) when other environments were busy
    in the session but are idle in the replay. A `preferred` never given yet (the `next_number` a new environment
    takes, one past it, or one `skipped` when a later one was asked for first) is started for it, with that number,
    under `limit`: in the session the fleet started it for that invoke (two started together may have come up, and
    taken their invokes, in either order).
    """
    if preferred is None:
        return _route(candidates, limit, asynchronous, starting, per_environment, waiting)
    asked = next((c for c in candidates if c.number == preferred), None)
    if asked is not None and asked.unstarted and not _under_limit(candidates, limit):
        asked = None  # starting it would be one environment more than the limit allows: as if it were not there
    fresh = next_number is not None and (preferred >= next_number or preferred in skipped)
    if asked is None and fresh and starting == 0 and _under_limit(candidates, limit):
        return Route(Choice.NEW, preferred, cold=True)
    if asked is not None and asked.fit in _CAN_TAKE and not overdue(asked):
        if _finishing_soon(asked):
            return Route(Choice.AWAIT_FINISH, asked.number, wait_s=_grace_left(asked))
        return Route(Choice.EXISTING, asked.number, cold=_cold(asked))
    routed = _route(candidates, limit, asynchronous, starting, per_environment, waiting)
    if routed.number == preferred:
        return routed  # held, and waited for at the limit as any held one is
    why = ("is not alive" if asked is None else "is held at a boundary" if asked.fit is Fit.HELD
           else "is shutting down" if asked.fit is Fit.ENDING
           else "is still finishing its last invoke" if overdue(asked) else "is busy")
    return replace(routed, passed_over=why)


def _under_limit(candidates: Sequence[Candidate], limit: int) -> bool:
    """Room for a new environment: concurrency counts those that serve invokes (lambda-spec §11.1), not one spinning
    down, nor one never started (`unstarted`)."""
    return sum(1 for c in candidates if c.fit is not Fit.ENDING and not c.unstarted) < limit


def overdue(candidate: Candidate) -> bool:
    """Finishing its answered invoke for FINISHING_GRACE_S or longer: busy until its runtime and extensions are done."""
    return candidate.fit is Fit.FINISHING and candidate.finishing_s is not None \
        and candidate.finishing_s >= FINISHING_GRACE_S


def _finishing_soon(candidate: Candidate) -> bool:
    """Finishing its answered invoke for less than FINISHING_GRACE_S: offered the invoke."""
    return candidate.fit is Fit.FINISHING and candidate.finishing_s is not None and not overdue(candidate)


def _grace_left(candidate: Candidate) -> float:
    return FINISHING_GRACE_S - (candidate.finishing_s or 0.0)


def _route(candidates: Sequence[Candidate], limit: int, asynchronous: bool, starting: int,
           per_environment: int, waiting: int) -> Route:
    def first(fit: Fit, also: Callable[[Candidate], bool] = lambda c: True) -> Optional[Candidate]:
        fitting = [c for c in candidates if c.fit is fit and also(c)]
        return min(fitting, key=lambda c: (not c.provisioned, c.idle_since, c.number), default=None)

    warm = first(Fit.WARM)
    if warm is None:  # one finishing that takes it now: a Managed Instances worker asks for work
        warm = first(Fit.FINISHING, lambda c: c.finishing_s is None)
    if warm is not None:
        return Route(Choice.EXISTING, warm.number, cold=warm.cold)
    soon = [c for c in candidates if _finishing_soon(c)]
    if soon:  # offered to the one answered first, likely idle first; handed back, it is routed again
        chosen = min(soon, key=lambda c: (-(c.finishing_s or 0.0), c.number))
        return Route(Choice.AWAIT_FINISH, chosen.number, wait_s=_grace_left(chosen))
    late = first(Fit.FINISHING, overdue)
    past = None if late is None else late.number
    room = _under_limit(candidates, limit)
    for fit in (Fit.COLD, Fit.RESETTING, Fit.INITIALISING):
        cold = first(fit, lambda c: room or not c.unstarted)  # starting an unstarted one is a new environment
        if cold is not None:
            return Route(Choice.EXISTING, cold.number, cold=_cold(cold), past_finishing=past)
    if per_environment > 1 and starting * (per_environment - 1) > waiting:
        return Route(Choice.WAIT)
    if room:
        # Concurrency counts the environments that serve invokes (lambda-spec §11.1): one spinning down serves
        # none, so a new one may start beside it, as in Lambda, rather than the invoke being throttled.
        return Route(Choice.NEW, cold=True, past_finishing=past)
    if late is not None:  # at the limit: it waits in the one finishing, as it did within the grace, not a throttle
        return Route(Choice.EXISTING, late.number, cold=late.cold)
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
    """The environments to spin down: warm and idle for `idle_shutdown_s` (provisioned ones stay, as in Lambda; one
    `unstarted` is no environment yet, so it has nothing to spin down)."""
    if idle_shutdown_s is None:
        return []
    return [c.number for c in candidates if _may_idle_out(c) and now - c.idle_since >= idle_shutdown_s]


def next_idle_expiry(candidates: Sequence[Candidate], idle_shutdown_s: float) -> Optional[float]:
    """When the next environment `idle_expired` would take will have been idle long enough (None: none would; one
    that becomes idle later is checked then). Provisioned environments never are, however long idle."""
    return min((c.idle_since + idle_shutdown_s for c in candidates if _may_idle_out(c)), default=None)


def _may_idle_out(candidate: Candidate) -> bool:
    return candidate.fit in (Fit.WARM, Fit.COLD) and not candidate.provisioned and not candidate.unstarted


def unstarted(env: "Environment", number: int, next_number: int) -> bool:
    """Environment `number` is not alive yet: it never began an Init (nor has an invoke), and an environment
    numbered after it has been given a number since. A replay lists env #1 from the start without starting it, so
    that its first invoke cold-starts it (a fault armed in step 1 meets that Init); it stands for the env #1 that
    `serve`, `invoke` and the debugger start ahead of traffic, which their recordings count alive and see spun down
    when idle (a recorded `pause` before any invoke), so until then it counts as theirs did. But a session with env
    #1 ahead gives its first invoke to env #1: a scenario whose invoke starts a later one first (`env = 2`) never had
    it, and it is no environment (not alive, no concurrency, never spun down) until an invoke starts it; shut
    down, it still never was one."""
    return number < next_number - 1 and never_began(env)


def never_began(env: "Environment") -> bool:
    """`env` never began an Init, nor has it an invoke (given, queued or offered)."""
    return env.generation == 0 and env.init is None and env.current is None and not env.queue and env.offered is None


def snapshot_gone(snapshot: Optional[EnvState], candidates: Callable[[], Sequence[Candidate]]) -> bool:
    """SnapStart: whether no invoke can run at all. The snapshot environment (`snapshot`, its state; None without
    SnapStart) is past its Init and no longer holds the snapshot (it failed, or its process is gone), and no
    environment restored from it is left to take an invoke. `candidates` are asked only then: this is checked on
    every Event invoke."""
    if snapshot is None or snapshot in (EnvState.COLD, EnvState.INIT, EnvState.SNAPSHOT):
        return False
    return all(c.fit in (Fit.BUSY, Fit.ENDING) for c in candidates())


def fit(env: "Environment", *, counting_offer: bool = True) -> Fit:
    """What `env` can do with an invoke now, from its own lifecycle state; one offered an invoke while it finishes
    its last is busy with it (`counting_offer` False: what it would be without that offer, as the offer's own rules
    ask, core/offer_rules.py)."""
    if counting_offer and env.offered is not None:
        return Fit.BUSY
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
    if env.config.managed:
        return _managed_fit(env)  # type: ignore[arg-type]  # a ManagedEnvironment (core/environment.py)
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


def finishing_for(env: "Environment", now: float) -> Optional[float]:
    """For a FINISHING environment that waits for its runtime and extensions to ask for their next event (not Managed
    Instances, whose workers take invokes as they come): how long they have taken so far since its invoke was
    answered, at `now` on the environment's clock, in its own time: a hold, or the debugger reading the handler's
    globals after the response, is lambdatui's doing, which Lambda's environment never waits for. None otherwise."""
    run = env.current
    if env.config.managed or run is None or run.result is None:
        return None
    if run.responded_at is None:
        return float("inf")  # answered without a response of the runtime's: nothing it does now is quick
    since, held_before = run.responded_at
    held = env.held_total - held_before
    if env.paused_since is not None:
        held += now - env.paused_since
    return max(0.0, now - since.mono - held)


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
    # Held before an invoke's event goes out (a replay's parallel step holds each there until all are placed), it has
    # the room it would have unheld: its fit is an unheld one's.
    if env.hold is not None and not (admitted and env.hold.boundary is Boundary.INVOKE_START):
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
