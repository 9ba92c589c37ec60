"""Telemetry API and Logs API delivery: each subscriber's records, batched and sent to its listener (lambda-spec §3.2).

`TelemetryDelivery` is a fact listener. Every fact goes to the translator (model/telemetry_records.py), which
answers what each subscribed extension receives; those records are encoded once and appended to the subscriber's
buffer (host/telemetry_buffer.py), which is all a fact costs here: O(records), no I/O, no task. Each subscriber
has its own task that sends the due batches to its listener on 127.0.0.1 (an HTTP POST, or PUT where a Logs API
subscription asked for it, of a JSON array on a kept-alive connection; or NDJSON on a TCP connection), retries
with backoff while the listener is not up, and publishes `TelemetryDelivered` for every attempt and
`TelemetryDropped` for what had to go. Deliveries never run on an invoke's path: the invoke only appends.

Freezes: Lambda freezes the whole execution environment between invokes, its telemetry agent with it, so nothing
is delivered while the environment is frozen: records buffer, and what fell due is delivered when it thaws (the
next invoke, or the shutdown). That is why, in Lambda, an extension often gets an invoke's `platform.report`
during the next invoke. Here the host runs on while the processes are stopped, so a delivery task waits for the
thaw before each attempt: a stopped listener is never sent a batch it cannot answer, nor retried against.

A subscriber ends with its extension's process, or when the reset or shutdown that ends its environment is over,
or when a new Init begins (its new processes subscribe afresh); whatever it could not deliver by then is
reported dropped (records that come after, for a listener that no longer exists, go nowhere). When the runtime's
output ends (its process exited) and when a reset or shutdown begins, every buffer is flushed at once: extensions
have ~2 s of shutdown to take the last records. The listener's end of each connection is host/telemetry_links.py.
"""

from __future__ import annotations

import json
import math
import time
from typing import Callable, Mapping, Optional, Sequence

import trio

from lambdatui.core.common import EnvironmentConfig
from lambdatui.core.effects import RUNTIME
from lambdatui.host.telemetry_buffer import Batch, TelemetryBuffer, retry_delay
from lambdatui.host.telemetry_links import DeliveryFailed, HttpLink, Link, TcpLink
from lambdatui.model import facts as f
from lambdatui.model.telemetry import LOGS_DROPPED, Subscription
from lambdatui.model.telemetry_platform_records import FunctionInfo
from lambdatui.model.telemetry_records import TelemetryRecords
from lambdatui.processes.sandbox_hosts import HOST_LOOPBACK

# The translator's answer to one fact: (extension name, [envelope, ...]) for each subscriber with something new.
Translate = Callable[[f.Fact, Optional[float]], Sequence[tuple[str, Sequence[dict]]]]
Publish = Callable[[f.Fact], None]
StartSoon = Callable[..., None]

# A listener that answers >= 400 is up but refuses the batch: it is tried this many times, then reported dropped
# (a listener that is not up yet is retried for as long as its subscriber lives: the backlog bounds what waits).
REFUSED_ATTEMPTS = 3
# A subscription that replaces another waits this long for the batch the other is sending: delivered, it is not sent
# again; refused or unanswered, it comes first in the new one's buffer (a hung listener costs the new one no more).
HANDOVER_WAIT_S = 1.0
# Drops are reported at most this often: a flood of records past a stuck listener is a few facts, not one each.
DROP_REPORT_INTERVAL_S = 0.5
_EXTENSION_PREFIX = "extension:"

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def translator(config: EnvironmentConfig, function_env: Mapping[str, str], instance_id: str) -> Translate:
    """The environment's translator from facts to records (call it inside the trio run: it reads its clock)."""
    records = TelemetryRecords(FunctionInfo.of(config, instance_id=instance_id),
                               wall_offset_s=time.time() - trio.current_time(),
                               json_logs=logs_json(function_env))
    return records.feed


def logs_json(function_env: Mapping[str, str]) -> bool:
    """Whether the function logs JSON: its runtime reads AWS_LAMBDA_LOG_FORMAT whatever its case (awslambdaric's
    `LogFormat.from_str`, and lambdatui's bootstrap), so `json` makes JSON lines its subscribers get as objects."""
    return function_env.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"


def encode(envelope: dict) -> bytes:
    """An envelope's JSON as Lambda sends it: compact, UTF-8 (an undecodable byte of a log line, kept as a lone
    surrogate, becomes its JSON escape)."""
    return _encode(envelope).encode("utf-8", "backslashreplace")


