"""Lambda Managed Instances in the pure core (lambda-spec §11.3): one environment admits M invokes at once.

Concurrent /next requests park side by side and each takes its own event; /response and /error are matched by
request id; nothing is frozen; each invoke has its own deadline, and a timed-out invoke is answered with Lambda's
timeout error while nothing is killed, stopped or reset.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Iterable

import pytest
from driver import Driver, ext

from lambdatui.core import inputs as ins
from lambdatui.core.effects import RUNTIME, Freeze, Kill, SignalProcess, Terminate
from lambdatui.core.environment import Environment
from lambdatui.core.environment import environment_for
from lambdatui.core.managed_environment import ManagedEnvironment
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState


def managed(m: int = 3, extensions: Iterable[str] = (), **kwargs: object) -> Driver:
    """A driver whose environment is a Managed Instances one with `m` workers."""
    d = Driver(extensions, **kwargs)  # type: ignore[arg-type]
    d.config = dataclasses.replace(d.config, max_concurrency=m)
    d.env = ManagedEnvironment(d.config, new_id=lambda: f"id-{next(d._ids)}")
    return d


def ready(m: int = 3, workers: int | None = None, **kwargs: object) -> tuple[Driver, list[int]]:
    """Initialised, with `workers` (default m) /next requests parked."""
    d = managed(m, **kwargs)
    d.start()
    tokens = [d.runtime_next() for _ in range(m if workers is None else workers)]
    assert d.state is EnvState.RUNNING
    return d, tokens


def delivered_to(d: Driver, token: int) -> str:
    reply = d.reply(token)
    assert reply.status == 200, reply
    return dict(reply.headers)["Lambda-Runtime-Aws-Request-Id"]


@pytest.mark.parametrize("m, provisioned, expected", [
    (0, False, "on-demand"),
    (0, True, "provisioned-concurrency"),
    (1, False, "lambda-managed-instances"),
    (8, True, "lambda-managed-instances"),
])
def test_initialization_type_and_which_rules_the_config_picks(m: int, provisioned: bool, expected: str) -> None:
    d = Driver()
    config = dataclasses.replace(d.config, max_concurrency=m, provisioned=provisioned)
    assert config.initialization_type == expected
    assert type(environment_for(config)) is (ManagedEnvironment if m else Environment)


def test_init_is_done_at_the_first_next_and_nothing_is_ever_frozen() -> None:
    d = managed(3)
    d.start()
    first = d.runtime_next()
    assert d.state is EnvState.RUNNING  # not FROZEN: Managed Instances never freeze
    assert not d.answered(first)
    assert d.lines()[-1].startswith("INIT_REPORT Init Duration: ")  # initialised ahead of traffic: always logged
    for _ in range(2):
        d.runtime_next()
    _, rid = d.invoke()
    d.respond(rid)
    d.runtime_next()
    assert not d.effects(Freeze)
    assert d.state is EnvState.RUNNING


def test_init_waits_for_every_extension_then_one_next() -> None:
    d = managed(2, ["obs"])
    d.start()
    assert d.register("obs", ("SHUTDOWN",)).status == 200
    d.runtime_next()
    assert d.state is EnvState.INIT  # the runtime asked, the extension did not yet
    d.ext_next("obs")
    assert d.state is EnvState.RUNNING


def test_m_invokes_run_at_once_each_on_its_own_next_and_the_next_one_waits_for_a_worker() -> None:
    d, tokens = ready(3)
    callers = [d.invoke() for _ in range(4)]
    assert [delivered_to(d, t) for t in tokens] == [rid for _, rid in callers[:3]]
    assert d.env.admitted() == 4 and [rid for _, rid in callers[3:]] == [i.request_id for _, i in d.env.queue]
    # The second worker answers first: its caller hears at once, the others still run.
    d.respond(callers[1][1], b'{"n":2}')
    assert d.result_for(callers[1][0]).payload == b'{"n":2}'
    assert not [c for c in d.completions() if c.token in (callers[0][0], callers[2][0], callers[3][0])]
    # That worker asks again and takes the waiting invoke.
    again = d.runtime_next()
    assert delivered_to(d, again) == callers[3][1]
    assert sorted(d.env.runs) == sorted([callers[0][1], callers[2][1], callers[3][1]])


def test_response_and_error_are_matched_by_request_id() -> None:
    d, _ = ready(2)
    (tok_a, rid_a), (tok_b, rid_b) = d.invoke(), d.invoke()
    err = d.invocation_error(rid_b, b'{"errorMessage":"no","errorType":"ValueError"}')
    ok = d.respond(rid_a, b'"fine"')
    assert (d.reply(err).status, d.reply(ok).status) == (202, 202)
    assert d.result_for(tok_a).payload == b'"fine"'
    failed = d.result_for(tok_b)
    assert failed.function_error and json.loads(failed.payload)["errorType"] == "ValueError"
    # The platform records the runtime's error: status error, the header's type sanitised (none: Runtime.Unknown).
    by_id = {r.request_id: r for r in d.reports()}
    assert (by_id[rid_a].status, by_id[rid_b].status, by_id[rid_b].error_type) == ("success", "error",
                                                                                   "Runtime.Unknown")
    assert by_id[rid_a].init_duration_ms is None  # initialised ahead: no invoke carries the Init


@pytest.mark.parametrize("name", ["unknown", "answered-twice"])
def test_a_post_for_no_running_invoke_is_invalid_request_id(name: str) -> None:
    d, _ = ready(1)
    _, rid = d.invoke()
    if name == "answered-twice":
        d.respond(rid)
    else:
        rid = "not-a-request"
    tok = d.respond(rid)
    assert d.reply(tok).status == 400
    assert json.loads(d.reply(tok).body) == {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}


def test_no_extension_is_sent_invoke_and_no_runtime_done_is_emitted() -> None:
    d = managed(1, ["obs"])
    d.start()
    d.register("obs", ("SHUTDOWN",))
    parked_ext = d.ext_next("obs")
    d.runtime_next()
    _, rid = d.invoke()
    d.respond(rid)
    assert not d.answered(parked_ext)
    assert not d.facts(f.RuntimeDone)  # platform.runtimeDone: "Not sent on Managed Instances" (lambda-spec §3.5)
    assert [r.request_id for r in d.reports()] == [rid]


def test_a_timed_out_invoke_gets_lambdas_timeout_error_and_nothing_is_stopped() -> None:
    d, tokens = ready(2, timeout_ms=1000)
    (tok_a, rid_a), (tok_b, rid_b) = d.invoke(), d.invoke()
    mark = d.mark()
    d.advance(1000)
    d.fire(f"invoke:{rid_a}")
    assert json.loads(d.result_for(tok_a).payload) == {
        "errorMessage": f"RequestId: {rid_a} Error: Task timed out after 1.00 seconds", "errorType": "Sandbox.Timedout"}
    assert not d.effects(Kill, mark) and not d.effects(Terminate, mark) and not d.effects(SignalProcess, mark)
    assert not d.effects(Freeze, mark) and d.env.shutdown is None and d.state is EnvState.RUNNING
    assert d.reports(mark)[0].status == "timeout"
    # Its worker is still busy with it: it counts against M until it answers.
    assert d.env.admitted() == 2 and rid_a in d.env.overrunning
    # The other invoke was not touched, and the late answer is refused with 410.
    late = d.respond(rid_a)
    assert d.reply(late).status == 410
    assert json.loads(d.reply(late).body) == {"errorMessage": "Invoke timeout", "errorType": "InvokeTimeout"}
    assert d.env.admitted() == 1
    d.respond(rid_b, b'"b"')
    assert d.result_for(tok_b).payload == b'"b"'


def test_the_timeout_body_is_the_one_default_mode_gives() -> None:
    single = Driver(timeout_ms=2000)
    single.cold_start()
    tok, rid = single.invoke("same-id")
    single.advance(2000)
    single.fire("invoke")
    many, _ = ready(1, timeout_ms=2000)
    tok_m, rid_m = many.invoke("same-id")
    many.advance(2000)
    many.fire(f"invoke:{rid_m}")
    assert many.result_for(tok_m) == single.result_for(tok)


def test_each_invoke_has_its_own_deadline_from_its_own_delivery() -> None:
    d, tokens = ready(2, timeout_ms=3000)
    _, rid_a = d.invoke()
    d.advance(500)
    _, rid_b = d.invoke()
    timers = d.started_timers()
    assert timers[f"invoke:{rid_b}"] - timers[f"invoke:{rid_a}"] == pytest.approx(0.5)
    deadlines = [int(dict(d.reply(t).headers)["Lambda-Runtime-Deadline-Ms"]) for t in tokens]
    assert deadlines[1] - deadlines[0] == 500


def test_a_hold_at_invoke_start_delivers_that_invoke_when_released_and_answers_that_race_wait_their_turn() -> None:
    d, tokens = ready(2)
    (_, rid_a) = d.invoke()
    d.feed(ins.BreakpointsSet(frozenset({Boundary.INVOKE_START})))
    tok_b, rid_b = d.invoke()
    assert d.env.hold is not None and not d.answered(tokens[1])
    d.respond(rid_a)  # it raced the debugger's freeze: its caller hears, its boundary waits for the release
    assert d.env.boundary_backlog
    d.feed(ins.BreakpointsSet(frozenset()))
    d.feed(ins.ContinueRequested())
    assert delivered_to(d, tokens[1]) == rid_b
    assert ("invoke.response", False) in d.boundaries() and not d.env.boundary_backlog


def test_abandoned_next_requests_leave_and_an_event_waits_for_the_next_worker() -> None:
    d, tokens = ready(2)
    d.feed(ins.RequestAbandoned(tokens[0]))
    d.feed(ins.RequestAbandoned(tokens[1]))
    _, rid = d.invoke()
    assert not d.env.runs and len(d.env.queue) == 1  # nobody to take it yet
    assert delivered_to(d, d.runtime_next()) == rid


def test_spindown_answers_every_invoke_in_flight() -> None:
    d, _ = ready(2)
    (tok_a, _), (tok_b, _) = d.invoke(), d.invoke()
    d.feed(ins.ShutdownRequested())
    for tok in (tok_a, tok_b):
        assert d.result_for(tok).error_type == "Sandbox.Failure"
    assert d.killed() == [RUNTIME]  # no extension: nothing is owed a SHUTDOWN, the runtime dies at once
    d.killed_by_signal(RUNTIME)
    assert d.state is EnvState.SHUT_DOWN


def test_settled_and_events_pending_look_at_every_invoke() -> None:
    d, _ = ready(2)
    assert d.env.settled()
    _, rid = d.invoke(asynchronous=True, caller=False)
    assert not d.env.settled() and d.env.events_pending()
    d.respond(rid)
    assert d.env.settled() and not d.env.events_pending()


def test_the_snapshot_shows_the_invokes_in_flight_and_the_parked_workers() -> None:
    d, _ = ready(3)
    _, rid = d.invoke()
    snap = d.env.snapshot(d.mono)
    runtime = next(p for p in snap.participants if p.key == RUNTIME)
    assert snap.current_request_id == rid and snap.state is EnvState.RUNNING
    assert runtime.parked and runtime.next_delivery == "2 /next parked; 1 of 3 workers busy"


def test_shutdown_stops_the_runtime_first_then_sends_shutdown_as_in_the_default_mode() -> None:
    d = managed(1, ["obs"])
    d.start()
    d.register("obs", ("SHUTDOWN",))
    parked = d.ext_next("obs")
    d.runtime_next()
    d.feed(ins.ShutdownRequested())
    assert d.terminated() == [RUNTIME] and not d.answered(parked)
    d.exited(RUNTIME, 0)
    assert json.loads(d.reply(parked).body)["eventType"] == "SHUTDOWN"
    assert ext("obs") not in d.killed()


# --------------------------------------------------------------------------- which worker takes an invoke


def workers_of(d: Driver) -> dict[str, int]:
    """Each invoke's worker, as the facts tell it (PhaseStarted.worker)."""
    return {fact.detail: fact.worker for fact in d.facts(f.PhaseStarted) if fact.phase == "invoke"}


