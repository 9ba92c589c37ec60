"""Init and invoke with extensions, and the Extensions API's refusals (lambda-spec §2, §4.1, §4.4)."""

from __future__ import annotations

import itertools
import json

import pytest
from driver import ARN, BOTH, WALL0, Driver, ext

from lambdatui.core.effects import RUNTIME, Freeze, Reply, Spawn, Thaw
from lambdatui.core.inputs import FaultRequested
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import EnvState

NAMES = ("ext-a", "ext-b")


def registered(subscriptions: dict[str, tuple[str, ...]]) -> Driver:
    d = Driver(subscriptions)
    d.start()
    for name, events in subscriptions.items():
        d.register(name, events)
    return d


def warm(subscriptions: dict[str, tuple[str, ...]]) -> Driver:
    d = Driver(subscriptions)
    d.cold_start(subscriptions)
    return d


# ---------------------------------------------------------------------- Init with extensions

def test_extensions_are_spawned_at_init_extensions_and_the_runtime_only_after_all_registered():
    d = Driver(NAMES)
    d.start()
    assert d.spawns() == [Spawn(ext("ext-a"), 1), Spawn(ext("ext-b"), 1)]
    assert d.boundaries() == [("init.extensions", False)]
    d.register("ext-b")
    assert RUNTIME not in d.spawned()
    d.ext_next("ext-b")  # parking early does not launch the runtime either
    assert RUNTIME not in d.spawned()
    m = d.mark()
    d.register("ext-a")
    assert d.spawned(m) == [RUNTIME]
    assert d.boundaries(m) == [("init.runtime", False)]
    assert d.env.snapshot(d.mono).init_sub_phase == "runtime"


@pytest.mark.parametrize(("account", "expected"), [
    (False, {"functionName": "my-fn", "functionVersion": "$LATEST", "handler": "app.handler"}),
    (True, {"functionName": "my-fn", "functionVersion": "$LATEST", "handler": "app.handler",
            "accountId": "012345678912"}),
])
def test_register_response_body_and_identifier_header(account, expected):
    d = Driver(NAMES)
    d.start()
    reply = d.register("ext-a", ("INVOKE",), account=account)
    assert reply.status == 200
    assert json.loads(reply.body) == expected
    headers = dict(reply.headers)
    assert headers["Content-Type"] == "application/json"
    assert headers["Lambda-Extension-Identifier"] == "id-1"
    assert d.register("ext-b").headers[-1] == ("Lambda-Extension-Identifier", "id-2")


ORDERS = list(itertools.permutations(["runtime", "ext-a", "ext-b"]))


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(o) for o in ORDERS])
def test_init_is_done_only_when_the_runtime_and_every_registered_extension_parked(order):
    d = registered({"ext-a": BOTH, "ext-b": ("SHUTDOWN",)})
    for i, who in enumerate(order):
        assert d.state is EnvState.INIT, f"init finished before {who} parked"
        d.advance(10.5)
        if who == "runtime":
            d.runtime_next()
        else:
            d.ext_next(who)
    assert d.state is EnvState.FROZEN
    assert d.effects(Freeze) == [Freeze((RUNTIME, ext("ext-a"), ext("ext-b")), whole=True)]
    assert d.facts(f.PhaseEnded)[0].duration_ms == pytest.approx(31.5)


def test_extension_lines_are_written_at_the_end_of_init():
    d = registered({"ext-a": BOTH, "ext-b": ("SHUTDOWN",)})
    d.ext_next("ext-a")
    d.ext_next("ext-b")
    assert not any(line.startswith("EXTENSION") for line in d.lines())
    m = d.mark()
    d.runtime_next()
    assert d.lines(since=m) == [
        "EXTENSION\tName: ext-a\tState: Ready\tEvents: [INVOKE,SHUTDOWN]",
        "EXTENSION\tName: ext-b\tState: Ready\tEvents: [SHUTDOWN]",
    ]


