"""Run a scenario's steps through the controller and check each step's expectations.

The runner is one more client of the controller, like the TUI: commands go in with `submit`, invokes through the
controller's fleet (`session.fleet.invoke`, which says which one was throttled and has no command of its own for
it), facts come out with the number of the environment they belong to (`fleet.subscribe_numbered`), and
`snapshot`/`settled` say where the lifecycle is. A step is over when what it started has played out: for an invoke,
its `InvocationCompleted` has arrived and the lifecycle has settled (a reset after a timeout included); for a
crash, the killed process has exited and the reset it causes is done (`settled()` covers both). Every step is
bounded, so a lifecycle that never settles is reported as stuck instead of hanging the run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import trio

from lambdatui import controller as c
from lambdatui.host.debug_session import DebugSession
from lambdatui.model.boundaries import EnvState
from lambdatui.model.fleet import PROVISIONED, SNAP_START
from lambdatui.scenario.checks import WAITING, alive, check, check_across, check_fleet, judge_telemetry
from lambdatui.scenario.managed_replay import await_overruns, say_unused_workers
from lambdatui.scenario.model import (
    ACROSS_KEYS,
    Expect,
    FaultAction,
    InvokeAction,
    NewEnvironmentAction,
    ParallelAction,
    PauseAction,
    Scenario,
    ShutdownAction,
    Step,
    TelemetryExpect,
)
from lambdatui.scenario.report import Mismatch, TimelinePrinter
from lambdatui.scenario.retry_steps import await_retries
from lambdatui.scenario.step_facts import StepFacts
from lambdatui.scenario.step_invokes import event_invoke, fire, say_passed_over
from lambdatui.scenario.telemetry_ledger import TelemetryLedger

__all__ = ["ReplayResult", "STEP_MARGIN_S", "WAITING", "judge_telemetry", "run_scenario", "step_bound"]

INIT_TIMEOUT_S = 10  # Lambda's Init budget, which an on-demand cold start spends before the invoke's own
PROVISIONED_INIT_S = 130  # a provisioned environment's Init may take max(130 s, the timeout) (lambda-spec §11.2)
STEP_MARGIN_S = 15
TELEMETRY_END_S = 15  # for the shutdown that delivers the telemetry still buffered (a 2 s budget), at the end


@dataclass
class ReplayResult:
    """How a replay went: steps run, expectations checked, the step that failed and why (or where it got
    stuck), and the invokes' tally."""

    steps_run: int = 0
    steps_begun: int = 0  # one more than steps_run while a step runs
    expectations: int = 0
    failed_step: Optional[Step] = None
    mismatch: Optional[Mismatch] = None
    stuck: Optional[str] = None
    invokes: int = 0  # invokes that completed, or were throttled
    invoke_errors: int = 0  # of which ended in an error (handled, timeout, crash, throttle), expected or not

    @property
    def passed(self) -> bool:
        return self.failed_step is None


def step_bound(step: Step, timeout_s: int, margin_s: float = STEP_MARGIN_S) -> float:
    """How long a step may take: what Lambda's own deadlines allow it, plus a margin."""
    action = step.action
    if isinstance(action, (InvokeAction, ParallelAction)):
        return timeout_s + INIT_TIMEOUT_S + margin_s  # an on-demand Init, then the invoke (each in its environment)
    if isinstance(action, PauseAction):
        return action.seconds + margin_s
    return margin_s  # resets and shutdowns: a 2 s shutdown budget at most


def fleet_mode(scenario: Scenario, session: DebugSession) -> bool:
    """Whether the replay shows the fleet: environment numbers on every line, the fleet's counts after each step.
    Only where it can matter, so a single-environment replay reads as it always did."""
    environments = session.snapshot().environments
    # SnapStart: the snapshot (env #1) and the environments restored from it are told apart by their numbers.
    return (any(isinstance(s.action, ParallelAction) or s.expect.fleet_keys() for s in scenario.steps)
            or any(isinstance(s.action, InvokeAction) and s.action.env is not None for s in scenario.steps)
            or len(environments) > 1 or any(line.init_type == SNAP_START for line in environments))