def test_a_timed_out_attempts_late_answer_is_refused_while_its_retry_runs_on_another_worker() -> None:
    """An Event invoke's retry keeps its request id; on Managed Instances the timed-out attempt runs on in its worker
    while the retry runs in another. The first attempt's late /response (its worker's connection) was taken as the
    retry's answer: it is refused with 410, and the retry's own answer is the one its caller gets."""
    d = managed(2, timeout_ms=1000)
    d.start()
    first = d.runtime_next(connection=1)
    _, rid = d.invoke(caller=False)
    assert delivered_to(d, first) == rid
    d.advance(1000)
    d.fire(f"invoke:{rid}")
    assert rid in d.env.overrunning
    second = d.runtime_next(connection=2)
    retry_tok, _ = d.invoke(rid, retry=1)
    assert delivered_to(d, second) == rid  # the retry, on worker 2
    late = d.respond(rid, b'"first"', connection=1)
    assert d.reply(late).status == 410
    assert rid not in d.env.overrunning and rid in d.env.runs  # worker 1 is free; the retry still runs
    mark = d.mark()
    d.respond(rid, b'"retry"', connection=2)
    assert d.result_for(retry_tok).payload == b'"retry"'
    assert [report.status for report in d.reports(mark)] == ["success"]


def test_workers_are_numbered_in_the_order_their_connections_first_ask_and_each_invoke_names_its_own() -> None:
    d = managed(2)
    d.start()
    first, second = d.runtime_next(connection=7), d.runtime_next(connection=3)
    (_, a), (_, b) = d.invoke(), d.invoke()
    assert (delivered_to(d, first), delivered_to(d, second)) == (a, b)
    assert workers_of(d) == {a: 1, b: 2}
    d.respond(b)
    again = d.runtime_next(connection=3)  # the same connection: the same worker
    _, c = d.invoke()
    assert delivered_to(d, again) == c and workers_of(d)[c] == 2