def test_an_extension_may_park_before_registering_others_finish():
    d = Driver(NAMES)
    d.start()
    d.register("ext-a")
    tok = d.ext_next("ext-a")
    assert not d.answered(tok)
    assert d.env.extensions["ext-a"].state.value == "Ready"


# ---------------------------------------------------------------------- Invoke with extensions

SUBS = {"ext-a": BOTH, "ext-b": ("SHUTDOWN",), "ext-c": ("INVOKE",)}


def test_invoke_event_goes_to_invoke_subscribers_only_and_extensions_before_the_runtime():
    d = warm(SUBS)
    parked = dict(d.next_token)
    d.advance(250)
    m = d.mark()
    _, rid = d.invoke("r-1", trace_id="Root=1-5f35ae12-0c0fec141ab77a00bc047aa2;Parent=2be948a625588e32;Sampled=1")
    expected_deadline = WALL0 + 250 + 3000
    for name in ("ext-a", "ext-c"):
        reply = d.reply(parked[ext(name)])
        assert reply.status == 200
        assert json.loads(reply.body) == {
            "eventType": "INVOKE",
            "deadlineMs": expected_deadline,
            "requestId": "r-1",
            "invokedFunctionArn": ARN,
            "tracing": {"type": "X-Amzn-Trace-Id",
                        "value": "Root=1-5f35ae12-0c0fec141ab77a00bc047aa2;Parent=2be948a625588e32;Sampled=1"},
        }
        headers = dict(reply.headers)
        assert headers["Content-Type"] == "application/json"
        assert headers["Lambda-Extension-Event-Identifier"]
        assert "payload" not in reply.body.decode()
    assert not d.answered(parked[ext("ext-b")])  # SHUTDOWN-only stays parked
    runtime_reply = d.reply(parked[RUNTIME])
    assert dict(runtime_reply.headers)["Lambda-Runtime-Deadline-Ms"] == str(expected_deadline)
    order = [e.token for e in d.effects(Reply, m)]
    assert order == [parked[ext("ext-a")], parked[ext("ext-c")], parked[RUNTIME]]
    assert d.effects(Thaw, m) == [Thaw((RUNTIME, ext("ext-a"), ext("ext-b"), ext("ext-c")), whole=True)]


def test_event_identifiers_are_distinct_per_delivery():
    d = warm(SUBS)
    parked = dict(d.next_token)
    d.invoke()
    ids = {dict(d.reply(parked[ext(n)]).headers)["Lambda-Extension-Event-Identifier"] for n in ("ext-a", "ext-c")}
    assert len(ids) == 2


def test_invoke_done_waits_for_invoke_extensions_to_park_again():
    d = warm(SUBS)
    caller, rid = d.invoke()
    d.advance(50.5)
    d.respond(rid)
    assert d.result_for(caller).payload == b'"ok"'  # the caller has its answer already
    d.runtime_next()
    assert d.state is EnvState.RUNNING and not d.reports()
    d.advance(100)
    d.ext_next("ext-a")
    assert d.state is EnvState.RUNNING and not d.reports()
    m = d.mark()
    d.advance(25)
    d.ext_next("ext-c")
    assert d.lines(since=m) == [f"END RequestId: {rid}"]
    [report] = d.reports()
    assert report.duration_ms == pytest.approx(175.5)  # extension work after the response counts
    assert d.state is EnvState.FROZEN
    assert d.effects(Freeze, m) == [Freeze((RUNTIME, ext("ext-a"), ext("ext-b"), ext("ext-c")), whole=True)]


def test_an_extension_still_working_at_the_deadline_times_out_an_invoke_whose_caller_had_its_response():
    d = warm(SUBS)
    caller, rid = d.invoke()
    d.respond(rid)
    d.runtime_next()
    d.ext_next("ext-a")
    m = d.mark()
    d.advance(3000)
    d.fire("invoke")
    assert d.result_for(caller).payload == b'"ok"'  # as Lambda answers: the response went out when it came
    assert "Task timed out after 3.00 seconds" in d.lines(since=m)[0]
    [report] = d.reports()
    assert report.status == "timeout"
    assert d.explanations(since=m) == [
        "The caller already had its response, yet the invoke timed out: extension ext-c had not called /next by the "
        "deadline (the timeout bounds the Invoke phase until the runtime and every extension have asked for their "
        "next event)."]