async def run_scenario(scenario: Scenario, session: DebugSession, printer: TimelinePrinter,
                       *, margin_s: float = STEP_MARGIN_S, outcome: Optional[ReplayResult] = None) -> ReplayResult:
    """Run every step in order; stop at the first failed expectation or stuck step.

    `margin_s` is the time a step may take beyond its own budget (the function timeout for an invoke,
    the seconds of a pause) before it counts as stuck. `outcome`, when given, is filled in as the steps run: a caller
    that cancels the run (a signal) still knows how far it got.
    """
    printer.tag_environments = fleet_mode(scenario, session)
    printer.managed = session.fleet.options.max_concurrency > 0
    say_unused_workers(scenario, session.fleet.options.max_concurrency, printer)
    # The printer listens for the whole run: output a process flushes late still shows, in the block in progress.
    unprint = session.fleet.subscribe_numbered(printer.numbered)
    ledger = TelemetryLedger()  # for the whole run too: an invoke's records often arrive during a later step
    unledger = session.fleet.subscribe_numbered(ledger.numbered)
    try:
        return await _run_steps(scenario, session, printer, margin_s, ledger, outcome or ReplayResult())
    finally:
        unledger()
        unprint()


@dataclass
class _Deferred:
    """An `expect.telemetry` whose invoke's records had not all arrived when its step ended."""

    step: Step
    request_id: str
    expect: TelemetryExpect
    where: str  # "step 3", "step 3, parallel[1]"
    invoke: str  # "this invoke", "parallel[1]"


async def _run_steps(scenario: Scenario, session: DebugSession, printer: TimelinePrinter,
                     margin_s: float, ledger: TelemetryLedger, outcome: ReplayResult) -> ReplayResult:
    timeout_s = session.snapshot().function.timeout_s
    deferred: list[_Deferred] = []
    for step in scenario.steps:
        printer.step_header(scenario, step)
        outcome.steps_begun += 1
        if isinstance(step.action, (InvokeAction, ParallelAction)) and step.action.after_retries:
            # They ran in the environments this step's invoke met in the session (globals, /tmp, a crash's reset),
            # before the step: not among its facts, whose fleet counts are the step's own invokes'.
            await await_retries(session, printer, timeout_s + margin_s, step.action.after_retries, before_step=True)
        facts = StepFacts()
        before = session.snapshot().fleet if printer.tag_environments else None
        unsubscribe = session.fleet.subscribe_numbered(facts)
        bound = step_bound(step, timeout_s, margin_s)
        if step.number == 1:
            bound += _provisioned_init(session, timeout_s)
        try:
            with trio.move_on_after(bound) as scope:
                if step.number == 1:
                    await session.settled()  # provisioned environments finish Init before any traffic, as in Lambda
                await _perform(step, session, facts, printer, ledger)
        finally:
            unsubscribe()
        outcome.steps_run += 1
        if scope.cancelled_caught:
            outcome.failed_step = step
            outcome.stuck = _waiting_on(session)
            printer.stuck(scenario, step, bound, outcome.stuck)
            return outcome
        parallel = isinstance(step.action, ParallelAction)
        for position, seen in enumerate(facts.invokes):
            if event_invoke(step.action, position):
                say_passed_over(facts, seen, printer, f"envs[{position}]" if parallel else "env")
            printer.outcome(seen, position if parallel else None)
            if seen.result is not None or seen.throttled:
                outcome.invokes += 1
                outcome.invoke_errors += int(seen.throttled or bool(seen.result and seen.result.function_error))
        mismatch, waiting = _judge(step, facts, session, ledger)
        if before is not None:
            after, environments = session.snapshot().fleet, alive(session)
            printer.fleet(before, after, environments)
            mismatch = mismatch or check_fleet(step.expect, before, after, environments)
        if mismatch is not None:
            outcome.failed_step = step
            outcome.mismatch = mismatch
            printer.failed(scenario, step, mismatch)
            return outcome
        outcome.expectations += _count(step.expect)
        printer.passed(_passed_keys(step.expect, bool(waiting)))
        for later in waiting:
            printer.line("telemetry", f"{later.expect.extension}: not all of {later.invoke}'s records have arrived "
                                      "(Lambda delivers them once the environment thaws): checked when they have")
        deferred += waiting
        if not _settle(scenario, deferred, ledger, printer, outcome, final=False):
            return outcome
        if printer.managed and step is not scenario.steps[-1]:
            await await_overruns(session, facts, printer, timeout_s + margin_s)
    await await_retries(session, printer, timeout_s + margin_s, sum(
        step.action.retries for step in scenario.steps if isinstance(step.action, (InvokeAction, ParallelAction))))
    if deferred:
        await _deliver_the_rest(session, ledger, printer)
        _settle(scenario, deferred, ledger, printer, outcome, final=True)
    for number, fault in session.armed_faults():  # armed for a point no later step reached: it never acted
        printer.line("fault", f"{fault}: armed, never fired (no step after it reached that point"
                              f"{'' if printer.tag_environments else f' in env #{number}'})", env=number)
    return outcome


