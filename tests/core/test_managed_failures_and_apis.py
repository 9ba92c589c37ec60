"""Lambda Managed Instances in the pure core (lambda-spec §11.3): what the Extensions and Telemetry APIs accept,
what ends the environment (an extension or the runtime process exiting, a failed Init: nothing resets or retries),
what does not (a worker of the runtime ending), and what routing sees (`fleet_rules.fit`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable

import pytest
from driver import Driver, ext

from lambdatui.core import inputs as ins
from lambdatui.core.effects import RUNTIME
from lambdatui.core.fleet_rules import Fit, fit
from lambdatui.core.managed_environment import ManagedEnvironment
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.telemetry import LOGS, TELEMETRY

SUBSCRIPTION: dict[str, Any] = {
    "schemaVersion": "2025-01-29",
    "types": ["platform", "function"],
    "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/"},
}


def managed(m: int = 3, extensions: Iterable[str] = (), **kwargs: object) -> Driver:
    d = Driver(extensions, **kwargs)  # type: ignore[arg-type]
    d.config = dataclasses.replace(d.config, max_concurrency=m)
    d.env = ManagedEnvironment(d.config, new_id=lambda: f"id-{next(d._ids)}")
    return d


def body(d: Driver, token: int) -> tuple[int, Any]:
    reply = d.reply(token)
    return reply.status, json.loads(reply.body) if reply.body else None


# ---------------------------------------------------------------------- Extensions API


@pytest.mark.parametrize("name, events, status, message", [
    ("obs", ("INVOKE",), 403, "INVOKE: ErrorInvalidEventType"),
    ("obs", ("INVOKE", "SHUTDOWN"), 403, "INVOKE: ErrorInvalidEventType"),
    ("obs", ("SHUTDOWN",), 200, None),
    ("obs", (), 200, None),
    # A name Lambda did not launch is an internal extension: on Managed Instances it may subscribe to nothing.
    ("internal", ("INVOKE",), 403, "No events allowed for internal extensions"),
    ("internal", (), 200, None),
])
def test_extensions_may_register_only_for_shutdown(name: str, events: tuple[str, ...], status: int,
                                                   message: str | None) -> None:
    d = managed(2, ["obs"])
    d.start()
    reply = d.register(name, events)
    assert reply.status == status
    if message is not None:
        assert json.loads(reply.body) == {"errorMessage": message, "errorType": "Extension.InvalidEventType"}


def test_the_default_mode_still_takes_invoke_registrations() -> None:
    d = Driver(["obs"])
    d.start()
    assert d.register("obs", ("INVOKE", "SHUTDOWN")).status == 200


def test_registration_closed_is_still_said_first() -> None:
    d = managed(1, ["obs"])
    d.start()
    d.register("obs", ("SHUTDOWN",))
    d.ext_next("obs")
    d.runtime_next()
    tok = d.token()
    d.feed(ins.ExtensionRegister(tok, "late", ("INVOKE",)))
    assert body(d, tok)[1]["errorType"] == "Extension.RegistrationClosed"


# ---------------------------------------------------------------------- Telemetry and Logs APIs


def subscribe(d: Driver, request: Any, api: str = TELEMETRY) -> tuple[int, Any]:
    tok = d.token()
    d.feed(ins.TelemetrySubscribe(tok, d.ext_ids["obs"], api, json.dumps(request).encode()))
    return body(d, tok)


@pytest.mark.parametrize("schema, status", [
    ("2025-01-29", 200),
    ("2022-12-13", 400),
    ("2022-07-01", 400),
])
def test_telemetry_takes_the_2025_schema_only(schema: str, status: int) -> None:
    d = managed(1, ["obs"])
    d.start()
    d.register("obs", ("SHUTDOWN",))
    code, answer = subscribe(d, {**SUBSCRIPTION, "schemaVersion": schema})
    assert code == status
    if status == 400:
        assert answer["errorType"] == "ValidationError" and "2025-01-29" in answer["errorMessage"]
    else:
        assert d.facts(f.TelemetrySubscribed)


def test_the_default_mode_still_takes_older_schemas() -> None:
    d = Driver(["obs"])
    d.start()
    d.register("obs")
    assert subscribe(d, {**SUBSCRIPTION, "schemaVersion": "2022-12-13"})[0] == 200


def test_there_is_no_logs_api() -> None:
    d = managed(1, ["obs"])
    d.start()
    d.register("obs", ("SHUTDOWN",))
    logs_request = {"schemaVersion": "2021-03-18", "types": ["platform"],
                    "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/"}}
    assert subscribe(d, logs_request, api=LOGS) == (404, {"errorMessage": "No such endpoint", "errorType": "NotFound"})
    assert not d.facts(f.TelemetrySubscribed)


# ---------------------------------------------------------------------- what ends the environment


def serving(extensions: Iterable[str] = ()) -> tuple[Driver, list[tuple[int | None, str]]]:
    """Two workers, each running an invoke."""
    d = managed(2, extensions)
    d.start()
    for name in extensions:
        d.register(name, ("SHUTDOWN",))
        d.ext_next(name)
    d.runtime_next()
    d.runtime_next()
    return d, [d.invoke(), d.invoke()]


@pytest.mark.parametrize("who, error_type, detail", [
    (ext("obs"), "Extension.Crash", "Extension 'obs' exited (exit status 1)"),
    (RUNTIME, "Runtime.ExitError", "Runtime exited with error: exit status 1"),
])
def test_an_extension_or_runtime_exit_ends_the_environment_and_fails_every_invoke(who: str, error_type: str,
                                                                               detail: str) -> None:
    d, calls = serving(["obs"])
    mark = d.mark()
    d.exited(who, 1)
    for tok, rid in calls:
        assert json.loads(d.result_for(tok).payload) == {"errorMessage": f"RequestId: {rid} Error: {detail}",
                                                         "errorType": error_type}
    assert [r.status for r in d.reports(mark)] == ["error", "error"]
    assert d.env.shutdown is not None and d.env.shutdown.final  # ended, not reset
    for participant in (RUNTIME, ext("obs")):
        if participant != who:
            d.exited(participant, 0)
    assert d.state is EnvState.SHUT_DOWN
    # Nothing re-initialises: an invoke that still reached it is refused, and no Init starts.
    tok, _ = d.invoke()
    assert d.result_for(tok).error_type == "Sandbox.Failure"
    assert len([line for line in d.lines() if line.startswith("INIT_START")]) == 1


def test_a_worker_exit_leaves_the_environment_up_with_one_worker_fewer() -> None:
    d, calls = serving()
    (tok_a, rid_a), (tok_b, rid_b) = calls
    d.feed(ins.WorkerExited(d.env.generation, 42, None, "signal: killed", rid_a))
    assert d.state is EnvState.RUNNING and d.env.shutdown is None and d.env.capacity() == 1
    assert any("pid 42" in text and "1 of 2 workers" in text for text in d.explanations())
    # Lambda does not see workers: that invoke times out at its deadline, and then holds no worker.
    d.advance(3000)
    d.fire(f"invoke:{rid_a}")
    assert d.result_for(tok_a).error_type == "Sandbox.Timedout"
    assert d.env.admitted() == 1 and not d.env.overrunning
    said = [text for text in d.explanations() if f"Invoke {rid_a} timed out" in text]
    assert len(said) == 1 and "had exited before answering, so nothing runs on" in said[0], said  # not "keeps running"
    d.respond(rid_b)
    assert d.env.admitted() == 0 and fit(d.env) is Fit.WARM


def test_a_worker_that_dies_after_its_invoke_timed_out_is_counted_once() -> None:
    d, calls = serving()
    _, rid_a = calls[0]
    d.advance(3000)
    d.fire(f"invoke:{rid_a}")
    d.fire(f"invoke:{calls[1][1]}")
    assert d.env.admitted() == 2 and d.env.capacity() == 2
    d.feed(ins.WorkerExited(d.env.generation, 7, 9, "signal: killed", rid_a))
    assert d.env.admitted() == 1 and d.env.capacity() == 1


def test_worker_exits_during_shutdown_are_expected() -> None:
    d, _ = serving()
    d.feed(ins.ShutdownRequested())
    d.feed(ins.WorkerExited(d.env.generation, 7, None, "signal: killed", None))
    assert d.env.workers_lost == 0


@pytest.mark.parametrize("status", ["error", "timeout"])
def test_a_failed_init_is_not_retried_and_the_invokes_waiting_for_it_hear_why(status: str) -> None:
    d = managed(2)
    d.start()
    tok, rid = d.invoke()  # it waits for Init
    if status == "error":
        d.init_error(b'{"errorMessage":"bad import","errorType":"Runtime.ImportModuleError"}',
                     "Runtime.ImportModuleError")
        d.exited(RUNTIME, 1)
        assert json.loads(d.result_for(tok).payload)["errorType"] == "Runtime.ImportModuleError"
    else:
        d.fire("init")
        answer = json.loads(d.result_for(tok).payload)
        assert answer["errorType"] == "Sandbox.Timedout" and answer["errorMessage"].startswith(f"RequestId: {rid}")
    assert [line for line in d.lines() if line.startswith("INIT_REPORT")][-1].count(f"Status: {status}") == 1
    if d.env.runtime.alive:
        d.killed_by_signal(RUNTIME)
    assert d.state is EnvState.SHUT_DOWN and EnvState.RESETTING not in d.states()  # ended, not reset
    assert len([line for line in d.lines() if line.startswith("INIT_START")]) == 1


def test_a_next_after_init_error_is_refused() -> None:
    d = managed(2)
    d.start()
    d.init_error(b"{}", "Runtime.ImportModuleError")
    tok = d.runtime_next()  # another worker imported fine, but Init has failed already
    assert body(d, tok)[0] == 403


# ---------------------------------------------------------------------- routing


def test_fit_is_busy_only_when_every_worker_holds_an_invoke() -> None:
    d = managed(3)
    assert fit(d.env) is Fit.COLD
    d.start()
    assert fit(d.env) is Fit.INITIALISING
    for _ in range(3):
        d.runtime_next()
    assert fit(d.env) is Fit.WARM
    calls = [d.invoke() for _ in range(2)]
    assert fit(d.env) is Fit.FINISHING  # room for one more: taken before a cold start, never spun down idle
    d.invoke()
    assert fit(d.env) is Fit.BUSY
    d.respond(calls[0][1])
    assert fit(d.env) is Fit.FINISHING
    d.advance(3000)
    d.fire(f"invoke:{calls[1][1]}")
    assert fit(d.env) is Fit.FINISHING  # the timed-out invoke's handler runs on: its worker is still taken
    d.feed(ins.WorkerExited(d.env.generation, 9, 1, "exit status 1", None))
    assert fit(d.env) is Fit.BUSY  # 2 workers left, both taken


def test_fit_of_a_default_environment_is_unchanged() -> None:
    d = Driver()
    d.cold_start()
    assert fit(d.env) is Fit.WARM
    d.invoke()
    assert fit(d.env) is Fit.BUSY


def test_room_counts_only_in_a_worker_on_next_or_about_to_ask_again() -> None:
    """A bug hunt: one worker of 3 had initialised (the others were still in their Function init) and held an invoke;
    routing saw room for 2 more, and an invoke waited there for a worker that was not asking for work."""
    d = managed(3)
    d.start()
    d.runtime_next()  # Init is done at the first worker's /next
    assert fit(d.env) is Fit.WARM
    _, first = d.invoke()
    assert d.env.idle_workers() == 0 and fit(d.env) is Fit.WORKERS_STARTING
    d.runtime_next()  # a second worker ends its Function init and asks for work
    assert d.env.idle_workers() == 1 and fit(d.env) is Fit.FINISHING
    d.invoke()
    assert fit(d.env) is Fit.WORKERS_STARTING
    d.respond(first)  # that worker asks again at once: an invoke sent now waits only for that
    assert d.env.idle_workers() == 0 and fit(d.env) is Fit.FINISHING
    d.runtime_next()
    assert d.env.idle_workers() == 1 and fit(d.env) is Fit.FINISHING


def test_held_before_an_invokes_event_goes_out_an_environment_has_the_room_it_would_have_unheld() -> None:
    """A replay's parallel step holds each invoke at invoke.start until all are placed: on Managed Instances that
    hold made the environment busy, and the second invoke went to a new environment (another /tmp) where the session
    had run both in this one's workers."""
    d = managed(3)
    d.start()
    d.runtime_next()
    d.feed(ins.BreakpointsSet(frozenset({Boundary.INVOKE_START})))
    d.invoke()
    assert d.env.hold is not None and d.env.hold.boundary is Boundary.INVOKE_START
    assert fit(d.env) is Fit.WORKERS_STARTING  # one worker, and it holds this invoke: as unheld
    d.runtime_next()  # a second worker asks for work
    assert fit(d.env) is Fit.FINISHING  # room: the next invoke goes here, as it would unheld
