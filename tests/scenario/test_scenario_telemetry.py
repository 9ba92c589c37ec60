"""`expect.telemetry` (issue 10): parsed, matched, judged when an invoke's records have arrived, and recorded.

The telemetry facts are fed directly (the host's delivery publishes them the same way); the runner is driven
through a small controller that plays one invoke per step and delivers an invoke's last records only at the next
thaw (the next invoke, or the shutdown), as Lambda does and the host does.
"""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path
from typing import Callable, Optional

import pytest
import trio

from lambdatui import controller as c
from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.model.fleet import FleetOptions
from lambdatui.model.telemetry import TELEMETRY, Subscription
from lambdatui.scenario.match import telemetry_difference
from lambdatui.scenario.model import TelemetryExpect
from lambdatui.scenario.parse import ScenarioError, parse_scenario
from lambdatui.scenario.record import Recorder
from lambdatui.scenario.record_expectations import stable_types
from lambdatui.scenario.report import TimelinePrinter
from lambdatui.scenario.run import WAITING, judge_telemetry, run_scenario
from lambdatui.scenario.telemetry_ledger import TelemetryLedger, record_types

SAMPLES = Path(__file__).resolve().parents[2] / "sample_functions"
EXAMPLE = ["platform.start", "function", "platform.runtimeDone", "platform.report"]
SUB = Subscription(TELEMETRY, "2022-12-13", ("platform", "function"), 1000, 262144, 100, "HTTP", 4243)


def parse(text: str):
    return parse_scenario(textwrap.dedent(text), Path("s.toml"))


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse(text)
    return str(caught.value)


def rec(kind: str, request_id: Optional[str] = None, text: Optional[str] = None) -> dict:
    body: object = text if text is not None else ({"requestId": request_id} if request_id else {})
    return {"time": "2023-11-14T22:13:20.000Z", "type": kind, "record": body}


def delivered(*records: dict, extension: str = "obs", error: Optional[str] = None) -> f.TelemetryDelivered:
    text = json.dumps(list(records))
    return f.TelemetryDelivered(extension, TELEMETRY, len(records), len(text), tuple(r["type"] for r in records),
                                error, 1, text)


def invoke_records(request_id: str) -> list[dict]:
    return [rec("platform.start", request_id), rec("function", text="hello\n"), rec("function", text="bye\n"),
            rec("platform.runtimeDone", request_id), rec("platform.report", request_id)]


INIT = [rec("platform.initStart"), rec("extension", text="[obs] up\n"), rec("platform.telemetrySubscription"),
        rec("platform.initRuntimeDone"), rec("platform.extension"), rec("platform.initReport")]


# ---------------------------------------------------------------------- parsing


def test_a_table_and_an_array_of_tables_parse() -> None:
    scenario = parse(f"""
        [[step]]
        invoke = {{}}
        expect.telemetry = {{ extension = "obs", types = {json.dumps(EXAMPLE)} }}

        [[step]]
        invoke = {{}}
        expect.telemetry = [{{ extension = "a", types = ["function"], exact = true }},
                            {{ extension = "b", types = ["platform.report"] }}]
    """)
    first, second = scenario.steps
    assert first.expect.telemetry == (TelemetryExpect("obs", tuple(EXAMPLE)),)
    assert second.expect.telemetry == (TelemetryExpect("a", ("function",), True),
                                       TelemetryExpect("b", ("platform.report",)))
    assert first.expect.keys() == ("telemetry",)


@pytest.mark.parametrize("value, message", [
    ('"obs"', "expect.telemetry must be a table like"),
    ('{ types = ["function"] }', "needs extension"),
    ('{ extension = "obs" }', "needs types"),
    ('{ extension = "", types = ["function"] }', "extension is empty"),
    ('{ extension = "obs", types = [] }', "types must be a non-empty array of record types"),
    ('{ extension = "obs", types = ["platform.runtime_done"] }',
     "types[0] = 'platform.runtime_done' is not a record type the Telemetry or Logs API sends "
     "(did you mean 'platform.runtimeDone'?)"),
    ('{ extension = "obs", types = [1] }', "types[0] must be a record type (a string), got an integer"),
    ('{ extension = "obs", types = ["function"], exact = "yes" }', "exact must be true or false"),
    ('{ extension = "obs", typs = ["function"] }', "unknown key typs (did you mean 'types'?)"),
    ('[{ extension = "obs", types = ["function"] }, { extension = "obs", types = ["extension"] }]',
     "extension 'obs' is named twice"),
])
def test_malformed_telemetry_expectations_say_what_is_wrong(value: str, message: str) -> None:
    text = error_of(f"""
        [[step]]
        invoke = {{}}
        expect.telemetry = {value}
    """)
    assert message in text and "s.toml:" in text


