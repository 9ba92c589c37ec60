"""Run a scenario's steps through the controller and check each step's expectations.

Only the controller is used (`submit`, `subscribe`, `snapshot`, `settled`): the runner is one more
client, like the TUI. A step is over when what it started has played out: for an invoke, its
`InvocationCompleted` has arrived and the lifecycle has settled (a reset after a timeout included);
for a crash, the killed process has exited and the reset it causes is done (`settled()` covers both).
Every step is bounded, so a lifecycle that never settles is reported as stuck instead of hanging the run.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import trio

from lambdatui import controller as c
from lambdatui.host.debug_session import DebugSession
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.scenario.model import (
    Expect,
    FaultAction,
    InvokeAction,
    NewEnvironmentAction,
    PauseAction,
    Scenario,
    ShutdownAction,
    Step,
    TelemetryExpect,
)
from lambdatui.scenario.match import projected, response_difference, telemetry_difference, telemetry_prefix
from lambdatui.scenario.report import Mismatch, TimelinePrinter, pretty_json, unified
from lambdatui.scenario.telemetry_ledger import TelemetryLedger

INIT_TIMEOUT_S = 10  # Lambda's Init budget, which an on-demand cold start spends before the invoke's own
STEP_MARGIN_S = 15
TELEMETRY_END_S = 15  # for the shutdown that delivers the telemetry still buffered (a 2 s budget), at the end


@dataclass
class ReplayResult:
    steps_run: int = 0
    expectations: int = 0
    failed_step: Optional[Step] = None
    mismatch: Optional[Mismatch] = None
    stuck: Optional[str] = None
    invokes: int = 0  # invokes that completed
    invoke_errors: int = 0  # of which ended in an error (handled, timeout or crash), expected or not

    @property
    def passed(self) -> bool:
        return self.failed_step is None


@dataclass
class StepFacts:
    """Everything that happened during one step, as the controller reported it."""

    request_id: Optional[str] = None
    facts: list[f.Fact] = field(default_factory=list)
    result: Optional[f.InvocationResult] = None
    report: Optional[f.InvokeReported] = None
    arrived: trio.Event = field(default_factory=trio.Event)

    def __call__(self, fact: f.Fact) -> None:
        self.facts.append(fact)
        if isinstance(fact, f.InvocationCompleted) and fact.result.request_id == self.request_id:
            self.result = fact.result
        elif isinstance(fact, f.InvokeReported) and fact.request_id == self.request_id:
            self.report = fact
        self.arrived.set()
        self.arrived = trio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self.arrived.wait()

    def last(self, kind: type) -> Any:
        return next((x for x in reversed(self.facts) if isinstance(x, kind)), None)


def step_bound(step: Step, timeout_s: int, margin_s: float = STEP_MARGIN_S) -> float:
    """How long a step may take: what Lambda's own deadlines allow it, plus a margin."""
    action = step.action
    if isinstance(action, InvokeAction):
        return timeout_s + INIT_TIMEOUT_S + margin_s  # an on-demand Init, then the invoke
    if isinstance(action, PauseAction):
        return action.seconds + margin_s
    return margin_s  # resets and shutdowns: a 2 s shutdown budget at most


async def run_scenario(scenario: Scenario, session: DebugSession, printer: TimelinePrinter,
                       *, margin_s: float = STEP_MARGIN_S) -> ReplayResult:
    """Run every step in order; stop at the first failed expectation or stuck step.

    `margin_s` is the time a step may take beyond its own budget (the function timeout for an invoke,
    the seconds of a pause) before it counts as stuck.
    """
    # The printer listens for the whole run: output a process flushes late still shows, in the block in progress.
    unprint = session.subscribe(printer)
    ledger = TelemetryLedger()  # for the whole run too: an invoke's records often arrive during a later step
    unledger = session.subscribe(ledger)
    try:
        return await _run_steps(scenario, session, printer, margin_s, ledger)
    finally:
        unledger()
        unprint()


@dataclass
class _Deferred:
    """An `expect.telemetry` whose invoke's records had not all arrived when its step ended."""

    step: Step
    request_id: str
    expect: TelemetryExpect