class Subscriber:
    """One extension's subscription: its buffer, its listener, and the task that delivers to it."""

    def __init__(self, name: str, subscription: Subscription, delivery: TelemetryDelivery) -> None:
        self.name = name
        self.subscription = subscription
        self.buffer = TelemetryBuffer(subscription.max_items, subscription.max_bytes, subscription.timeout_ms)
        addresses = listener_addresses(delivery.loopback())
        self.link: Link = (HttpLink(subscription.port, subscription.path, subscription.method, addresses)
                            if subscription.protocol == "HTTP" else TcpLink(subscription.port, addresses))
        self._delivery = delivery
        self._scope = trio.CancelScope()
        self._wake = trio.Event()
        self._waiting_until = -math.inf  # while it delivers, records need not wake it
        self._dropped = trio.Event()
        self._in_flight: Optional[Batch] = None
        self._sending = False
        self.ended = False
        self._successor: Optional[Subscriber] = None  # the same extension's next subscription, which takes what is left
        self._predecessor: Optional[Subscriber] = None  # the one it replaced, until its batch in flight is settled
        self._settled = trio.Event()  # set when its task has ended: no batch of its own in flight any more

    # -- from the fact listener (synchronous, cheap)

    def add(self, envelopes: Sequence[dict], now: float, encoded: Optional[dict[int, bytes]]) -> None:
        buffer = self.buffer
        for envelope in envelopes:
            data = encoded.get(id(envelope)) if encoded is not None else None
            if data is None:
                data = encode(envelope)
                if encoded is not None:
                    encoded[id(envelope)] = data
            kind = envelope["type"]
            if not buffer.add(data, kind, now, force=kind == LOGS_DROPPED):
                self._dropped.set()
        self._poke()

    def flush(self) -> None:
        self.buffer.flush_asked = True
        self._poke()

    def end(self) -> None:
        """Its process or environment has ended: what it could not deliver is reported lost, to nobody."""
        self.ended = True
        self._scope.cancel()

    def replace_by(self, successor: Subscriber) -> None:
        """Its extension subscribed again: what waits goes to `successor`, and so does the batch on its way, unless the
        attempt under way delivers it (so no record is lost, nor sent twice, to a listener that answers)."""
        successor.buffer.adopt(self.buffer)
        successor._predecessor = self
        self.ended = True
        self._successor = successor
        if not self._sending:
            self._scope.cancel()

    def _poke(self) -> None:
        due = self.buffer.due_at()
        if due is not None and due < self._waiting_until:
            self._wake.set()

    # -- its task

    async def run(self) -> None:
        with self._scope:
            try:
                await self._after_predecessor()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._report_drops)
                    while not self.ended:
                        batch = await self._next_batch()
                        self._in_flight = batch
                        if await self._deliver(batch):
                            self._in_flight = None
                    self._scope.cancel()  # replaced during its last attempt
            finally:
                self.link.close()
                successor, in_flight = self._successor, self._in_flight
                if successor is not None and in_flight is not None:
                    successor.buffer.put_back(in_flight)
                    successor._poke()
                    self._in_flight = None
                self._report_lost()
                self._settled.set()

    async def _after_predecessor(self) -> None:
        """The replaced subscription's batch in flight is settled before this one sends: records keep their order."""
        predecessor, self._predecessor = self._predecessor, None
        if predecessor is not None:
            with trio.move_on_after(HANDOVER_WAIT_S):
                await predecessor._settled.wait()
            predecessor._scope.cancel()
            await predecessor._settled.wait()

    async def _next_batch(self) -> Batch:
        while True:
            await self._delivery.thawed()
            due = self.buffer.due_at()
            if due is not None and due <= trio.current_time():
                batch = self.buffer.take()
                if batch is not None:
                    return batch
                continue
            self._wake = trio.Event()
            self._waiting_until = math.inf if due is None else due
            with trio.move_on_at(self._waiting_until):
                await self._wake.wait()
            self._waiting_until = -math.inf

    async def _deliver(self, batch: Batch) -> bool:
        """Sends `batch` until delivered or given up on (True), or until its subscription is replaced (False)."""
        shown = batch.shown(self.subscription.max_bytes + len(batch.records) + 1)
        attempt = 0
        while True:
            attempt += 1
            error: Optional[str] = None
            refused = False
            sent_at = trio.current_time()  # the fact's time is when the batch went (its answer may take long)
            self._sending = True
            try:
                await self.link.send(batch)
            except DeliveryFailed as exc:
                error, refused = exc.reason, exc.refused
            finally:
                self._sending = False
            self._delivery.publish(f.TelemetryDelivered(
                self.name, self.subscription.api, len(batch.records), batch.size, batch.types, error, attempt, shown,
                at=sent_at))
            if error is None:
                return True
            if self.ended:
                return False
            if refused and attempt >= REFUSED_ATTEMPTS:
                self.buffer.count_lost(len(batch.records), batch.size)
                self._dropped.set()
                return True
            await trio.sleep(retry_delay(attempt))
            await self._delivery.thawed()

    async def _report_drops(self) -> None:
        while True:
            await self._dropped.wait()
            self._dropped = trio.Event()
            records, size = self.buffer.take_dropped()
            if records:
                self._delivery.publish(f.TelemetryDropped(self.name, records, size, at=trio.current_time()))
            await trio.sleep(DROP_REPORT_INTERVAL_S)

    def _report_lost(self) -> None:
        """The subscriber ends: what it could not deliver (waiting, in flight, dropped unreported) is reported."""
        records, size = self.buffer.take_dropped()
        waiting, waiting_size = self.buffer.discard()
        records += waiting
        size += waiting_size
        if self._in_flight is not None:
            records += len(self._in_flight.records)
            size += self._in_flight.size
            self._in_flight = None
        if records:
            self._delivery.publish(f.TelemetryDropped(self.name, records, size, at=trio.current_time(),
                                                      gone=self._successor is None))