def test_telemetry_follows_an_invoke_only() -> None:
    text = error_of("""
        [[step]]
        shutdown = true
        expect.telemetry = { extension = "obs", types = ["function"] }
    """)
    assert "expect.telemetry makes no sense here" in text and "telemetry follow an invoke" in text


# ---------------------------------------------------------------------- matching


def test_in_order_with_others_between_unless_exact() -> None:
    received = ["platform.start", "function", "function", "platform.runtimeDone", "platform.report"]
    assert telemetry_difference(tuple(EXAMPLE), received, exact=False) is None
    assert telemetry_difference(tuple(EXAMPLE), received, exact=True) == (
        "record 3: expected platform.runtimeDone, got function (exact = true)")
    assert telemetry_difference(("platform.report", "platform.start"), received, exact=False) == (
        "no platform.start after platform.report (it came earlier, out of order)")
    assert telemetry_difference(("function", "platform.logsDropped"), received, exact=False) == (
        "no platform.logsDropped after function")


# ---------------------------------------------------------------------- the ledger: records by invoke


def test_records_go_to_their_invoke_whenever_they_arrive_and_init_goes_with_the_next() -> None:
    ledger = TelemetryLedger()
    ledger.begin("r1")
    first, second = invoke_records("r1"), invoke_records("r2")
    ledger(delivered(*INIT, *first[:3]))  # Init and invoke 1 up to its output, during invoke 1
    assert ledger.types_for("obs", "r1") == [r["type"] for r in INIT + first[:3]]
    assert not ledger.complete("obs", "r1")
    ledger(delivered(*first[3:], *second[:2]))  # the rest of invoke 1 at the next thaw, with invoke 2's start
    assert ledger.types_for("obs", "r1") == [r["type"] for r in INIT + first]
    assert ledger.complete("obs", "r1")
    assert ledger.types_for("obs", "r2") == ["platform.start", "function"]
    assert ledger.extensions_for("r2") == ["obs"]


def test_a_failed_attempt_counts_nothing_and_a_reset_completes_an_invoke() -> None:
    ledger = TelemetryLedger()
    ledger.begin("r1")
    ledger(delivered(rec("platform.start", "r1"), error="connection refused"))
    assert ledger.types_for("obs", "r1") == []
    ledger(delivered(rec("platform.start", "r1"), rec("platform.runtimeDone", "r1")))
    ledger(f.PhaseEnded("reset", "success", 12.0))
    assert ledger.complete("obs", "r1")


def test_logs_api_text_records_name_their_request_id() -> None:
    batch = json.dumps([rec("platform.fault", text="RequestId: r9 Process exited before completing request")])
    assert record_types(batch, ("platform.fault",)) == [("platform.fault", "r9")]
    assert record_types("[cut", ("function", "platform.start")) == [("function", None), ("platform.start", None)]


def test_judged_now_waiting_or_failed() -> None:
    ledger = TelemetryLedger()
    ledger.begin("r1")
    ledger(f.TelemetrySubscribed("obs", SUB))
    records = invoke_records("r1")
    ledger(delivered(*records[:3]))
    expect = TelemetryExpect("obs", tuple(EXAMPLE))
    assert judge_telemetry(expect, "r1", ledger) is WAITING  # platform.report may still come
    assert judge_telemetry(TelemetryExpect("obs", ("platform.start", "function")), "r1", ledger) is None
    exact = TelemetryExpect("obs", ("platform.start", "platform.runtimeDone"), exact=True)
    early = judge_telemetry(exact, "r1", ledger)  # already wrong, whatever comes next
    assert early is not None and early is not WAITING and early.detail == (
        "telemetry.obs: record 2: expected platform.runtimeDone, got function (exact = true)")
    ledger(delivered(*records[3:]))
    assert judge_telemetry(expect, "r1", ledger) is None
    missing = judge_telemetry(TelemetryExpect("obs", ("platform.report", "function")), "r1", ledger)
    assert missing is not None and missing is not WAITING
    assert missing.key == "telemetry"
    assert missing.detail == "telemetry.obs: no function after platform.report (it came earlier, out of order)"
    assert "obs received for this invoke: platform.start, function, function" in missing.actual
    assert missing.diff is not None and "+function" in missing.diff


