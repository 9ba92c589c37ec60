"""One subscriber's telemetry buffer: encoded records in, batches out, within its subscription's limits.

Pure (no trio, no sockets): the delivery task asks it what to send and when (lambda-spec §3.3). A batch holds at
most `maxItems` records whose JSON adds up to at most `maxBytes`; the one exception is a single record larger
than `maxBytes` on its own, which goes alone rather than nowhere (Lambda itself sends payloads of up to twice
`maxBytes`). A batch is due when a batch's worth waits, when its oldest record has waited `timeoutMs`, or when
the delivery asks for a flush.

A listener that falls behind does not make the buffer grow without end: beyond `BACKLOG_BATCHES` batches' worth
waiting, log records (the function's and extensions') are dropped, and platform records beyond twice that, and
counted until the delivery reports them (a
`TelemetryDropped` fact, which the translator turns into the `platform.logsDropped` record the listener gets), so
nothing goes silently.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Optional

# How many batches may wait while one is being delivered (or retried). Lambda documents no figure; the AWS
# emulator keeps one accumulating beside the one in flight, which drops a whole batch at the first slow answer.
BACKLOG_BATCHES = 4
# Platform records may fill twice that backlog before they are dropped too: a handful an invoke, which a burst of the
# function's lines must not take with it, but a listener that is gone (nothing on its port, or hung) never takes
# them, and the host must not grow with every invoke for as long as the environment lives (a bug hunt: ~1.7 KB an
# invoke, without end).
PLATFORM_BACKLOG_FACTOR = 2

# Retries of a batch whose listener is not up yet (or refused it): the first waits this long, each next one twice
# as long, up to the cap, so a listener that starts late gets its records within the cap of starting.
FIRST_RETRY_S = 0.02
MAX_RETRY_S = 1.0


def retry_delay(attempt: int) -> float:
    """How long to wait after failed attempt number `attempt` (1 for the first) before the next one."""
    return min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** min(attempt - 1, 16))


@dataclass(frozen=True)
class Batch:
    """One delivery to a subscriber's listener: the records' JSON and types, in order, and their size."""

    records: tuple[bytes, ...]  # each record's JSON
    types: tuple[str, ...]  # each record's type, in the same order
    size: int  # the records' bytes, added up (what maxBytes bounds)

    def json_array(self) -> bytes:
        """The body of an HTTP delivery: a JSON array of the records."""
        return b"[" + b",".join(self.records) + b"]"

    def ndjson(self) -> bytes:
        """What a TCP delivery writes: one record a line."""
        return b"\n".join(self.records) + b"\n"

    def shown(self, limit: int) -> str:
        """The batch as a JSON array for the debugger, of the leading records that fit in `limit` bytes."""
        if self.size + len(self.records) + 1 <= limit:
            return self.json_array().decode("utf-8", "replace")
        kept: list[bytes] = []
        used = 2
        for record in self.records:
            used += len(record) + 1
            if used > limit:
                break
            kept.append(record)
        return (b"[" + b",".join(kept) + b"]").decode("utf-8", "replace")


class TelemetryBuffer:
    def __init__(self, max_items: int, max_bytes: int, timeout_ms: int, *, backlog_batches: int = BACKLOG_BATCHES) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.timeout_s = timeout_ms / 1000
        self._backlog_items = max_items * backlog_batches
        self._backlog_bytes = max_bytes * backlog_batches
        # (json, type, when it arrived): the arrival times restart the timer for what a batch leaves behind.
        self._waiting: deque[tuple[bytes, str, float]] = deque()
        self.items = 0
        self.bytes = 0
        self.flush_asked = False
        self.dropped_records = 0  # dropped and not yet reported
        self.dropped_bytes = 0

    # -- in

    def add(self, record: bytes, type_: str, now: float, *, force: bool = False) -> bool:
        """Buffer one record; False when it was dropped because the backlog is full (never when `force`d; a platform
        record, what an extension waits for, platform.report above all, only past PLATFORM_BACKLOG_FACTOR times the
        backlog: a burst of the function's lines that overflows the backlog must not take them with it)."""
        size = len(record)
        room = PLATFORM_BACKLOG_FACTOR if type_.startswith("platform.") else 1
        if not force and (self.items >= self._backlog_items * room or self.bytes + size > self._backlog_bytes * room):
            self.dropped_records += 1
            self.dropped_bytes += size
            return False
        self._waiting.append((record, type_, now))
        self.items += 1
        self.bytes += size
        return True

    def adopt(self, other: TelemetryBuffer) -> None:
        """Take over what waits in `other` (the same extension's earlier subscription), in order, within our limits."""
        for record, type_, at in other._waiting:
            self.add(record, type_, at)
        other._waiting.clear()
        other.items = other.bytes = 0

    def put_back(self, batch: Batch) -> None:
        """A batch that left another subscription's buffer and was not delivered (it was replaced while the batch was
        on its way): first in line, due at once, whatever the backlog (its records were taken in already)."""
        self._waiting.extendleft((record, type_, float("-inf")) for record, type_ in
                                 zip(reversed(batch.records), reversed(batch.types)))
        self.items += len(batch.records)
        self.bytes += batch.size

    def count_lost(self, records: int, size: int) -> None:
        """Records given up on after they left the buffer (a batch the listener kept refusing): dropped too."""
        self.dropped_records += records
        self.dropped_bytes += size

    def take_dropped(self) -> tuple[int, int]:
        """(records, bytes) dropped since the last call."""
        counts = (self.dropped_records, self.dropped_bytes)
        self.dropped_records = self.dropped_bytes = 0
        return counts

    # -- out

    def full(self) -> bool:
        """A whole batch is waiting: no reason to wait for the timer."""
        return self.items >= self.max_items or self.bytes >= self.max_bytes

    def due_at(self) -> Optional[float]:
        """When the next batch is due (None while nothing waits); a full buffer or an asked flush: at once (-inf)."""
        if not self._waiting:
            return None
        if self.flush_asked or self.full():
            return float("-inf")
        return self._waiting[0][2] + self.timeout_s

    def take(self) -> Optional[Batch]:
        """The next batch, oldest records first, within maxItems and maxBytes (None when nothing waits)."""
        waiting = self._waiting
        records: list[bytes] = []
        types: list[str] = []
        size = 0
        while waiting and len(records) < self.max_items:
            record, type_, _ = waiting[0]
            if records and size + len(record) > self.max_bytes:
                break
            waiting.popleft()
            records.append(record)
            types.append(type_)
            size += len(record)
        self.items -= len(records)
        self.bytes -= size
        if not waiting:
            self.flush_asked = False  # a flush sends what waited when it was asked, however many batches it takes
        return Batch(tuple(records), tuple(types), size) if records else None

    def discard(self) -> tuple[int, int]:
        """Everything still waiting, given up on (the subscriber ends): (records, bytes)."""
        counts = (self.items, self.bytes)
        self._waiting.clear()
        self.items = self.bytes = 0
        self.flush_asked = False
        return counts