async def _run_steps(scenario: Scenario, session: DebugSession, printer: TimelinePrinter,
                     margin_s: float, ledger: TelemetryLedger) -> ReplayResult:
    outcome = ReplayResult()
    timeout_s = session.snapshot().function.timeout_s
    deferred: list[_Deferred] = []
    for step in scenario.steps:
        printer.step_header(scenario, step)
        facts = StepFacts()
        unsubscribe = session.subscribe(facts)
        bound = step_bound(step, timeout_s, margin_s)
        try:
            with trio.move_on_after(bound) as scope:
                await _perform(step, session, facts, printer, ledger)
        finally:
            unsubscribe()
        outcome.steps_run += 1
        if scope.cancelled_caught:
            outcome.failed_step = step
            outcome.stuck = _waiting_on(session)
            printer.stuck(scenario, step, bound, outcome.stuck)
            return outcome
        if isinstance(step.action, InvokeAction):
            printer.outcome(facts.result, facts.report)
            if facts.result is not None:
                outcome.invokes += 1
                outcome.invoke_errors += facts.result.function_error
        mismatch = check(step.expect, facts, session)
        waiting: list[_Deferred] = []
        if mismatch is None:
            for expect in step.expect.telemetry or ():
                verdict = judge_telemetry(expect, facts.request_id, ledger)
                if isinstance(verdict, Mismatch):
                    mismatch = verdict
                    break
                if verdict is WAITING:
                    waiting.append(_Deferred(step, facts.request_id or "", expect))
        if mismatch is not None:
            outcome.failed_step = step
            outcome.mismatch = mismatch
            printer.failed(scenario, step, mismatch)
            return outcome
        outcome.expectations += len(step.expect.keys())
        printer.passed(tuple(k for k in step.expect.keys() if k != "telemetry" or not waiting))
        for later in waiting:
            printer.line("telemetry", f"{later.expect.extension}: not all of this invoke's records have arrived (Lambda "
                                      "delivers them once the environment thaws): checked when they have")
        deferred += waiting
        if not _settle(scenario, deferred, ledger, printer, outcome, final=False):
            return outcome
    if deferred:
        await _deliver_the_rest(session, ledger, printer)
        _settle(scenario, deferred, ledger, printer, outcome, final=True)
    return outcome


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
        printer.line("ok", f"expect telemetry ({item.expect.extension}) of step {item.step.number}")
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
    if isinstance(action, InvokeAction):
        facts.request_id = str(uuid.uuid4())
        ledger.begin(facts.request_id)
        session.submit(c.Invoke(action.event, facts.request_id))
        await facts.until(lambda: facts.result is not None)
    elif isinstance(action, FaultAction):
        # settled() also waits for the exit of a process crashed on request, so the reset a crash causes
        # belongs to this step and the next invoke meets a settled environment.
        session.submit(c.InjectFault(action.fault))
    elif isinstance(action, NewEnvironmentAction):
        session.submit(c.NewEnvironment())
    elif isinstance(action, ShutdownAction):
        session.submit(c.Shutdown())
    elif isinstance(action, PauseAction):
        await trio.sleep(action.seconds)  # the lesson itself: time passes while the environment sits frozen
        state = session.snapshot().environment.state
        printer.line("idle", f"{action.seconds:g} s passed; the environment is {state.value}")
    await session.settled()


