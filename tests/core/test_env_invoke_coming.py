"""An invoke the fleet holds for an environment finishing its last one (InvokeComing): idle meanwhile, the environment
stays thawed for it, rather than a freeze and a thaw a tenth of a millisecond apart on every warm invoke of a runtime
that asks for its next event after the caller has its answer (awslambdaric: warm p50 0.71 → 0.85 ms without it)."""

from __future__ import annotations

from driver import Driver

from lambdatui.core.effects import Freeze, Thaw
from lambdatui.core.inputs import InvokeComing
from lambdatui.model.boundaries import EnvState


def answered() -> tuple[Driver, str]:
    """A warm environment whose invoke is answered, its runtime not yet back on /next."""
    d = Driver()
    d.start()
    d.runtime_next()
    _, rid = d.invoke()
    d.respond(rid)
    return d, rid


def test_an_environment_an_invoke_is_coming_for_stays_thawed_once_idle_and_takes_it():
    d, _ = answered()
    m = d.mark()
    d.feed(InvokeComing(True))
    d.runtime_next()  # idle now
    assert d.state is EnvState.FROZEN and not d.effects(Freeze, m)
    tok, rid = d.invoke()
    assert not d.effects(Thaw, m)  # nothing to thaw: the event goes out at once
    d.respond(rid)
    d.runtime_next()
    assert d.result_for(tok).payload == b'"ok"'
    assert d.effects(Freeze, m)  # the invoke came: the next idle spell freezes as ever


def test_an_invoke_that_went_elsewhere_lets_the_idle_environment_freeze():
    d, _ = answered()
    d.feed(InvokeComing(True))
    d.runtime_next()
    m = d.mark()
    d.feed(InvokeComing(False))
    assert d.effects(Freeze, m) and d.env.frozen


def test_told_before_it_is_idle_that_the_invoke_went_elsewhere_it_freezes_when_idle():
    d, _ = answered()
    d.feed(InvokeComing(True))
    d.feed(InvokeComing(False))
    m = d.mark()
    d.runtime_next()
    assert d.effects(Freeze, m)