def _provisioned_init(session: DebugSession, timeout_s: int) -> float:
    """Step 1 first waits for the Init of the provisioned environments, or of SnapStart's snapshot, which has a
    budget of its own (lambda-spec §4.2)."""
    lines = session.snapshot().environments
    ahead = any(line.init_type in (PROVISIONED, SNAP_START) for line in lines)
    return max(PROVISIONED_INIT_S, timeout_s) if ahead else 0.0


def _judge(step: Step, facts: StepFacts, session: DebugSession,
           ledger: TelemetryLedger) -> tuple[Optional[Mismatch], list[_Deferred]]:
    """The first expectation on the step or its invokes that failed, else the telemetry still to be judged."""
    expect = step.expect
    if expect.each is not None:
        judged = [(one, seen, f"each[{i}].", f"parallel[{i}]")
                  for i, (one, seen) in enumerate(zip(expect.each, facts.invokes))]
    else:
        seen = facts.invokes[0] if facts.invokes else facts.step
        judged = [(expect, seen, "", "")]
    waiting: list[_Deferred] = []
    for one, seen, prefix, position in judged:
        where = f"step {step.number}, {position}" if position else f"step {step.number}"
        mismatch = check(one, seen, session)
        for telemetry in (one.telemetry or ()) if mismatch is None else ():
            verdict = judge_telemetry(telemetry, seen.request_id, ledger)
            if isinstance(verdict, Mismatch):
                mismatch = verdict
                break
            if verdict is WAITING:
                waiting.append(_Deferred(step, seen.request_id or "", telemetry, where, position or "this invoke"))
        if mismatch is not None:
            return dataclasses.replace(mismatch, key=prefix + mismatch.key), []
    if expect.same is not None or expect.distinct is not None:
        mismatch = check_across(expect, facts.invokes)
        if mismatch is not None:
            return mismatch, []
    return None, waiting


def _count(expect: Expect) -> int:
    """Each invoke's own keys, one per value compared across the invokes, one per other key."""
    across = len(expect.same or ()) + len(expect.distinct or ())
    return (sum(_count(one) for one in expect.each or ()) + across
            + len([k for k in expect.keys() if k != "each" and k not in ACROSS_KEYS]))