def two_asking(m: int = 2) -> tuple[Driver, int, int]:
    """Initialised, with workers 1 and 2 (connections 1 and 2) parked on /next."""
    d = managed(m)
    d.start()
    return d, d.runtime_next(connection=1), d.runtime_next(connection=2)


def test_an_invoke_that_names_a_worker_goes_to_it_not_to_the_one_that_waited_longest() -> None:
    """A replay gives each invoke to the worker that took it in the session (each has its own globals): RAPID's
    choice, the worker that waited longest, is timing."""
    d, one, two = two_asking()
    _, a = d.invoke()
    assert delivered_to(d, one) == a
    d.respond(a)
    one_again = d.runtime_next(connection=1)  # worker 2 has waited longest now
    _, b = d.invoke(worker=1)
    assert delivered_to(d, one_again) == b and not d.answered(two)
    assert workers_of(d) == {a: 1, b: 1}


def test_an_invoke_waits_for_its_busy_worker_and_one_not_started_yet_but_not_for_one_gone() -> None:
    d, one, two = two_asking(3)
    _, a = d.invoke(worker=2)
    assert delivered_to(d, two) == a and not d.answered(one)
    _, b = d.invoke(worker=2)  # its worker is busy with a: it waits, though worker 1 waits on /next
    assert not d.answered(one) and b in d.env.runs and not d.env.runs[b].delivered
    d.respond(a)
    two_again = d.runtime_next(connection=2)
    assert delivered_to(d, two_again) == b and not d.answered(one)
    _, c = d.invoke(worker=3)  # worker 3 has not asked yet (its Function init runs): waited for
    assert not d.answered(one)
    three = d.runtime_next(connection=3)
    assert delivered_to(d, three) == c and not d.answered(one)
    d.respond(b)
    d.respond(c)
    d.feed(ins.RequestAbandoned(one))  # worker 1's /next hangs up: it is gone
    two_more, three_more = d.runtime_next(connection=2), d.runtime_next(connection=3)
    _, e = d.invoke(worker=1)  # not waited for: the worker that waited longest takes it, as RAPID gives it
    assert delivered_to(d, two_more) == e and not d.answered(three_more)
    assert workers_of(d) == {a: 2, b: 2, c: 3, e: 2}


