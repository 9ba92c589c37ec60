"""The delivery's rules on trio's mock clock (issue 10): when a subscriber's batches go, and what it reports.

The translator and the listener are stand-ins here (a function of facts, a link that records what it is sent), so
every rule plays out in virtual time: nothing sent while frozen, flushes, retries and their backoff, refusals given
up and reported, a later subscription taking over what waited, a subscriber ending with its extension's process.
The real translator, sockets and extension processes are in tests/end_to_end/test_telemetry_delivery.py.
"""

from __future__ import annotations

from typing import Any, Optional

import pytest
import trio
import trio.testing

from lambdatui.core.common import EnvironmentConfig
from lambdatui.host.telemetry_buffer import Batch
from lambdatui.host.telemetry_delivery import HANDOVER_WAIT_S, TelemetryDelivery, translator
from lambdatui.host.telemetry_links import DeliveryFailed
from lambdatui.model import facts as f
from lambdatui.model.telemetry import TELEMETRY, Subscription


def subscription(timeout_ms: int = 25, port: int = 4243) -> Subscription:
    return Subscription(TELEMETRY, "2022-12-13", ("platform", "function"), 1000, 262_144, timeout_ms, "HTTP", port)


class Translator:
    """Function lines to every subscriber; TelemetryDropped to every subscriber as platform.logsDropped."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, fact: Any, at: Optional[float]) -> list[tuple[str, list[dict]]]:
        if isinstance(fact, f.TelemetrySubscribed) and fact.extension not in self.names:
            self.names.append(fact.extension)
        if isinstance(fact, f.LogLine):
            return [(name, [{"time": "t", "type": "function", "record": fact.text}]) for name in self.names]
        if isinstance(fact, f.TelemetryDropped):
            record = {"droppedRecords": fact.records, "droppedBytes": fact.bytes, "reason": "slow"}
            return [(name, [{"time": "t", "type": "platform.logsDropped", "record": record}]) for name in self.names]
        return []


class Link:
    """Records every batch; fails the first `failures` attempts (refusals when `refused`)."""

    def __init__(self, failures: int = 0, refused: bool = False) -> None:
        self.failures = failures
        self.refused = refused
        self.sent: list[Batch] = []
        self.attempts: list[float] = []
        self.closed = False

    async def send(self, batch: Batch) -> None:
        self.attempts.append(trio.current_time())
        if len(self.attempts) <= self.failures:
            raise DeliveryFailed("no", refused=self.refused)
        self.sent.append(batch)

    def records(self) -> list[str]:
        return [r.decode() for b in self.sent for r in b.records]

    def close(self) -> None:
        self.closed = True


class Harness:
    def __init__(self, nursery: trio.Nursery) -> None:
        self.published: list[Any] = []
        self.delivery = TelemetryDelivery(Translator(), self.publish, nursery.start_soon)
        self._changed = trio.Event()

    def publish(self, fact: Any) -> None:
        self.published.append(fact)
        self.delivery(fact)  # the host's bus reaches every listener, this one included
        self._changed.set()
        self._changed = trio.Event()

    def subscribe(self, name: str = "ext", link: Optional[Link] = None, **kwargs: Any) -> Link:
        self.delivery(f.TelemetrySubscribed(name, subscription(**kwargs)))
        link = link or Link()
        self.delivery.subscribers[name].link = link  # type: ignore[assignment]  # before its task first runs
        return link

    def say(self, *texts: str) -> None:
        for text in texts:
            self.delivery(f.LogLine(f.FUNCTION, text))

    def of(self, kind: type) -> list[Any]:
        return [fact for fact in self.published if isinstance(fact, kind)]

    async def wait_for(self, kind: type, count: int = 1) -> list[Any]:
        while len(self.of(kind)) < count:
            await self._changed.wait()
        return self.of(kind)


@pytest.fixture
def autojump() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


@pytest.mark.trio
async def test_a_batch_goes_timeout_ms_after_its_first_record(autojump: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        link = h.subscribe(timeout_ms=250)
        start = trio.current_time()
        h.say("a")
        await trio.sleep(0.1)
        h.say("b")
        (sent,) = await h.wait_for(f.TelemetryDelivered)
        nursery.cancel_scope.cancel()
    assert link.attempts == [pytest.approx(start + 0.25)]
    assert link.records() == ['{"time":"t","type":"function","record":"a"}', '{"time":"t","type":"function","record":"b"}']
    assert (sent.records, sent.types, sent.error, sent.attempt) == (2, ("function", "function"), None, 1)


@pytest.mark.trio
async def test_nothing_goes_while_the_environment_is_frozen(autojump: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        link = h.subscribe()
        h.say("before the freeze")
        h.delivery(f.EnvironmentFrozen(("runtime", "extension:ext")))
        await trio.sleep(60)  # virtual: a minute idle between invokes
        assert link.attempts == []
        thawed_at = trio.current_time()
        h.delivery(f.EnvironmentThawed(("runtime", "extension:ext")))
        await h.wait_for(f.TelemetryDelivered)
        nursery.cancel_scope.cancel()
    assert link.attempts == [thawed_at]  # due long ago: it goes at the thaw


@pytest.mark.trio
async def test_the_runtimes_exit_and_a_shutdown_flush_at_once(autojump: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        link = h.subscribe(timeout_ms=30_000)
        h.say("last words")
        await trio.sleep(1)
        exited_at = trio.current_time()
        h.delivery(f.ProcessExitedFact("runtime", "exit status 1", expected=False))
        await h.wait_for(f.TelemetryDelivered)
        h.say("said while shutting down")
        await trio.sleep(1)
        shutdown_at = trio.current_time()
        h.delivery(f.PhaseStarted("shutdown", "spindown"))
        await h.wait_for(f.TelemetryDelivered, 2)
        nursery.cancel_scope.cancel()
    assert link.attempts == [exited_at, shutdown_at]  # not 30 s later
    assert len(link.sent) == 2


@pytest.mark.trio
async def test_a_listener_not_up_is_retried_with_backoff_until_it_takes_the_batch(
        autojump: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        link = h.subscribe(link=Link(failures=5))
        h.say("a")
        attempts = await h.wait_for(f.TelemetryDelivered, 6)
        nursery.cancel_scope.cancel()
    assert [(d.attempt, d.error) for d in attempts] == [(1, "no"), (2, "no"), (3, "no"), (4, "no"), (5, "no"), (6, None)]
    gaps = [round(b - a, 6) for a, b in zip(link.attempts, link.attempts[1:])]
    assert gaps == [0.02, 0.04, 0.08, 0.16, 0.32]
    assert not h.of(f.TelemetryDropped)


@pytest.mark.trio
async def test_a_batch_refused_three_times_is_reported_dropped_and_the_listener_told(
        autojump: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        link = h.subscribe(link=Link(failures=3, refused=True))
        h.say("a", "b")
        (dropped,) = await h.wait_for(f.TelemetryDropped)
        await h.wait_for(f.TelemetryDelivered, 4)
        nursery.cancel_scope.cancel()
    assert (dropped.extension, dropped.records) == ("ext", 2)
    assert [d.attempt for d in h.of(f.TelemetryDelivered)] == [1, 2, 3, 1]
    assert link.records() == ['{"time":"t","type":"platform.logsDropped","record":'
                              '{"droppedRecords":2,"droppedBytes":%d,"reason":"slow"}}' % dropped.bytes]


@pytest.mark.trio
async def test_past_the_backlog_drops_are_reported_a_few_times_not_once_each(autojump: trio.testing.MockClock) -> None:
    stuck = trio.Event()

    class Stuck(Link):
        async def send(self, batch: Batch) -> None:
            await stuck.wait()  # a listener that never answers
            await super().send(batch)

    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        link = h.subscribe(link=Stuck())
        h.say("first")
        await trio.sleep(1)  # the first batch is in flight, and stays there
        h.say(*(f"line {i}" for i in range(4000 + 2500)))
        await h.wait_for(f.TelemetryDropped)
        await trio.sleep(5)
        h.delivery(f.ProcessExitedFact("extension:ext", "signal: killed", expected=True))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    dropped = h.of(f.TelemetryDropped)
    # Every record is accounted for: the one in flight, the 6,500 after it, and the platform.logsDropped notice the
    # first report put in the buffer (which the listener never got either).
    assert len(dropped) <= 3 and sum(d.records for d in dropped) == 1 + 6500 + 1
    assert link.closed and "ext" not in h.delivery.subscribers


@pytest.mark.trio
async def test_a_later_subscription_takes_over_what_waited(autojump: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        first = h.subscribe(timeout_ms=1000)
        h.say("a", "b")
        second = h.subscribe(timeout_ms=25, port=4244)
        h.say("c")
        await h.wait_for(f.TelemetryDelivered)
        nursery.cancel_scope.cancel()
    assert first.sent == [] and [r.split('"record":')[1] for r in second.records()] == ['"a"}', '"b"}', '"c"}']
    assert not h.of(f.TelemetryDropped)


class HeldLink(Link):
    """A listener that holds each batch until `release` is set, then takes it (`fail`: refuses it); never, if not."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.arrived = trio.Event()
        self.release = trio.Event()

    async def send(self, batch: Batch) -> None:
        self.attempts.append(trio.current_time())
        self.arrived.set()
        await self.release.wait()
        if self.fail:
            raise DeliveryFailed("no", refused=True)
        self.sent.append(batch)