def _passed_keys(expect: Expect, telemetry_waits: bool) -> tuple[str, ...]:
    keys = []
    for key in expect.keys():
        if key == "each":
            inner = sorted({k for one in expect.each or () for k in one.keys()})
            keys.append(f"each ({len(expect.each or ())} invokes: {', '.join(inner) or 'nothing'})")
        elif key in ACROSS_KEYS:
            keys.append(f"{key} ({', '.join('.'.join(path) for path in getattr(expect, key))})")
        elif key != "telemetry" or not telemetry_waits:
            keys.append(key)
    return tuple(keys)


def _settle(scenario: Scenario, deferred: list[_Deferred], ledger: TelemetryLedger, printer: TimelinePrinter,
            outcome: ReplayResult, *, final: bool) -> bool:
    """Judge the deferred telemetry expectations whose records have now arrived; False when one failed."""
    for item in list(deferred):
        verdict = judge_telemetry(item.expect, item.request_id, ledger, final=final)
        if verdict is WAITING:
            continue
        deferred.remove(item)
        if isinstance(verdict, Mismatch):
            outcome.failed_step = item.step
            outcome.mismatch = verdict
            printer.failed(scenario, item.step, verdict)
            return False
        printer.line("ok", f"expect telemetry ({item.expect.extension}) of {item.where}")
    return True


async def _deliver_the_rest(session: DebugSession, ledger: TelemetryLedger, printer: TimelinePrinter) -> None:
    """The last records of the last invoke wait in the frozen environment: shut it down, which delivers them
    (the replay shuts it down at the end in any case), and wait for that shutdown to be over."""
    with trio.move_on_after(TELEMETRY_END_S):
        if session.snapshot().environment.state is not EnvState.SHUT_DOWN:
            printer.line("shutdown", "now, to deliver the telemetry records still buffered (expect.telemetry)")
            session.submit(c.Shutdown())
        await session.settled()


async def _perform(step: Step, session: DebugSession, facts: StepFacts, printer: TimelinePrinter,
                   ledger: TelemetryLedger) -> None:
    action = step.action
    if isinstance(action, (InvokeAction, ParallelAction)):
        await fire(action, session, facts, printer, ledger)
    elif isinstance(action, FaultAction):
        # settled() also waits for the exit of a process crashed on request, so the reset a crash causes
        # belongs to this step and the next invoke meets a settled environment.
        session.submit(c.InjectFault(action.fault, env=action.env))
    elif isinstance(action, NewEnvironmentAction):
        session.submit(c.NewEnvironment(env=action.env))
    elif isinstance(action, ShutdownAction):
        session.submit(c.Shutdown(env=action.env))
    elif isinstance(action, PauseAction):
        await trio.sleep(action.seconds)  # the lesson itself: time passes while the environment sits frozen
        if printer.tag_environments:
            printer.line("idle", f"{action.seconds:g} s passed")  # the fleet line after the step says the rest
        else:
            printer.line("idle", f"{action.seconds:g} s passed; the environment is "
                                 f"{session.snapshot().environment.state.value}")
    await session.settled()


def _waiting_on(session: DebugSession) -> str:
    snapshot = session.snapshot()
    env = snapshot.environment
    lines = [f"environment {env.state.value}, generation {env.own_generation()}"]
    if env.current_request_id:
        lines.append(f"invoke in flight: {env.current_request_id}")
    if env.queued:
        lines.append(f"queued invokes: {len(env.queued)}")
    if env.held_at is not None:
        lines.append(f"held at {env.held_at.value}")
    for p in env.participants:
        lines.append(f"{p.key}: {p.state}, {'alive' if p.alive else 'not running'}, "
                     f"{'parked on Next' if p.parked else 'not parked'}")
    if len(snapshot.environments) > 1:
        for line in snapshot.environments:
            busy = f", running {line.request_id}" if line.request_id else ", busy" if line.busy else ""
            held = f", held at {line.held_at.value}" if line.held_at is not None else ""
            lines.append(f"env #{line.number}: {line.state.value}{busy}{held}")
    return "\n".join(lines)
