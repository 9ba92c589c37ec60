"""Whether a step's expectations held: each check compares what was observed with what the scenario expects.

An `Observed` is what one invoke (or a whole step) left behind: its result, its REPORT, the facts of its
environment, the environment's number. The fleet's counts are judged from the counters before and after the
step (`check_fleet`); telemetry from the ledger, since an invoke's records may arrive steps later
(`judge_telemetry`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Union

from lambdatui.core.invoke_rules import THROTTLED
from lambdatui.json_text import nesting_depth
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.model.fleet import FleetCounters
from lambdatui.scenario.match import (
    ROOT,
    child_path,
    json_equal,
    projected,
    response_difference,
    shown,
    telemetry_difference,
    telemetry_prefix,
)
from lambdatui.scenario.model import FLEET_KEYS, Expect, ResponsePath, TelemetryExpect, failed_after
from lambdatui.scenario.report import Mismatch, pretty_json, unified
from lambdatui.scenario.telemetry_ledger import TelemetryLedger
from lambdatui.scenario.values import MAX_VALUE_DEPTH

if TYPE_CHECKING:
    from lambdatui.host.debug_session import DebugSession


@dataclass
class Observed:
    """What one invoke, or a step, left behind, as the controller reported it."""

    request_id: Optional[str] = None
    facts: list[f.Fact] = field(default_factory=list)  # of its environment during the step (a step's: all of them)
    result: Optional[f.InvocationResult] = None
    report: Optional[f.InvokeReported] = None
    env: Optional[int] = None  # env #N that took the invoke
    throttled: bool = False  # refused with 429 before any environment took it

    def last(self, kind: type) -> Any:
        return next((x for x in reversed(self.facts) if isinstance(x, kind)), None)


def _lines(values: list[str]) -> str:
    return ", ".join(values) if values else "(none)"


def check(expect: Expect, facts: Observed, session: DebugSession) -> Optional[Mismatch]:
    """The first expectation on what `facts` observed that does not hold, or None. Apart: `telemetry`
    (`judge_telemetry`), `each` (the runner checks each invoke's own) and the fleet's counts (`check_fleet`)."""
    for key in expect.keys():
        if key in _CHECKS:
            mismatch = _CHECKS[key](expect, facts, session)
            if mismatch is not None:
                return mismatch
    return None


THROTTLE_SHOWN = f"(throttled: 429 {THROTTLED}, no environment ran it)"
_TOO_DEEP = f"a response nested more than {MAX_VALUE_DEPTH} levels deep, which a scenario does not read"
_TOO_DEEP_SHOWN = f"({_TOO_DEEP})"


class _TooDeep(Exception):
    """A response nested past MAX_VALUE_DEPTH levels."""


def _read_response(text: str) -> Any:
    """The response's JSON (ValueError: it is none; _TooDeep past MAX_VALUE_DEPTH levels, on every host, as a
    scenario's own values are bounded: how deep the host's parser follows depends on its Python's version, about
    1,000 levels to 3.11 and 10,000 on 3.13, and a step must pass or fail alike wherever it is replayed)."""
    if nesting_depth(text) > MAX_VALUE_DEPTH:
        raise _TooDeep
    return json.loads(text)


def _check_response(expect: Expect, facts: Observed, session: DebugSession) -> Optional[Mismatch]:
    expected_text = pretty_json(expect.response)
    result = facts.result
    if facts.throttled:
        return Mismatch("response", expected_text, THROTTLE_SHOWN)
    if result is None:
        return Mismatch("response", expected_text, "(no response)")
    text = result.payload.decode("utf-8", "replace")
    try:
        actual = _read_response(text)
    except ValueError:
        return Mismatch("response", expected_text, text,
                        unified(expected_text.splitlines(), ["(not JSON:)", *text.splitlines()]))
    except _TooDeep:
        return Mismatch("response", expected_text, _TOO_DEEP_SHOWN)
    difference = response_difference(expect.response, actual, exact=expect.response_exact)
    if difference is None:
        return None
    # A subset is diffed against the keys it names only: the others (a request id...) are no difference.
    shown = actual if expect.response_exact else projected(expect.response, actual)
    actual_text = pretty_json(shown)
    return Mismatch("response", expected_text, actual_text, unified(expected_text.splitlines(), actual_text.splitlines()),
                    detail=difference.message)


def _check_error_type(expect: Expect, facts: Observed, session: DebugSession) -> Optional[Mismatch]:
    result = facts.result
    if facts.throttled:
        # What the caller gets is Lambda's own error, not the function's: the SDKs raise it by this name.
        return None if expect.error_type == THROTTLED else Mismatch("error_type", str(expect.error_type), THROTTLED)
    if result is None:
        return Mismatch("error_type", str(expect.error_type), "(no response)")
    if not result.function_error:
        return Mismatch("error_type", str(expect.error_type), "(none: the invoke succeeded)")
    if result.error_type == expect.error_type:
        return None
    return Mismatch("error_type", str(expect.error_type), str(result.error_type))


def _check_succeeded(expect: Expect, facts: Observed, session: DebugSession) -> Optional[Mismatch]:
    result = facts.result
    if facts.throttled:
        return Mismatch("succeeded", "true", THROTTLED)
    if result is None:
        return Mismatch("succeeded", "true", "(no response)")
    if result.function_error:
        return Mismatch("succeeded", "true", f"failed with {result.error_type or '(no type)'}")
    return None


def _check_failed_after(expect: Expect, facts: Observed, session: DebugSession) -> Optional[Mismatch]:
    if facts.throttled:
        return Mismatch("failed_after", str(expect.failed_after), THROTTLE_SHOWN)
    if facts.result is None or facts.report is None:
        return Mismatch("failed_after", str(expect.failed_after), "(no response and REPORT)")
    if facts.result.function_error:
        return Mismatch("failed_after", str(expect.failed_after),
                        f"failed before its response, with {facts.result.error_type or '(no type)'}")
    actual = failed_after(facts.result, facts.report)
    if actual == expect.failed_after:
        return None
    return Mismatch("failed_after", str(expect.failed_after), actual or "(nothing failed after the response)")


def _check_cold(expect: Expect, facts: Observed, session: DebugSession) -> Optional[Mismatch]:
    if facts.report is None:
        why = THROTTLE_SHOWN if facts.throttled else "(no REPORT for this invoke: it never ran)"
        return Mismatch("cold", str(expect.cold).lower(), why)
    if facts.report.cold == expect.cold:
        return None
    return Mismatch("cold", str(expect.cold).lower(), str(facts.report.cold).lower())


def _check_globals(expect: Expect, facts: Observed, session: DebugSession) -> Optional[Mismatch]:
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


def _tmp_listing(session: DebugSession, env: Optional[int]) -> Optional[set[str]]:
    """/tmp of the environment that ran the invoke (with no invoke: the first one alive)."""
    listing = (session.snapshot() if env is None else session.snapshot(focus=env)).tmp
    return None if listing is None else {e.path for e in listing.entries}


def _check_tmp(expect: Expect, facts: Observed, session: DebugSession) -> Optional[Mismatch]:
    assert expect.tmp is not None
    paths = _tmp_listing(session, facts.env)
    if paths is None:
        return Mismatch("tmp", _lines(list(expect.tmp)), "(no /tmp listing yet)")
    missing = [p for p in expect.tmp if p not in paths]
    if not missing:
        return None
    return Mismatch("tmp", f"these exist: {_lines(list(expect.tmp))}",
                    f"missing: {_lines(missing)}; /tmp holds: {_lines(sorted(paths))}")


def _check_tmp_absent(expect: Expect, facts: Observed, session: DebugSession) -> Optional[Mismatch]:
    assert expect.tmp_absent is not None
    paths = _tmp_listing(session, facts.env) or set()
    present = [p for p in expect.tmp_absent if p in paths]
    if not present:
        return None
    return Mismatch("tmp_absent", f"none of these exist: {_lines(list(expect.tmp_absent))}",
                    f"present: {_lines(present)}")


def _check_shutdown_reason(expect: Expect, facts: Observed, session: DebugSession) -> Optional[Mismatch]:
    reasons = sorted({x.reason for x in facts.facts if isinstance(x, f.ShutdownSent)})
    if reasons == [expect.shutdown_reason]:
        return None
    actual = _lines(reasons) if reasons else "(no SHUTDOWN event reached an extension during this step)"
    return Mismatch("shutdown_reason", str(expect.shutdown_reason), actual)


def _check_phases(expect: Expect, facts: Observed, session: DebugSession) -> Optional[Mismatch]:
    assert expect.phases is not None
    expected = [b.value for b in expect.phases]
    actual = [x.boundary.value for x in facts.facts if isinstance(x, f.BoundaryReached)]
    if expected == actual:
        return None
    return Mismatch("phases", _lines(expected), _lines(actual), unified(expected, actual))


_CHECKS = {
    "response": _check_response,
    "error_type": _check_error_type,
    "succeeded": _check_succeeded,
    "failed_after": _check_failed_after,
    "cold": _check_cold,
    "globals": _check_globals,
    "tmp": _check_tmp,
    "tmp_absent": _check_tmp_absent,
    "shutdown_reason": _check_shutdown_reason,
    "phases": _check_phases,
}


_MISSING = object()


def _value_at(seen: Observed, path: ResponsePath) -> tuple[Any, str]:
    """The value at `path` in the invoke's response, and how to show it; _MISSING when it has none, and why."""
    result = seen.result
    if seen.throttled:
        return _MISSING, "throttled (429), no response"
    if result is None:
        return _MISSING, "no response"
    if result.function_error:
        return _MISSING, f"failed with {result.error_type}"
    try:
        value = _read_response(result.payload.decode("utf-8", "replace"))
    except ValueError:
        return _MISSING, "a response that is not JSON"
    except _TooDeep:
        return _MISSING, _TOO_DEEP
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return _MISSING, "no such key"
        value = value[key]
    return value, shown(value)