def test_an_invoke_waiting_for_its_worker_goes_to_another_once_that_worker_is_gone() -> None:
    d, one, two = two_asking()
    _, a = d.invoke(worker=1)
    assert delivered_to(d, one) == a
    _, b = d.invoke(worker=1)
    assert not d.answered(two)
    d.feed(ins.WorkerExited(d.env.generation, 4242, None, "signal: killed", a))  # worker 1 exits holding a
    assert delivered_to(d, two) == b


def test_a_worker_that_asks_on_a_new_connection_keeps_its_number() -> None:
    """A refused /response closes its connection (runtime_routes.result_answer), and a runtime may open one per call:
    the connection's number goes vacant, and the next new connection to ask takes it (a bug hunt: the worker became
    #3, and an invoke naming #2 waited in vain)."""
    d, one, two = two_asking()
    _, a = d.invoke(worker=2)
    assert delivered_to(d, two) == a
    d.respond(a)
    d.feed(ins.ConnectionClosed(2))
    d.feed(ins.ConnectionClosed(99))  # one that never asked for work: nothing
    again = d.runtime_next(connection=3)
    _, b = d.invoke(worker=2)
    assert delivered_to(d, again) == b and not d.answered(one)
    assert workers_of(d) == {a: 2, b: 2}


def test_an_invoke_waits_for_its_worker_no_longer_than_the_functions_timeout() -> None:
    d, one, two = two_asking()
    _, a = d.invoke(worker=2)
    assert delivered_to(d, two) == a
    _, b = d.invoke(worker=2)  # worker 2 runs a: b waits for it
    d.respond(a)  # and worker 2 never asks again (it exited, and it is not lambdatui's runtime to tell)
    timer = "worker:" + b
    assert d.started_timers()[timer] == pytest.approx(d.env._now.mono + 3.0)  # the driver's timeout: 3 s
    assert not d.answered(one)
    d.fire(timer)
    assert delivered_to(d, one) == b
    assert any("waited 3 s (the function's timeout, 3 s at least) for worker #2" in line
               for line in d.explanations())