def _waiting_on(session: DebugSession) -> str:
    env = session.snapshot().environment
    lines = [f"environment {env.state.value}, generation {env.generation}"]
    if env.current_request_id:
        lines.append(f"invoke in flight: {env.current_request_id}")
    if env.queued:
        lines.append(f"queued invokes: {len(env.queued)}")
    if env.held_at is not None:
        lines.append(f"held at {env.held_at.value}")
    for p in env.participants:
        lines.append(f"{p.key}: {p.state}, {'alive' if p.alive else 'not running'}, "
                     f"{'parked on Next' if p.parked else 'not parked'}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- expectations


def _lines(values: list[str]) -> str:
    return ", ".join(values) if values else "(none)"


def check(expect: Expect, facts: StepFacts, session: DebugSession) -> Optional[Mismatch]:
    """The first expectation that does not hold, or None (`telemetry` is judged apart: `judge_telemetry`)."""
    for key in expect.keys():
        if key == "telemetry":
            continue
        mismatch = _CHECKS[key](expect, facts, session)
        if mismatch is not None:
            return mismatch
    return None


def _check_response(expect: Expect, facts: StepFacts, session: DebugSession) -> Optional[Mismatch]:
    expected_text = pretty_json(expect.response)
    result = facts.result
    if result is None:
        return Mismatch("response", expected_text, "(no response)")
    text = result.payload.decode("utf-8", "replace")
    try:
        actual = json.loads(text)
    except ValueError:
        return Mismatch("response", expected_text, text,
                        unified(expected_text.splitlines(), ["(not JSON:)", *text.splitlines()]))
    difference = response_difference(expect.response, actual, exact=expect.response_exact)
    if difference is None:
        return None
    # A subset is diffed against the keys it names only: the others (a request id...) are no difference.
    shown = actual if expect.response_exact else projected(expect.response, actual)
    actual_text = pretty_json(shown)
    return Mismatch("response", expected_text, actual_text, unified(expected_text.splitlines(), actual_text.splitlines()),
                    detail=difference.message)


def _check_error_type(expect: Expect, facts: StepFacts, session: DebugSession) -> Optional[Mismatch]:
    result = facts.result
    if result is None:
        return Mismatch("error_type", str(expect.error_type), "(no response)")
    if not result.function_error:
        return Mismatch("error_type", str(expect.error_type), "(none: the invoke succeeded)")
    if result.error_type == expect.error_type:
        return None
    return Mismatch("error_type", str(expect.error_type), str(result.error_type))


def _check_cold(expect: Expect, facts: StepFacts, session: DebugSession) -> Optional[Mismatch]:
    if facts.report is None:
        return Mismatch("cold", str(expect.cold).lower(), "(no REPORT for this invoke: it never ran)")
    if facts.report.cold == expect.cold:
        return None
    return Mismatch("cold", str(expect.cold).lower(), str(facts.report.cold).lower())


def _check_globals(expect: Expect, facts: StepFacts, session: DebugSession) -> Optional[Mismatch]:
    assert expect.globals is not None
    expected = [f"{name} = {value}" for name, value in expect.globals.items()]
    report: Optional[f.GlobalsReported] = facts.last(f.GlobalsReported)
    if report is None:
        return Mismatch("globals", _lines(expected),
                        "(no globals report during this step: the invoke did not finish in lambdatui's runtime)")
    entries = {e.name: e.repr for e in report.entries}
    if all(entries.get(name) == value for name, value in expect.globals.items()):
        return None
    actual = [f"{name} = {entries[name]}" if name in entries else f"{name}: (no such global)"
              for name in expect.globals]
    return Mismatch("globals", _lines(expected), _lines(actual), unified(expected, actual))


def _tmp_listing(session: DebugSession) -> Optional[set[str]]:
    listing = session.snapshot().tmp
    return None if listing is None else {e.path for e in listing.entries}


def _check_tmp(expect: Expect, facts: StepFacts, session: DebugSession) -> Optional[Mismatch]:
    assert expect.tmp is not None
    paths = _tmp_listing(session)
    if paths is None:
        return Mismatch("tmp", _lines(list(expect.tmp)), "(no /tmp listing yet)")
    missing = [p for p in expect.tmp if p not in paths]
    if not missing:
        return None
    return Mismatch("tmp", f"these exist: {_lines(list(expect.tmp))}",
                    f"missing: {_lines(missing)}; /tmp holds: {_lines(sorted(paths))}")


def _check_tmp_absent(expect: Expect, facts: StepFacts, session: DebugSession) -> Optional[Mismatch]:
    assert expect.tmp_absent is not None
    paths = _tmp_listing(session) or set()
    present = [p for p in expect.tmp_absent if p in paths]
    if not present:
        return None
    return Mismatch("tmp_absent", f"none of these exist: {_lines(list(expect.tmp_absent))}",
                    f"present: {_lines(present)}")


def _check_shutdown_reason(expect: Expect, facts: StepFacts, session: DebugSession) -> Optional[Mismatch]:
    reasons = sorted({x.reason for x in facts.facts if isinstance(x, f.ShutdownSent)})
    if reasons == [expect.shutdown_reason]:
        return None
    actual = _lines(reasons) if reasons else "(no SHUTDOWN event reached an extension during this step)"
    return Mismatch("shutdown_reason", str(expect.shutdown_reason), actual)


def _check_phases(expect: Expect, facts: StepFacts, session: DebugSession) -> Optional[Mismatch]:
    assert expect.phases is not None
    expected = [b.value for b in expect.phases]
    actual = [x.boundary.value for x in facts.facts if isinstance(x, f.BoundaryReached)]
    if expected == actual:
        return None
    return Mismatch("phases", _lines(expected), _lines(actual), unified(expected, actual))


_CHECKS = {
    "response": _check_response,
    "error_type": _check_error_type,
    "cold": _check_cold,
    "globals": _check_globals,
    "tmp": _check_tmp,
    "tmp_absent": _check_tmp_absent,
    "shutdown_reason": _check_shutdown_reason,
    "phases": _check_phases,
}


WAITING = "waiting"  # judge_telemetry: more records of the invoke may still arrive


def judge_telemetry(expect: TelemetryExpect, request_id: Optional[str], ledger: TelemetryLedger,
                    *, final: bool = False) -> Union[None, str, Mismatch]:
    """None when the records `expect.extension` received for the invoke match, WAITING while more may still
    arrive and could change that, else the mismatch. `final`: nothing more will arrive."""
    name = expect.extension
    actual = ledger.types_for(name, request_id) if request_id else []
    complete = final or (request_id is not None and ledger.complete(name, request_id))
    difference = telemetry_difference(expect.types, actual, exact=expect.exact)
    if difference is None and (complete or not expect.exact):
        return None
    if not complete and (not expect.exact or telemetry_prefix(expect.types, actual)):
        return WAITING
    if difference is None:  # exact, and equal: only more records (there were none) could have spoiled it
        return None
    order = "in this order, and nothing else" if expect.exact else "in this order (others may come between)"
    expected_text = f"{name} receives, {order}: {_lines(list(expect.types))}"
    if actual:
        so_far = "" if complete else " so far (more may arrive)"
        actual_text = f"{name} received for this invoke{so_far}: {_lines(actual)}"
        diff = unified(list(expect.types), actual)
    elif name not in ledger.subscribed:
        actual_text = f"nothing: {name} never subscribed to the Telemetry or Logs API (it does so during its Init)"
        diff = None
    else:
        actual_text = f"nothing was delivered to {name} for this invoke"
        diff = None
    return Mismatch("telemetry", expected_text, actual_text, diff, detail=f"telemetry.{name}: {difference}")