def check_across(expect: Expect, invokes: list[Observed]) -> Optional[Mismatch]:
    """`expect.same` and `expect.distinct`: the parallel step's invokes compared with one another, value by value."""
    for key, paths in (("same", expect.same), ("distinct", expect.distinct)):
        for path in paths or ():
            where = ROOT
            for name in path:
                where = child_path(where, name)
            values = [_value_at(seen, path) for seen in invokes]
            listed = ", ".join(f"parallel[{i}] {text}" for i, (_, text) in enumerate(values))
            wanted = (f"{where} the same in all {len(invokes)} invokes" if key == "same"
                      else f"{where} different in each of the {len(invokes)} invokes")
            lacking = next((i for i, (value, _) in enumerate(values) if value is _MISSING), None)
            if lacking is not None:
                return Mismatch(key, wanted, listed, detail=f"{where}: parallel[{lacking}] has no value to compare "
                                                            f"({values[lacking][1]})")
            detail = _same_difference(values, where) if key == "same" else _distinct_difference(values, where)
            if detail is not None:
                return Mismatch(key, wanted, listed, detail=detail)
    return None


def _same_difference(values: list[tuple[Any, str]], where: str) -> Optional[str]:
    first = values[0][0]
    other = next((i for i, (value, _) in enumerate(values) if not json_equal(first, value)), None)
    if other is None:
        return None
    return f"{where}: parallel[{other}] got {values[other][1]}, parallel[0] got {values[0][1]}"


