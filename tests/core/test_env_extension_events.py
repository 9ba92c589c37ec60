"""Each event an extension receives from the Extensions API is a fact, when it receives it (issue 10).

`ExtensionEventDelivered` is emitted when an extension's `/event/next` is answered, with the JSON it got: at
once when it was parked, or when it next calls `/event/next` when the event waited for it. The debugger's
per-extension event list is folded from these.
"""

from __future__ import annotations

import json

from driver import BOTH, Driver, ext

from lambdatui.core.effects import RUNTIME
from lambdatui.core.inputs import ShutdownRequested
from lambdatui.model import facts as f


def warm(subscriptions: dict[str, tuple[str, ...]]) -> Driver:
    d = Driver(subscriptions)
    d.cold_start(subscriptions)
    return d


def delivered(d: Driver, since: int = 0) -> list[tuple[str, dict]]:
    return [(x.extension, json.loads(x.event)) for x in d.facts(f.ExtensionEventDelivered, since)]


def test_no_event_is_delivered_during_init() -> None:
    d = warm({"ext-a": BOTH})
    assert delivered(d) == []


def test_invoke_is_delivered_to_each_invoke_subscriber_with_the_json_it_got_and_the_time() -> None:
    d = warm({"ext-a": BOTH, "ext-b": ("SHUTDOWN",)})
    parked = d.next_token[ext("ext-a")]
    d.advance(40)
    m = d.mark()
    d.invoke("r-1")
    facts = d.facts(f.ExtensionEventDelivered, m)
    assert [x.extension for x in facts] == ["ext-a"]  # ext-b subscribed to SHUTDOWN only
    assert facts[0].event == d.reply(parked).body
    assert facts[0].at == d.mono
    assert json.loads(facts[0].event)["eventType"] == "INVOKE"
    assert json.loads(facts[0].event)["requestId"] == "r-1"


def test_an_event_that_waited_is_delivered_when_the_extension_asks_for_it() -> None:
    d = warm({"ext-a": BOTH})
    d.invoke("r-1")
    d.respond("r-1")
    d.runtime_next()
    m = d.mark()
    d.invoke("r-2")  # queued: the first invoke is not done until ext-a parks again
    assert delivered(d, m) == []
    d.advance(5)
    m = d.mark()
    d.ext_next("ext-a")  # invoke 1 done, invoke 2 starts, its INVOKE is handed over
    assert [(name, event["requestId"]) for name, event in delivered(d, m)] == [("ext-a", "r-2")]


def test_shutdown_is_delivered_with_its_reason() -> None:
    d = warm({"ext-a": BOTH})
    m = d.mark()
    d.feed(ShutdownRequested())
    d.exited(RUNTIME, 0)
    events = delivered(d, m)
    assert [(name, event["eventType"], event["shutdownReason"]) for name, event in events] == [
        ("ext-a", "SHUTDOWN", "spindown")]
    assert d.facts(f.ShutdownSent, m)[0].extension == "ext-a"