def listener_addresses(loopback: str) -> tuple[str, ...]:
    """Where to find a subscriber's listener, whichever of the sandbox's names its destination gives (one address in
    Lambda): where `localhost` and the sandbox's names resolve in its environment, then the host's 127.0.0.1 (a
    listener bound to that address by number)."""
    return (HOST_LOOPBACK,) if loopback == HOST_LOOPBACK else (loopback, HOST_LOOPBACK)


class TelemetryDelivery:
    """The host's fact listener for telemetry: `host.subscribe(TelemetryDelivery(translate, publish, start_soon))`.

    `translate(fact, now)` is `TelemetryRecords.feed`; `publish` puts a fact on the host's bus; `start_soon`
    starts a task for as long as the host runs. Make it inside the trio run (it keeps the run's clock).
    """

    def __init__(self, translate: Translate, publish: Publish, start_soon: StartSoon,
                 loopback: Callable[[], str] = lambda: HOST_LOOPBACK) -> None:
        """`loopback()`: where the environment's sandbox names resolve now (its sandbox's `loopback`)."""
        self._translate = translate
        self.publish = publish
        self._start_soon = start_soon
        self.loopback = loopback
        self.subscribers: dict[str, Subscriber] = {}
        self._frozen = False
        self._thaw = trio.Event()
        self._clock = trio.lowlevel.current_clock()  # its current_time() without trio's lookups: once per fact

    def __call__(self, fact: f.Fact) -> None:
        kind = type(fact)
        if kind is f.TelemetrySubscribed:
            self._subscribe(fact)  # type: ignore[arg-type]  # before its records: the replay goes to it
        # With nobody subscribed and no Init running the translator answers nothing, after a dict lookup.
        if deliveries := self._translate(fact, now := self._clock.current_time()):
            subscribers = self.subscribers
            # Subscribers may share an envelope: encode it once.
            encoded: Optional[dict[int, bytes]] = {} if len(deliveries) > 1 else None
            for name, envelopes in deliveries:
                subscriber = subscribers.get(name)
                if subscriber is not None:  # one that ended (its process exited) takes nothing more
                    subscriber.add(envelopes, now, encoded)
        after = _AFTER.get(kind)
        if after is not None:
            after(self, fact)

    async def thawed(self) -> None:
        if self._frozen:
            await self._thaw.wait()

    # -- lifecycle

    def _subscribe(self, fact: f.TelemetrySubscribed) -> None:
        subscriber = Subscriber(fact.extension, fact.subscription, self)
        old = self.subscribers.pop(fact.extension, None)
        if old is not None:
            # A later subscription replaces the earlier, and the translator replays nothing twice: what the earlier
            # one had not delivered goes to the new destination.
            old.replace_by(subscriber)
        self.subscribers[fact.extension] = subscriber
        self._start_soon(subscriber.run)

    def _frozen_now(self, fact: f.EnvironmentFrozen) -> None:
        if not self._frozen:
            self._frozen = True
            self._thaw = trio.Event()

    def _thawed_now(self, fact: Optional[f.EnvironmentThawed] = None) -> None:
        self._frozen = False
        self._thaw.set()

    def _phase_started(self, fact: f.PhaseStarted) -> None:
        if fact.phase in ("reset", "shutdown"):
            self._flush_all()  # the runtime is being stopped: extensions get what is buffered while they can
        elif fact.phase == "init":
            self._end_all()  # a new Init runs new processes, which subscribe afresh

    def _phase_ended(self, fact: f.PhaseEnded) -> None:
        if fact.phase in ("reset", "shutdown"):
            self._end_all()
            self._thawed_now()  # nothing is frozen once a reset or a shutdown is over

    def _process_exited(self, fact: f.ProcessExitedFact) -> None:
        if fact.participant == RUNTIME:
            self._flush_all()  # the runtime's output has ended (lambda-spec §3.3: a crash flushes)
        elif fact.participant.startswith(_EXTENSION_PREFIX):
            subscriber = self.subscribers.pop(fact.participant[len(_EXTENSION_PREFIX):], None)
            if subscriber is not None:
                subscriber.end()

    def _flush_all(self) -> None:
        for subscriber in self.subscribers.values():
            subscriber.flush()

    def _end_all(self) -> None:
        subscribers, self.subscribers = self.subscribers, {}
        for subscriber in subscribers.values():
            subscriber.end()


_AFTER: dict[type, Callable[[TelemetryDelivery, f.Fact], None]] = {
    f.EnvironmentFrozen: TelemetryDelivery._frozen_now,  # type: ignore[dict-item]
    f.EnvironmentThawed: TelemetryDelivery._thawed_now,  # type: ignore[dict-item]
    f.PhaseStarted: TelemetryDelivery._phase_started,  # type: ignore[dict-item]
    f.PhaseEnded: TelemetryDelivery._phase_ended,  # type: ignore[dict-item]
    f.ProcessExitedFact: TelemetryDelivery._process_exited,  # type: ignore[dict-item]
}
