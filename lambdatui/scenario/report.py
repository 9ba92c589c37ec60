"""How a replay looks: one block per step on stdout, written as the facts arrive, and diffs for failures.

Plain ASCII on purpose: replays run in CI logs and terminals of every encoding. Every line of a block
is `  LABEL      text`, so a reader's eye runs down the labels (boundary, platform, response...). When several
environments can run at once (a parallel step, a fleet expectation), each line names its environment in the
gutter instead (`#2  platform   START ...`), as `serve` prefixes its lines, and each step ends with the fleet's
counts.
"""

from __future__ import annotations

import difflib
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence, TextIO

from lambdatui.core.invoke_rules import THROTTLED
from lambdatui.host.console import FleetConsoleReporter, printable
from lambdatui.model import facts as f
from lambdatui.model import error_types as et
from lambdatui.model import faults as flt
from lambdatui.model.fleet import FleetCounters
from lambdatui.model.stacks import stack_summary
from lambdatui.scenario.model import (
    Action,
    FaultAction,
    InvokeAction,
    NewEnvironmentAction,
    ParallelAction,
    PauseAction,
    Scenario,
    ShutdownAction,
    failed_after,
    Step,
)

if TYPE_CHECKING:
    from lambdatui.scenario.checks import Observed

LABEL_WIDTH = 10
GUTTER = 4  # "#12 ": an environment's number before the label, when several may run at once
MAX_INLINE = 240  # characters of a response or event shown on one line
MAX_GLOBALS = 12


@dataclass(frozen=True)
class Mismatch:
    """The first expectation that did not hold, rendered for people: what was expected, what happened."""

    key: str
    expected: str
    actual: str
    diff: Optional[str] = None  # a unified diff, when one reads better than the two values
    detail: Optional[str] = None  # one line saying where they differ, e.g. "response.a.b: expected 1, got 2"