def texts(link: Link) -> list[str]:
    return [r.split('"record":')[1] for r in link.records()]


@pytest.mark.trio
@pytest.mark.parametrize("answer", ["delivered", "refused", "hung"])
async def test_a_batch_on_its_way_when_its_subscription_is_replaced_is_delivered_once_and_never_dropped(
        autojump: trio.testing.MockClock, answer: str) -> None:
    """The batch the earlier subscription is sending reaches one listener once: the earlier one, if it takes it; else
    the later one, first, before what followed (a hung listener keeps it HANDOVER_WAIT_S at most). It is never
    counted dropped: platform records are never dropped for a re-subscription."""
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        first = h.subscribe(link=HeldLink(fail=answer == "refused"), timeout_ms=25)
        h.say("a", "b")
        await first.arrived.wait()
        second = h.subscribe(timeout_ms=25, port=4244)
        h.say("c")
        if answer != "hung":
            first.release.set()
        with trio.move_on_after(10):  # virtual seconds: past every retry and report there would be
            await h.wait_for(f.TelemetryDelivered, 1 if answer == "hung" else 2)  # a hung attempt is never answered
            await trio.sleep(5)
        nursery.cancel_scope.cancel()
    if answer == "delivered":
        assert (texts(first), texts(second)) == (['"a"}', '"b"}'], ['"c"}'])
    else:
        assert (texts(first), texts(second)) == ([], ['"a"}', '"b"}', '"c"}'])
    assert not h.of(f.TelemetryDropped)
    if answer == "hung":
        assert second.attempts == [pytest.approx(first.attempts[0] + HANDOVER_WAIT_S)]