def test_an_extension_crashing_after_the_response_fails_the_invoke_and_says_the_caller_already_had_its_answer():
    d = warm(SUBS)
    caller, rid = d.invoke()
    d.respond(rid)
    d.runtime_next()
    m = d.mark()
    d.exited(ext("ext-a"), 6, "exit status 6")
    assert d.result_for(caller).payload == b'"ok"'  # the response went out when it came
    [report] = d.reports()
    assert (report.status, report.error_type) == ("error", "Extension.Crash")
    assert d.explanations(since=m) == [
        "The caller already had its response, yet the invoke failed after it: Extension 'ext-a' exited "
        "(exit status 6) (Extension.Crash); the environment resets and the next invoke re-initialises."]


def test_shutdown_only_extension_stays_parked_across_invokes():
    d = warm(SUBS)
    tok = d.next_token[ext("ext-b")]
    for _ in range(2):
        _, rid = d.invoke()
        d.complete_invoke(rid)
    assert not d.answered(tok)
    assert d.env.extensions["ext-b"].parked == tok


def test_extension_that_parks_before_the_runtime_responds_still_blocks_nothing_more():
    d = warm({"ext-a": ("INVOKE",)})
    caller, rid = d.invoke()
    d.ext_next("ext-a")  # extension finishes first
    d.respond(rid)
    assert not d.reports()
    d.runtime_next()
    assert d.reports() and d.state is EnvState.FROZEN


# ---------------------------------------------------------------------- internal extensions

def test_unknown_name_registers_as_an_internal_extension():
    d = Driver()
    d.start()
    reply = d.register("in-proc", ("INVOKE",))
    assert reply.status == 200
    view = {p.key: p for p in d.env.snapshot(d.mono).participants}[ext("in-proc")]
    assert view.kind == "internal extension"
    assert not d.explanations()  # no external extensions: nothing surprising to explain


def test_an_internal_extension_is_alive_while_the_runtime_process_is():
    d = Driver()
    d.start()
    d.register("in-proc", ("INVOKE",))
    d.runtime_next()
    d.ext_next("in-proc")
    view = {p.key: p for p in d.env.snapshot(d.mono).participants}[ext("in-proc")]
    assert view.alive  # a thread of the runtime, not a process that exited (the debugger said "exited")


@pytest.mark.parametrize("fault", [flt.Crash(target="in-proc"), flt.Freeze(target="in-proc")])
def test_a_fault_aimed_at_an_internal_extension_is_refused_with_the_reason(fault):
    d = Driver()
    d.start()
    d.register("in-proc", ("INVOKE",))
    d.runtime_next()
    d.ext_next("in-proc")
    m = d.mark()
    d.feed(FaultRequested(fault))
    verb = flt.describe(fault).split()[0]
    assert d.explanations(m) == [
        f"in-proc is an internal extension: it runs inside the runtime process, so {verb} the runtime instead."]
    assert not d.facts(f.FaultInjected, m)


def test_wrong_name_from_a_launched_extension_is_explained():
    d = Driver(["good"])
    d.start()
    assert d.register("goood", ("INVOKE",)).status == 200
    [line] = d.explanations()
    assert "'goood'" in line and "launched: good" in line and "internal extension" in line
    assert RUNTIME not in d.spawned()  # the launched slot is still unregistered


def test_init_waits_for_an_internal_extension_to_park():
    d = Driver()
    d.start()
    d.register("in-proc", ("INVOKE",))
    d.runtime_next()
    assert d.state is EnvState.INIT
    d.ext_next("in-proc")
    assert d.state is EnvState.FROZEN
    assert "EXTENSION\tName: in-proc\tState: Ready\tEvents: [INVOKE]" in d.lines()
    assert d.effects(Freeze) == [Freeze((RUNTIME,), whole=True)]  # no process of its own