def compact_json(payload: bytes | str, limit: int = MAX_INLINE) -> str:
    """One line: re-serialized when it is JSON (so a pretty-printed event fits), else the text."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    try:
        text = json.dumps(json.loads(text), ensure_ascii=False)
    except (ValueError, RecursionError):  # not JSON, or nested past Python's parsers (Lambda takes 10,000 levels)
        text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def unified(expected: Sequence[str], actual: Sequence[str]) -> str:
    lines = difflib.unified_diff(list(expected), list(actual), "expected", "actual", lineterm="")
    return "\n".join(lines)


def describe_action(action: Action) -> str:
    if isinstance(action, InvokeAction):
        return (f"invoke {compact_json(action.event, 100)}" + (" (Event)" if action.asynchronous else "")
                + (f" (to env #{action.env})" if action.env else ""))
    if isinstance(action, ParallelAction):
        events = sum(action.asynchronous)
        return f"parallel: {len(action.events)} invokes at once" + (f" ({events} Event)" if events else "")
    on = f" (env #{action.env})" if isinstance(action, (FaultAction, NewEnvironmentAction, ShutdownAction)) \
        and action.env is not None else ""
    if isinstance(action, FaultAction):
        return f"fault: {flt.describe(action.fault)}{on}"
    if isinstance(action, NewEnvironmentAction):
        return f"new environment{on}"
    if isinstance(action, ShutdownAction):
        return f"shutdown{on}"
    if isinstance(action, PauseAction):
        return f"pause {action.seconds:g} s"
    raise TypeError(action)  # pragma: no cover - the Action union is closed


# On Managed Instances only the runtime's own end ends an environment (lambda-spec §11.3): a handled error, a response
# cut short or too large leave it serving.
_ENDS_A_MANAGED_ENVIRONMENT = (et.RUNTIME_EXIT_ERROR, et.RUNTIME_OUT_OF_MEMORY, et.SANDBOX_FAILURE)


def describe_outcome(result: Optional[f.InvocationResult], report: Optional[f.InvokeReported],
                     throttled: bool = False, streamed: bool = False, managed: bool = False) -> str:
    """`managed`: Lambda Managed Instances, which reset nothing (lambda-spec §11.3): a timed-out handler runs on, and
    a failure that ends the runtime ends the environment, whose next invoke goes to another one."""
    if throttled:
        return (f"THROTTLED 429 {THROTTLED}: every environment was busy at the concurrency limit; no environment "
                "ran it")
    if result is None:
        return "NO RESULT: the invoke never completed"
    status = report.status if report is not None else None
    if not result.function_error:
        # The caller's success stands, but the invoke did not end well (an extension overran the timeout after the
        # response, or crashed): a plain "success" would hide the reset the next invoke pays for.
        after = failed_after(result, report)
        if after is None:
            return "success"
        if status == "timeout":
            return ("success, then TIMEOUT: the caller had its response, but the invoke ran out of time before "
                    "every extension asked for its next event; the environment was reset")
        return (f"success, then ERROR {after}: the caller had its response, but the invoke failed after it; "
                "the environment was reset")
    error_type = result.error_type or "(no type)"
    if result.api_status:
        # The Invoke API answered with an error of its own (SnapStart's failed restore, a snapshot that could not be
        # made, lambdatui stopping): the event never reached the handler, and no runtime posted /error for it.
        return f"INVOKE API ERROR {result.api_status} {error_type}: the event never reached the handler"
    if report is None:
        # No REPORT: no runtime ever had it (answered at once: the environment it met was shut down).
        return f"ERROR {error_type}: no runtime ran it; the caller was answered at once"
    if status == "timeout":
        then = "nothing was stopped or reset (Lambda Managed Instances)" if managed else "the environment was reset"
        return f"TIMEOUT {error_type}: the invoke ran out of time; {then}"
    if status in ("error", "failure"):
        if not managed:
            return f"ERROR {error_type}: the invoke failed ({status}); the environment was reset"
        if error_type in _ENDS_A_MANAGED_ENVIRONMENT:
            return (f"ERROR {error_type}: the invoke failed ({status}); the environment ended (Lambda Managed "
                    "Instances reset nothing)")
        if et.failure_kind(error_type, timed_out=False) == "function error":
            # The handler's own (ValueError): Managed Instances REPORT it with status error, the header's type sanitised.
            return f"ERROR {error_type}: the function returned an error (through the runtime's /error)"
        return (f"ERROR {error_type}: the invoke failed ({status}); the environment goes on (Lambda Managed "
                "Instances reset nothing)")
    # The runtime reported it: the platform counts the invoke as done, the caller gets an error.
    if streamed:
        return f"ERROR {error_type}: the function's streamed response ended in an error"
    return f"ERROR {error_type}: the function returned an error (through the runtime's /error)"


class TimelinePrinter:
    """A fact listener that writes the replay's timeline; the runner adds step headers and verdicts."""

    def __init__(self, out: TextIO = sys.stdout, err: TextIO = sys.stderr, *, code_dir: str = "/",
                 verbose: bool = False) -> None:
        self.out = out
        self.code_dir = code_dir
        self.verbose = verbose
        self._err = err
        self._console = FleetConsoleReporter(err)
        self._err_waiting = False  # the function's lines written to `err` since the last line on `out`
        self.tag_environments = False  # set by the runner when several environments may run at once
        self.managed = False  # set by the runner for Lambda Managed Instances, whose failures reset nothing
        self._env = 0  # the environment whose fact is being written (0: the fleet's own, or none)

    # ------------------------------------------------------------------ lines

    # Every line goes through `printable`: /tmp names, log lines, responses, reprs and stack frames come from
    # user code, and must neither move the terminal (escape sequences) nor print a line of their own (a file
    # named "x\n  PASSED" would otherwise forge a verdict).

    def line(self, label: str, text: str = "", env: Optional[int] = None) -> None:
        """One line of a block; `env` names its environment (default: the one whose fact is being written)."""
        number = self._env if env is None else env
        gutter = (f"#{number}" if number else "").ljust(GUTTER) if self.tag_environments else "  "
        self._err_first()
        self.out.write(printable(f"{gutter}{label.ljust(LABEL_WIDTH)} {text}".rstrip()) + "\n")
        self.out.flush()

    def raw(self, text: str) -> None:
        self._err_first()
        self.out.write(printable(text) + "\n")
        self.out.flush()

    def _err_first(self) -> None:
        """The function's lines (on stderr, which the headless modes write at the end of the scheduling round) go out
        before the timeline's next line: on a terminal, or both streams in one file, a line the function printed
        comes before the response it returned after printing it."""
        if self._err_waiting:
            self._err_waiting = False
            self._err.flush()

    def step_header(self, scenario: Scenario, step: Step) -> None:
        where = f"{scenario.path.name}:{step.line}"
        self.raw(f"-- step {step.number}/{len(scenario.steps)}: {describe_action(step.action)}   [{where}]")

    # ------------------------------------------------------------------ facts

    def numbered(self, number: int, fact: f.Fact) -> None:
        """The fleet's numbered listener: `fact` from env #`number` (0: the fleet's own)."""
        self._env = number
        try:
            self(fact)
        finally:
            self._env = 0

    def __call__(self, fact: f.Fact) -> None:
        if type(fact) is f.LogLines and not self.verbose and fact.source not in (None, f.PLATFORM, f.LAMBDATUI):
            # A read's lines of the function's or an extension's, for stderr: one write, as `invoke` writes them
            # (a line at a time, a 100,000-line burst cost the host several times as much).
            self._console(self._env if self.tag_environments else 0, fact)
            self._err_waiting = True
        elif lines := f.log_lines(fact):
            for line in lines:
                self._log_line(line)
        elif isinstance(fact, f.BoundaryReached):
            self.line("boundary", fact.boundary.value + ("  (held)" if fact.held else ""))
        elif isinstance(fact, f.InvocationCompleted):
            self._result(fact.result)
        elif isinstance(fact, f.FaultInjected):
            self.line("fault", fact.description)
        elif isinstance(fact, f.FaultRefused):
            self.line("refused", f"{fact.description}: {fact.reason}")
        elif isinstance(fact, f.NewEnvironmentAnswered) and not fact.replaced:
            self.line("refused", f"new environment: {fact.text}")
        elif isinstance(fact, f.FaultArmed):
            self.line("armed", fact.description)
        elif isinstance(fact, f.PhaseStarted) and fact.phase in ("reset", "shutdown"):
            self.line(fact.phase, f"reason: {fact.detail}")
        elif isinstance(fact, f.PhaseStarted) and fact.worker:  # Managed Instances: which worker's globals it meets
            self.line("worker", f"#{fact.worker} takes {fact.detail}")
        elif isinstance(fact, f.PhaseEnded) and fact.phase in ("reset", "shutdown"):
            self.line(fact.phase, f"done in {fact.duration_ms:.0f} ms")
        elif isinstance(fact, f.ShutdownSent):
            self.line("SHUTDOWN", f"{fact.reason} -> extension {fact.extension}")
        elif isinstance(fact, f.ProcessExitedFact):
            how = " (during shutdown/reset)" if fact.expected else ""
            self.line("exited", f"{fact.participant}: {fact.description}{how}")
        elif isinstance(fact, f.EnvironmentFrozen):
            self.line("frozen", ", ".join(fact.participants) or "(no processes)")
        elif isinstance(fact, f.EnvironmentThawed):
            self.line("thawed", ", ".join(fact.participants) or "(no processes)")
        elif isinstance(fact, f.StacksCaptured):
            self._stacks(fact)
        elif isinstance(fact, f.GlobalsReported) and fact.phase == "invoke":
            self._globals(fact)
        elif isinstance(fact, f.TmpChanged) and fact.by != "before":
            self._tmp(fact)
        elif isinstance(fact, f.TelemetryDelivered):
            self._telemetry(fact)
        elif isinstance(fact, f.TelemetryDropped):
            self.line("telemetry", f"{fact.extension}: {fact.records} records dropped (its listener fell behind)")

    def _log_line(self, fact: f.LogLine) -> None:
        if fact.source == f.PLATFORM:
            self.line("platform", fact.text.replace("\t", "  ").rstrip())
        elif fact.source == f.LAMBDATUI:
            self.line("lambdatui", fact.text)
        elif self.verbose:
            label = fact.source.split(":", 1)[1] if fact.source.startswith("extension:") else fact.source
            for part in fact.text.replace("\r", "\n").splitlines() or [""]:
                self.line(label, part)
        else:
            self._console(self._env if self.tag_environments else 0, fact)
            self._err_waiting = True

    def _result(self, result: f.InvocationResult) -> None:
        if result.function_error:
            self.line("error", f"{result.error_type or '(no type)'}  {compact_json(result.payload)}")
        else:
            self.line("response", compact_json(result.payload))

    def _stacks(self, fact: f.StacksCaptured) -> None:
        heading, *rest = stack_summary(fact, self.code_dir)
        self.line("stack", heading)
        for text in rest:
            self.line("", text)

    def _globals(self, fact: f.GlobalsReported) -> None:
        state = [e for e in fact.entries if e.kind == "state"]
        if not state:
            return
        for entry in state[:MAX_GLOBALS]:
            change = "" if entry.change == "same" else f"  ({entry.change})"
            self.line("global", f"{entry.name} = {printable(entry.repr)}{change}")
        if len(state) > MAX_GLOBALS:
            self.line("global", f"... and {len(state) - MAX_GLOBALS} more")

    def _telemetry(self, fact: f.TelemetryDelivered) -> None:
        records = f"{fact.records} record{'s' * (fact.records != 1)}"
        if fact.error is not None:
            self.line("telemetry", f"{fact.extension}: attempt {fact.attempt} not taken ({fact.error}), {records}")
            return
        runs: list[list[Any]] = []
        for kind in fact.types:
            if runs and runs[-1][0] == kind:
                runs[-1][1] += 1
            else:
                runs.append([kind, 1])
        kinds = ", ".join(kind if n == 1 else f"{kind} x{n}" for kind, n in runs)
        self.line("telemetry", f"{fact.extension} <- {records}: {kinds}")

    def _tmp(self, fact: f.TmpChanged) -> None:
        for entry in fact.entries:
            if entry.change != "same":
                self.line("tmp", f"{entry.path}  {entry.change}, {entry.size} B")
        for path in fact.removed:
            self.line("tmp", f"{path}  removed")

    # ------------------------------------------------------------------ verdicts

    def outcome(self, seen: Observed, position: Optional[int] = None) -> None:
        """One line that says how the invoke ended, so that no error reads as a success; `position`: which of a
        parallel step's invokes it is.

        Needed because a handled error (the runtime's /error) looks like a success everywhere else: Lambda's
        own REPORT line carries a Status only for timeouts and crashes, and the invoke passes invoke.response.
        """
        which = f"parallel[{position}]: " if position is not None else ""
        streamed = any(isinstance(x, f.ResponseStreamEnded) and x.request_id == seen.request_id for x in seen.facts)
        self.line("outcome", which + describe_outcome(seen.result, seen.report, seen.throttled, streamed, self.managed),
                  env=seen.env or 0)

    def placed(self, position: int, event: bytes, seen: Observed) -> None:
        """Where one invoke of a parallel step went, as soon as it has an environment (or its throttle)."""
        where = "throttled (429)" if seen.throttled else f"env #{seen.env}" if seen.env else "(no environment)"
        self.line("invoke", f"parallel[{position}] {compact_json(event, 100)} -> {where}", env=seen.env or 0)

    def passed_over(self, key: str, passed: f.PreferredPassedOver, seen: Observed) -> None:
        """A step's `env = N` (`key`) not followed: why, and where the invoke went instead."""
        where = "throttled (429)" if seen.throttled else f"env #{seen.env}" if seen.env else "no environment"
        self.line("routing", f"{key} = {passed.preferred}: env #{passed.preferred} {passed.why}; routed as usual, to "
                             f"{where}", env=0)

    def fleet(self, before: FleetCounters, after: FleetCounters, environments: int) -> None:
        """The fleet after a step: what is alive, and what the step did to it."""
        cold, warm = after.cold_starts - before.cold_starts, after.warm_hits - before.warm_hits
        counts = [f"{cold} cold start{'s' * (cold != 1)}", f"{warm} warm hit{'s' * (warm != 1)}",
                  f"{after.throttled - before.throttled} throttled", f"{after.spun_down - before.spun_down} spun down"]
        self.line("fleet", f"{environments} environment{'s' * (environments != 1)} alive; this step: "
                           + ", ".join(counts), env=0)

    def passed(self, keys: Sequence[str]) -> None:
        if keys:
            self.line("ok", "expect " + ", ".join(keys), env=0)

    def failed(self, scenario: Scenario, step: Step, mismatch: Mismatch) -> None:
        self.line("FAILED", f"expect.{mismatch.key} at step {step.number} ({scenario.path}:{step.line})", env=0)
        if mismatch.detail:
            self.line("mismatch", mismatch.detail, env=0)
        if mismatch.diff:
            for text in mismatch.diff.splitlines():
                self.raw("    " + text)
        else:
            self.line("expected", mismatch.expected, env=0)
            self.line("actual", mismatch.actual, env=0)

    def stuck(self, scenario: Scenario, step: Step, bound: float, why: str) -> None:
        self.line("STUCK", f"step {step.number} ({scenario.path}:{step.line}) did not settle within {bound:g} s", env=0)
        for text in why.splitlines():
            self.line("", text, env=0)
