"""An environment whose runtime lambdatui started ahead of its host (host/early_start.py): its Init is the
runtime's own, from its start to its first /next, without the time its calls waited for the host to come up."""

from __future__ import annotations

import pytest

from driver import Driver
from lambdatui.core import inputs as ins
from lambdatui.core.effects import RUNTIME


def test_init_began_when_the_runtime_was_started_and_its_timer_with_it() -> None:
    d = Driver()
    started = d.now
    d.advance(80)  # lambdatui imports the rest of itself meanwhile
    d.feed(ins.StartEnvironment(started))
    assert d.spawned() == [RUNTIME]  # the host adopts the runtime it started
    assert d.lines()[0].startswith("INIT_START ")
    assert d.started_timers()["init"] == pytest.approx(started.mono + 10)


def test_what_the_runtimes_calls_waited_for_the_host_is_not_its_init() -> None:
    d = Driver()
    started = d.now
    d.advance(30)
    gate_arrived = d.mono  # the bootstrap asks to import the handler; the host is still importing
    d.advance(50)
    d.feed(ins.StartEnvironment(started))
    gate = d.token()
    d.feed(ins.FunctionInitGate(gate, gate_arrived))
    assert d.answered(gate)
    d.advance(4)  # the handler module's import
    next_arrived = d.mono
    d.advance(0.5)  # read a scheduler pass later
    token = d.token()
    d.next_token[RUNTIME] = token
    d.feed(ins.RuntimeNext(token, next_arrived))
    _, rid = d.invoke()
    d.advance(1)
    d.complete_invoke(rid)
    # 30 ms to the gate, 4 ms of handler import: the 50 ms and 0.5 ms spent waiting are lambdatui's.
    assert d.reports()[0].init_duration_ms == pytest.approx(34.0)


def test_a_call_read_as_it_arrives_counts_whole() -> None:
    d = Driver()
    d.start()
    d.advance(60)
    token = d.token()
    d.next_token[RUNTIME] = token
    d.feed(ins.RuntimeNext(token, d.mono))
    _, rid = d.invoke()
    d.complete_invoke(rid)
    assert d.reports()[0].init_duration_ms == pytest.approx(60.0)