def test_internal_extension_subscribed_to_invoke_receives_invoke_events():
    d = Driver()
    d.start()
    d.register("in-proc", ("INVOKE",))
    d.runtime_next()
    tok = d.ext_next("in-proc")
    caller, rid = d.invoke()
    assert d.answered(tok)
    assert json.loads(d.reply(tok).body)["eventType"] == "INVOKE"
    d.respond(rid)
    d.runtime_next()
    assert d.state is EnvState.RUNNING  # waits for the internal extension to park again
    d.ext_next("in-proc")
    assert d.state is EnvState.FROZEN


# ---------------------------------------------------------------------- Extensions API errors

def error(reply: Reply) -> tuple[int, str, str]:
    body = json.loads(reply.body)
    return reply.status, body["errorType"], body["errorMessage"]


@pytest.mark.parametrize("call", ["next", "init_error", "exit_error"])
def test_unknown_identifier_is_403(call):
    d = Driver(NAMES)
    d.start()
    d.ext_ids["ghost"] = "no-such-id"
    tok = {"next": lambda: d.ext_next("ghost"), "init_error": lambda: d.ext_init_error("ghost"),
           "exit_error": lambda: d.ext_exit_error("ghost")}[call]()
    assert error(d.reply(tok)) == (403, "Extension.UnknownExtensionIdentifier", "Unknown extension no-such-id")


def test_registration_closes_at_the_runtimes_first_next():
    d = Driver()
    d.start()
    d.runtime_next()
    assert d.state is EnvState.FROZEN
    assert error(d.register("late", ("INVOKE",))) == (
        403, "Extension.RegistrationClosed", "Extension registration closed already")


def test_registration_closes_at_first_next_even_while_init_is_still_waiting():
    d = Driver(["ext-a"])
    d.start()
    d.register("ext-a")
    d.runtime_next()
    assert d.state is EnvState.INIT  # ext-a has not parked yet
    assert error(d.register("late", ("INVOKE",)))[:2] == (403, "Extension.RegistrationClosed")


def test_registering_the_same_external_name_twice_is_invalid_extension_state():
    d = Driver(NAMES)
    d.start()
    d.register("ext-a")
    assert error(d.register("ext-a")) == (
        403, "Extension.InvalidExtensionState", "Extension with this name already registered")


def test_registering_the_same_internal_name_twice_is_invalid_extension_state():
    d = Driver()
    d.start()
    d.register("in-proc", ("INVOKE",))
    assert error(d.register("in-proc", ("INVOKE",)))[:2] == (403, "Extension.InvalidExtensionState")


@pytest.mark.parametrize("events", [("SHUTDOWN",), ("INVOKE", "SHUTDOWN")])
def test_internal_extension_may_not_subscribe_to_shutdown(events):
    d = Driver(NAMES)
    d.start()
    assert error(d.register("not-launched", events)) == (
        403, "Extension.InvalidEventType", "ShutdownEventNotSupportedForInternalExtension")
    assert "not-launched" not in d.env.extensions


def test_eleventh_extension_is_too_many():
    d = Driver()
    d.start()
    for i in range(10):
        assert d.register(f"internal-{i}", ("INVOKE",)).status == 200
    assert error(d.register("internal-10", ("INVOKE",))) == (
        403, "Extension.TooManyExtensions", "Extension limit (10) reached")


def test_ten_external_extensions_leave_no_room_for_an_internal_one():
    names = [f"ext-{i}" for i in range(10)]
    d = Driver(names)
    d.start()
    d.register("ext-0")
    for i in range(1, 10):
        d.register(f"ext-{i}")
    assert error(d.register("internal", ("INVOKE",)))[:2] == (403, "Extension.TooManyExtensions")


def test_init_error_then_next_is_403_and_repeating_init_error_is_accepted():
    d = Driver(NAMES)
    d.start()
    d.register("ext-a")
    tok = d.ext_init_error("ext-a")
    assert (d.reply(tok).status, d.reply(tok).body) == (202, b'{"status":"OK"}')
    assert d.reply(d.ext_init_error("ext-a")).status == 202  # a no-op
    assert error(d.reply(d.ext_next("ext-a"))) == (
        403, "Extension.InvalidExtensionState",
        "State transition from InitError to Ready failed for extension ext-a. Error: State transition is not allowed")