def test_nothing_received_says_whether_the_extension_ever_subscribed() -> None:
    ledger = TelemetryLedger()
    verdict = judge_telemetry(TelemetryExpect("ghost", ("function",)), "r1", ledger, final=True)
    assert verdict is not None and verdict is not WAITING
    assert "ghost never subscribed to the Telemetry or Logs API" in verdict.actual
    ledger(f.TelemetrySubscribed("ghost", SUB))
    verdict = judge_telemetry(TelemetryExpect("ghost", ("function",)), "r1", ledger, final=True)
    assert verdict is not None and verdict is not WAITING
    assert verdict.actual == "nothing was delivered to ghost for this invoke"


# ---------------------------------------------------------------------- the runner: judged once the records arrived


class ThawDelivers:
    """A controller whose invokes deliver their telemetry as Lambda does: up to the runtime's output during the
    invoke, the rest (runtimeDone, report) at the next thaw, the next invoke's or the shutdown's."""

    def __init__(self, records: Callable[[str], list[dict]] = invoke_records) -> None:
        self.records = records
        self.fleet = self  # one environment, env #1: what the runner asks of the fleet, it answers
        self.options = FleetOptions()  # lambdatui's defaults: not Managed Instances
        self.listeners: list[Callable[[f.Fact], None]] = []
        self.buffered: list[dict] = []
        self.state = EnvState.COLD
        self.commands: list[c.Command] = []

    def subscribe(self, listener: Callable[[f.Fact], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def subscribe_numbered(self, listener: Callable[[int, f.Fact], None]) -> Callable[[], None]:
        return self.subscribe(lambda fact: listener(1, fact))

    async def invoke(self, event: bytes, *, request_id: str, on_placed: Callable[[], None],
                     preferred: Optional[int] = None, asynchronous: bool = False,
                     **caller: object) -> tuple[object, None]:
        on_placed()  # one environment: it takes every invoke, whichever a step prefers (what its caller sent aside)
        self.submit(c.Invoke(event, request_id))
        return None, None

    def publish(self, fact: f.Fact) -> None:
        for listener in list(self.listeners):
            listener(fact)

    def snapshot(self):
        class Snapshot:
            function = type("Function", (), {"timeout_s": 3})()
            environment = type("Environment", (), {"state": self.state})()
            environments = ()
        return Snapshot()

    def armed_faults(self) -> list[tuple[int, str]]:
        return []  # no fault is ever armed here

    def submit(self, command: c.Command) -> None:
        self.commands.append(command)
        if isinstance(command, c.Invoke):
            request_id = command.request_id or "r"
            records = self.records(request_id)
            cold = self.state is EnvState.COLD
            if cold:
                self.publish(f.TelemetrySubscribed("obs", SUB))
            now = (INIT if cold else []) + self.buffered + records[:3]
            self.publish(delivered(*now))
            self.buffered = records[3:]
            self.state = EnvState.FROZEN
            self.publish(f.InvocationCompleted(f.InvocationResult(request_id, b"{}")))
        elif isinstance(command, c.Shutdown):
            if self.buffered:
                self.publish(delivered(*self.buffered))
            self.buffered = []
            self.state = EnvState.SHUT_DOWN
            self.publish(f.PhaseEnded("shutdown", "success", 20.0))

    async def settled(self) -> None:
        await trio.sleep(0)


async def run(text: str, session: ThawDelivers) -> tuple[object, str]:
    out = io.StringIO()
    outcome = await run_scenario(parse(text), session, TimelinePrinter(out, io.StringIO()))  # type: ignore[arg-type]
    return outcome, out.getvalue()


@pytest.mark.trio
async def test_an_invokes_report_arriving_at_the_next_invoke_or_the_shutdown_still_counts_for_its_step() -> None:
    session = ThawDelivers()
    outcome, out = await run(f"""
        [[step]]
        invoke = {{}}
        expect.telemetry = {{ extension = "obs", types = ["platform.initStart", "platform.initReport",
                                                        {', '.join(json.dumps(t) for t in EXAMPLE)}] }}

        [[step]]
        invoke = {{}}
        expect.telemetry = {{ extension = "obs", types = {json.dumps(EXAMPLE)} }}
    """, session)
    assert outcome.passed, out  # type: ignore[attr-defined]
    assert outcome.expectations == 2  # type: ignore[attr-defined]
    assert "not all of this invoke's records have arrived" in out
    assert "expect telemetry (obs) of step 1" in out and "expect telemetry (obs) of step 2" in out
    assert "obs <- 5 records: platform.runtimeDone, platform.report, platform.start, function x2" in out
    assert isinstance(session.commands[-1], c.Shutdown)  # the last invoke's report came with the shutdown


@pytest.mark.trio
async def test_a_record_that_never_came_fails_its_step_with_what_did() -> None:
    session = ThawDelivers(lambda rid: [r for r in invoke_records(rid) if r["type"] != "function"])
    outcome, out = await run(f"""
        [[step]]
        invoke = {{}}
        expect.telemetry = {{ extension = "obs", types = {json.dumps(EXAMPLE)} }}
    """, session)
    assert not outcome.passed  # type: ignore[attr-defined]
    assert outcome.mismatch.key == "telemetry"  # type: ignore[attr-defined]
    assert "FAILED     expect.telemetry at step 1" in out
    assert "telemetry.obs: no function after platform.start" in out


@pytest.mark.trio
async def test_without_telemetry_expectations_nothing_is_shut_down_early() -> None:
    session = ThawDelivers()
    outcome, _ = await run("""
        [[step]]
        invoke = {}
    """, session)
    assert outcome.passed  # type: ignore[attr-defined]
    assert not any(isinstance(x, c.Shutdown) for x in session.commands)


# ---------------------------------------------------------------------- recording


def test_stable_types_leave_out_what_timing_decides_and_fold_runs() -> None:
    assert stable_types(["platform.initStart", "extension", "function", "function", "platform.logsDropped",
                         "function", "platform.report"]) == ["platform.initStart", "function", "platform.report"]


def test_recorded_telemetry_replays_against_what_the_extension_receives() -> None:
    recorder = Recorder(resolve_function(str(SAMPLES / "counter" / "handler.py")))
    recorder(f.InvocationQueued("r1", 1, b"{}"))
    recorder(f.TelemetrySubscribed("obs", SUB))
    recorder(delivered(*INIT, *invoke_records("r1")[:3]))
    recorder(f.InvocationCompleted(f.InvocationResult("r1", b'{"ok": true}')))
    recorder(f.InvocationQueued("r2", 2, b"{}"))
    recorder(delivered(*invoke_records("r1")[3:], *invoke_records("r2")[:3]))
    recorder(f.InvocationCompleted(f.InvocationResult("r2", b'{"ok": true}')))
    recorder.session_ended()
    recorder(delivered(*invoke_records("r2")[3:]))  # the final shutdown's flush still counts for invoke 2
    recorder(delivered(*invoke_records("r3"), extension="other"))  # an invoke nobody recorded
    scenario = parse_scenario(recorder.to_toml(), Path("rec.toml"))
    first, second = scenario.steps
    assert first.expect.telemetry == (TelemetryExpect("obs", (
        "platform.initStart", "platform.telemetrySubscription", "platform.initRuntimeDone", "platform.extension",
        "platform.initReport", "platform.start", "function", "platform.runtimeDone", "platform.report")),)
    assert second.expect.telemetry == (TelemetryExpect("obs", tuple(EXAMPLE)),)
    for step, request_id in ((first, "r1"), (second, "r2")):
        received = recorder.telemetry.types_for("obs", request_id)
        (expect,) = step.expect.telemetry
        assert telemetry_difference(expect.types, received, exact=False) is None


def test_no_telemetry_no_telemetry_expectation() -> None:
    recorder = Recorder(resolve_function(str(SAMPLES / "counter" / "handler.py")))
    recorder(f.InvocationQueued("r1", 1, b"{}"))
    recorder(f.InvocationCompleted(f.InvocationResult("r1", b'{"ok": true}')))
    assert "telemetry" not in recorder.to_toml()


def test_once_records_were_dropped_that_invoke_and_the_next_ones_expect_no_telemetry() -> None:
    """A burst of output overflows the extension's buffer: which records it takes from then on depends on how fast it
    reads, and a replay lost the invoke's report, or the next invoke's platform.start, or all of its records (half of
    the replays failed in a bug hunt). An invoke before the drop keeps its expectation."""
    recorder = Recorder(resolve_function(str(SAMPLES / "counter" / "handler.py")))
    recorder(f.TelemetrySubscribed("obs", SUB))
    for request_id, dropping in (("r1", False), ("r2", True), ("r3", False)):
        recorder(f.InvocationQueued(request_id, 1, b"{}"))
        records = invoke_records(request_id)
        recorder(delivered(*records[:2], *([rec("platform.logsDropped")] if dropping else []), *records[2:]))
        recorder(f.InvocationCompleted(f.InvocationResult(request_id, b'{"ok": true}')))
    first, second, third = parse_scenario(recorder.to_toml(), Path("rec.toml")).steps
    assert first.expect.telemetry == (TelemetryExpect("obs", tuple(EXAMPLE)),)
    assert second.expect.telemetry is None and third.expect.telemetry is None