@pytest.mark.trio
async def test_a_subscriber_ends_with_its_extension_and_reports_what_it_could_not_send(
        autojump: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        link = h.subscribe(timeout_ms=30_000)
        h.say("a", "b", "c")
        h.delivery(f.ProcessExitedFact("extension:ext", "exit status 0", expected=True))
        (dropped,) = await h.wait_for(f.TelemetryDropped)
        h.say("after its end")  # no listener any more: nothing to deliver, nothing to report
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert dropped.records == 3 and link.sent == [] and len(h.of(f.TelemetryDropped)) == 1


@pytest.mark.trio
@pytest.mark.parametrize("log_format", ["JSON", "json", "Json"])
async def test_json_log_lines_are_objects_whatever_the_case_of_the_log_format(log_format: str) -> None:
    """The runtime logs JSON for AWS_LAMBDA_LOG_FORMAT=json too (awslambdaric upper-cases it): its lines must reach
    a 2022-12-13 subscriber as the objects they are, not as strings."""
    feed = translator(EnvironmentConfig("fn", "handler.handler", 3000, 128), {"AWS_LAMBDA_LOG_FORMAT": log_format}, "")
    now = trio.current_time()
    feed(f.PhaseStarted("init", "init", at=now), now)
    feed(f.TelemetrySubscribed("ext", subscription(), at=now), now)
    line = f.LogLine(f.FUNCTION, '{"level": "INFO", "message": "hi"}')
    [(name, [envelope])] = feed(f.LogLines((line,)), now)
    assert (name, envelope["record"]) == ("ext", {"level": "INFO", "message": "hi"})