def test_init_error_after_next_is_403():
    d = Driver(NAMES)
    d.start()
    d.register("ext-a")
    d.ext_next("ext-a")
    assert error(d.reply(d.ext_init_error("ext-a")))[:2] == (403, "Extension.InvalidExtensionState")


def test_init_error_keeps_init_waiting_until_the_extension_exits():
    d = Driver(["ext-a"])
    d.start()
    d.register("ext-a")
    d.ext_init_error("ext-a", "Extension.ConfigInvalid")
    d.runtime_next()
    assert d.state is EnvState.INIT
    d.exited(ext("ext-a"), 1)
    [report] = [line for line in d.lines() if line.startswith("INIT_REPORT")]
    assert report.endswith("\tPhase: init\tStatus: error\tError Type: Extension.InitError")


@pytest.mark.parametrize("when", ["registered", "ready", "running"])
def test_exit_error_is_accepted_and_no_further_call_succeeds(when):
    d = Driver(["ext-a"])
    d.start()
    d.register("ext-a", ("INVOKE",))
    if when != "registered":
        d.ext_next("ext-a")
        d.runtime_next()
    if when == "running":
        d.invoke()
    tok = d.ext_exit_error("ext-a")
    assert (d.reply(tok).status, d.reply(tok).body) == (202, b'{"status":"OK"}')
    assert d.env.extensions["ext-a"].state.value == "ExitError"
    assert error(d.reply(d.ext_next("ext-a")))[:2] == (403, "Extension.InvalidExtensionState")


def test_repeating_exit_error_is_accepted_and_changes_nothing():
    d = warm({"ext-a": ("INVOKE",)})
    caller, _ = d.invoke()
    d.ext_exit_error("ext-a", "Extension.First")
    since = d.mark()
    tok = d.ext_exit_error("ext-a", "Extension.Second")
    assert (d.reply(tok).status, d.reply(tok).body) == (202, b'{"status":"OK"}')  # a no-op in RAPID
    assert d.effects(since=since) == [d.reply(tok)]  # and nothing else: no state change, no fact
    d.exited(ext("ext-a"), 1)
    assert d.result_for(caller).error_type == "Extension.ExitError"  # the first report's, not a crash


def test_exit_error_then_exit_during_invoke_reports_extension_exit_error():
    d = warm({"ext-a": ("INVOKE",)})
    caller, rid = d.invoke()
    d.ext_exit_error("ext-a")
    d.exited(ext("ext-a"), 1)
    result = d.result_for(caller)
    assert result.error_type == "Extension.ExitError"
    assert json.loads(result.payload) == {
        "errorType": "Extension.ExitError",
        "errorMessage": f"RequestId: {rid} Error: Extension 'ext-a' exited (exit status 1)"}
    assert d.report_lines()[0].endswith("\tStatus: error\tError Type: Extension.ExitError\t")


def test_extension_next_dropped_and_resumed_before_an_invoke_still_gets_the_event():
    from lambdatui.core.inputs import RequestAbandoned

    d = warm({"ext-a": ("INVOKE",)})
    d.feed(RequestAbandoned(d.next_token[ext("ext-a")]))
    tok = d.ext_next("ext-a")
    assert not d.answered(tok)
    d.invoke()
    assert json.loads(d.reply(tok).body)["eventType"] == "INVOKE"


def test_event_sent_while_an_extensions_next_was_dropped_is_delivered_on_reconnect():
    from lambdatui.core.inputs import RequestAbandoned

    d = warm({"ext-a": ("INVOKE",)})
    d.feed(RequestAbandoned(d.next_token[ext("ext-a")]))
    _, rid = d.invoke()
    tok = d.ext_next("ext-a")
    assert d.answered(tok)
    assert json.loads(d.reply(tok).body)["requestId"] == rid
