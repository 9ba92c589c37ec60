"""Event (asynchronous) invokes: a bounded queue, a drain before shutdown, and none ends unsaid (issue 8)."""

from __future__ import annotations

import json

import pytest
from driver import Driver

from lambdatui.core import invoke_rules
from lambdatui.core.effects import RUNTIME, AnswerEvent
from lambdatui.core.inputs import DrainRequested, InvokeRequested, ShutdownRequested
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState


def warm() -> Driver:
    d = Driver()
    d.cold_start()
    return d


def event(d: Driver, payload: bytes = b"{}") -> str:
    """An Event invoke as the host queues it: asked first, then fed without a caller to answer."""
    assert d.env.event_refusal(len(payload)) is None
    inv = d.invocation(payload=payload, asynchronous=True)
    d.feed(InvokeRequested(None, inv))
    return inv.request_id


def test_the_queue_takes_max_events_then_throttles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invoke_rules, "MAX_QUEUED_EVENTS", 3)
    d = warm()
    running = event(d)  # delivered at once: it does not wait in the queue
    waiting = [event(d) for _ in range(3)]
    refusal = d.env.event_refusal(2)
    assert refusal is not None and (refusal.status, refusal.error_type) == (429, "TooManyRequestsException")
    assert refusal.reason and "3 events" in refusal.message
    # A synchronous invoke is not held to the events' bound.
    tok, _ = d.invoke()
    assert not d.answered(tok)
    d.complete_invoke(running)
    assert d.env.event_refusal(2) is None  # one left the queue: room for one more
    assert [inv.request_id for _, inv in d.env.queue][:2] == waiting[1:]


def test_the_core_answers_an_event_invoke_at_once_and_enforces_the_bound_itself(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The host does not ask first: the InvokeRequested input carries a caller, and the core answers it.
    monkeypatch.setattr(invoke_rules, "MAX_QUEUED_EVENTS", 1)
    d = warm()
    event(d)  # running
    event(d)  # waiting: the queue is full
    accepted, refused = d.invocation(asynchronous=True), d.invocation(asynchronous=True)
    d.feed(InvokeRequested(900, refused))
    [answer] = d.last
    assert isinstance(answer, AnswerEvent) and answer.token == 900
    assert answer.refusal is not None and answer.refusal.status == 429
    assert refused.request_id not in [inv.request_id for _, inv in d.env.queue]
    d.complete_invoke(d.env.current.invocation.request_id)
    d.feed(InvokeRequested(901, accepted))
    answers = d.effects(AnswerEvent)
    assert answers[-1] == AnswerEvent(901, None)
    assert [(token, inv.request_id) for token, inv in d.env.queue][-1] == (None, accepted.request_id)


def test_the_queue_is_bounded_in_bytes_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invoke_rules, "MAX_QUEUED_EVENT_BYTES", 100)
    d = warm()
    event(d)
    event(d, b"[" + b"0," * 29 + b"0]")  # 61 bytes wait
    assert d.env.event_refusal(39) is None
    refusal = d.env.event_refusal(40)
    assert refusal is not None and refusal.status == 429


def test_a_drain_answers_queued_sync_invokes_refuses_new_ones_and_runs_the_events() -> None:
    d = warm()
    first = event(d)
    tok, sync_id = d.invoke()
    second = event(d)
    m = d.mark()
    d.feed(DrainRequested())
    assert json.loads(d.result_for(tok).payload)["errorType"] == "Sandbox.Failure"
    assert d.env.events_pending()
    refusal = d.env.event_refusal(2)
    assert refusal is not None and refusal.status == 500
    late, _ = d.invoke()
    assert d.result_for(late).function_error
    d.complete_invoke(first)
    d.complete_invoke(second)  # the event behind the refused sync invoke ran
    assert not d.env.events_pending()
    assert not d.explanations(m)
    assert sync_id not in [c.result.request_id for c in d.completions(m) if not c.result.function_error]


def test_shutdown_names_every_event_it_did_not_run() -> None:
    d = warm()
    running = event(d)
    queued = [event(d) for _ in range(2)]
    m = d.mark()
    d.feed(DrainRequested())
    d.feed(ShutdownRequested())
    d.killed_by_signal(RUNTIME)
    assert d.state is EnvState.SHUT_DOWN
    said = d.explanations(m)
    assert said == [f"Event invoke {running} did not finish: lambdatui shut down while it ran",
                    *(f"Event invoke {rid} was not run: lambdatui shut down while it was queued" for rid in queued)]
    assert d.facts(f.EventNotRun, m) == [f.EventNotRun(rid, text) for rid, text in zip([running, *queued], said)]


def test_an_event_that_ran_is_not_named_and_sync_invokes_never_are() -> None:
    d = warm()
    done = event(d)
    d.complete_invoke(done)
    d.invoke()
    d.invoke()
    m = d.mark()
    d.feed(ShutdownRequested())
    d.killed_by_signal(RUNTIME)
    assert d.state is EnvState.SHUT_DOWN
    assert not [line for line in d.explanations(m) if "Event invoke" in line]