def _distinct_difference(values: list[tuple[Any, str]], where: str) -> Optional[str]:
    for later in range(1, len(values)):
        for earlier in range(later):
            if json_equal(values[earlier][0], values[later][0]):
                return f"{where}: parallel[{earlier}] and parallel[{later}] both got {values[later][1]}"
    return None


def alive(session: DebugSession) -> int:
    """Environments alive: listed, and not shut down (one spun down may be listed until it is removed)."""
    return sum(1 for line in session.snapshot().environments if line.state is not EnvState.SHUT_DOWN)


def check_fleet(expect: Expect, before: FleetCounters, after: FleetCounters, environments: int) -> Optional[Mismatch]:
    """The step's fleet expectations: `environments` alive after it, the other counts as they grew during it."""
    for key in FLEET_KEYS:
        wanted = getattr(expect, key)
        if wanted is None:
            continue
        got = environments if key == "environments" else getattr(after, key) - getattr(before, key)
        if got != wanted:
            what = "alive after the step" if key == "environments" else "during the step"
            return Mismatch(key, f"{wanted} {what}", f"{got} {what}",
                            detail=f"fleet: {fleet_line(after, environments)}")
    return None


def fleet_line(counters: FleetCounters, environments: int) -> str:
    return (f"{environments} environment{'s' * (environments != 1)} alive (limit {counters.limit}), since the start: "
            f"{counters.cold_starts} cold start{'s' * (counters.cold_starts != 1)}, {counters.warm_hits} warm "
            f"hit{'s' * (counters.warm_hits != 1)}, {counters.throttled} throttled, "
            f"{counters.spun_down} spun down")


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