def test_an_invoke_that_named_a_worker_whose_init_failed_goes_to_another_once_its_exit_is_told() -> None:
    d = managed(2)
    d.start()
    one = d.runtime_next(connection=1)
    _, a = d.invoke(worker=2)  # worker 2 is still in its Function init: waited for
    assert not d.answered(one)
    d.feed(ins.WorkerExited(d.env.generation, 4343, 1, "exit status 1", None))  # its Function init failed
    assert delivered_to(d, one) == a


def test_an_invoke_waits_for_a_worker_whose_timed_out_handler_runs_on_no_longer_than_the_functions_timeout() -> None:
    """Running an invoke before its deadline, a worker comes back by then: waited for. A timed-out handler may run on
    for ever (a bug hunt: a handler that never ended kept the replay's next step waiting until it gave up)."""
    d, one, two = two_asking()
    _, a = d.invoke(worker=2)
    assert delivered_to(d, two) == a
    _, b = d.invoke(worker=2)
    assert "worker:" + b not in d.started_timers() and not d.answered(one)  # a runs before its deadline: waited for
    d.fire("invoke:" + a)  # a times out: its handler runs on, its worker busy
    assert "worker:" + b in d.started_timers() and not d.answered(one)  # now for the function's timeout at most
    assert not d.facts(f.OverrunEnded)
    late = d.respond(a)
    assert d.reply(late).status == 410
    assert [fact.request_id for fact in d.facts(f.OverrunEnded)] == [a]  # its handler is done: a recording hears it
    again = d.runtime_next(connection=2)
    assert delivered_to(d, again) == b and not d.answered(one)
    assert "worker:" + b in d.cancelled_timers()
    _, c = d.invoke(worker=2)
    d.fire("invoke:" + b)  # b times out too, and its handler never ends
    d.fire("worker:" + c)
    assert delivered_to(d, one) == c


def test_a_new_connection_takes_the_vacant_number_of_a_worker_that_is_not_running_an_invoke() -> None:
    """A runtime whose workers open a connection per call: worker 1's /next connection closed while it runs an
    invoke, worker 2's after it answered; worker 2's next /next is #2, not #1 (a bug hunt: it took #1)."""
    d, one, two = two_asking()
    (_, a), (_, b) = d.invoke(worker=1), d.invoke(worker=2)
    assert (delivered_to(d, one), delivered_to(d, two)) == (a, b)
    d.feed(ins.ConnectionClosed(1))
    d.feed(ins.ConnectionClosed(2))
    d.respond(b)
    again = d.runtime_next(connection=3)
    _, c = d.invoke(worker=2)
    assert delivered_to(d, again) == c
    assert workers_of(d) == {a: 1, b: 2, c: 2}


def test_a_worker_that_exited_holding_an_invoke_is_not_waited_for_and_its_timeout_ends_the_overrun() -> None:
    """Our runtime tells a worker's exit: the invoke it held times out at its deadline with nothing running on (a
    replay waited 16 s for its handler, and the next invoke naming that worker 3 s for it: a bug hunt)."""
    d, one, two = two_asking()
    _, a = d.invoke(worker=2)
    assert delivered_to(d, two) == a
    d.feed(ins.WorkerExited(d.env.generation, 4242, None, "exit status 3", a))  # worker 2 exits holding a
    d.feed(ins.ConnectionClosed(2))
    d.fire("invoke:" + a)
    assert [fact.request_id for fact in d.facts(f.OverrunEnded)] == [a]  # nothing of a runs on
    _, b = d.invoke(worker=2)
    assert delivered_to(d, one) == b  # at once: worker 2 is gone
    assert "worker:" + b not in d.started_timers()
    assert workers_of(d) == {a: 2, b: 1}
