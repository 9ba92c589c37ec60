"""One subscriber's telemetry buffer (issue 10): batches within maxItems and maxBytes, the timer, the backlog bound."""

from __future__ import annotations

import json

import pytest

from lambdatui.host.telemetry_buffer import BACKLOG_BATCHES, MAX_RETRY_S, TelemetryBuffer, retry_delay


def record(i: int, size: int = 100) -> bytes:
    text = json.dumps({"time": "2024-01-01T00:00:00.000Z", "type": "function", "record": ""})
    pad = "x" * (size - len(text))
    return json.dumps({"time": "2024-01-01T00:00:00.000Z", "type": "function", "record": pad}).encode()


def drain(buffer: TelemetryBuffer) -> list:
    batches = []
    while (batch := buffer.take()) is not None:
        batches.append(batch)
    return batches


@pytest.mark.parametrize("count,size,max_items,max_bytes", [
    (2500, 100, 1000, 262_144),  # cut by maxItems
    (1000, 1000, 10_000, 262_144),  # cut by maxBytes
    (3000, 333, 1000, 262_144),  # both in play
])
def test_batches_never_exceed_max_items_nor_max_bytes_and_keep_the_order(count: int, size: int, max_items: int,
                                                                         max_bytes: int) -> None:
    buffer = TelemetryBuffer(max_items, max_bytes, 1000, backlog_batches=100)
    sent = [record(i, size) for i in range(count)]
    for data in sent:
        assert buffer.add(data, "function", 0.0)
    batches = drain(buffer)
    assert [r for b in batches for r in b.records] == sent
    for batch in batches:
        assert len(batch.records) <= max_items
        assert batch.size == sum(map(len, batch.records)) <= max_bytes
        assert len(batch.json_array()) == batch.size + len(batch.records) + 1
        assert json.loads(batch.json_array())[0]["type"] == "function"
    full = [b for b in batches[:-1]]  # every batch but the last is as large as the limits allow
    assert all(len(b.records) == max_items or b.size + size > max_bytes for b in full)


def test_a_record_larger_than_max_bytes_goes_alone() -> None:
    buffer = TelemetryBuffer(1000, 262_144, 1000)
    buffer.add(record(0), "function", 0.0)
    buffer.add(b"x" * 300_000, "function", 0.0)
    buffer.add(record(1), "function", 0.0)
    assert [len(b.records) for b in drain(buffer)] == [1, 1, 1]


def test_the_timer_runs_from_the_oldest_waiting_record() -> None:
    buffer = TelemetryBuffer(1000, 262_144, 250)
    assert buffer.due_at() is None
    buffer.add(record(0), "function", 10.0)
    buffer.add(record(1), "function", 10.2)
    assert buffer.due_at() == pytest.approx(10.25)
    buffer.flush_asked = True
    assert buffer.due_at() == float("-inf")
    assert len(buffer.take().records) == 2
    assert not buffer.flush_asked and buffer.due_at() is None


def test_a_full_batch_is_due_at_once_and_what_it_leaves_keeps_its_own_time() -> None:
    buffer = TelemetryBuffer(1000, 262_144, 1000)
    for i in range(1001):
        buffer.add(record(i), "function", 5.0 + i / 1000)
    assert buffer.due_at() == float("-inf")
    assert len(buffer.take().records) == 1000
    assert buffer.due_at() == pytest.approx(5.0 + 1000 / 1000 + 1.0)


def test_a_flush_sends_everything_that_waited_however_many_batches() -> None:
    buffer = TelemetryBuffer(1000, 262_144, 30_000)
    for i in range(2500):
        buffer.add(record(i), "function", 0.0)
    buffer.flush_asked = True
    assert buffer.take() and buffer.due_at() == float("-inf")
    assert buffer.take() and buffer.due_at() == float("-inf")  # 500 left: still due, the flush is not done
    assert buffer.take() and buffer.due_at() is None


def test_past_the_backlog_records_are_dropped_and_counted_until_taken() -> None:
    buffer = TelemetryBuffer(1000, 262_144, 1000)
    limit = 1000 * BACKLOG_BATCHES
    kept = [buffer.add(record(i), "function", 0.0) for i in range(limit + 7)]
    assert kept.count(False) == 7 and all(kept[:limit])
    assert buffer.take_dropped() == (7, 7 * len(record(0)))
    assert buffer.take_dropped() == (0, 0)
    assert buffer.add(b"{}", "platform.logsDropped", 0.0, force=True)  # the notice itself always gets in
    buffer.count_lost(3, 300)
    assert buffer.take_dropped() == (3, 300)
    assert buffer.discard() == (limit + 1, limit * len(record(0)) + 2)
    assert buffer.take() is None



def test_platform_records_are_never_dropped_past_the_backlog() -> None:
    """A burst of the function's lines filled the backlog, and the invoke's platform.runtimeDone and platform.report
    went with the dropped lines: an extension waiting for the report waited out its whole SHUTDOWN budget."""
    buffer = TelemetryBuffer(1000, 262_144, 1000)
    for i in range(1000 * BACKLOG_BATCHES + 50):
        buffer.add(record(i), "function", 0.0)
    assert buffer.add(b'{"type":"platform.runtimeDone"}', "platform.runtimeDone", 0.0)
    assert buffer.add(b'{"type":"platform.report"}', "platform.report", 0.0)
    assert not buffer.add(record(0), "extension", 0.0)  # the logs still are
    types = []
    while (batch := buffer.take()) is not None:
        types += batch.types
    assert types[-2:] == ["platform.runtimeDone", "platform.report"]

def test_the_backlog_is_bounded_in_bytes_too() -> None:
    buffer = TelemetryBuffer(10_000, 262_144, 1000)
    big = b"x" * 100_000
    kept = [buffer.add(big, "function", 0.0) for _ in range(12)]
    assert kept.count(True) == 262_144 * BACKLOG_BATCHES // 100_000


def test_the_debugger_sees_a_valid_json_array_within_its_bound() -> None:
    buffer = TelemetryBuffer(1000, 262_144, 1000)
    for i in range(10):
        buffer.add(record(i), "function", 0.0)
    batch = buffer.take()
    assert json.loads(batch.shown(10_000)) == json.loads(batch.json_array())
    shown = batch.shown(450)
    assert len(shown) <= 450 and len(json.loads(shown)) == 4


def test_retries_back_off_to_a_cap() -> None:
    delays = [retry_delay(n) for n in range(1, 12)]
    assert delays == sorted(delays) and delays[0] < 0.05 and delays[-1] == MAX_RETRY_S


def test_a_new_subscription_adopts_what_the_earlier_one_had_not_sent() -> None:
    earlier = TelemetryBuffer(1000, 262_144, 1000)
    for i in range(3):
        earlier.add(record(i), "function", float(i))
    later = TelemetryBuffer(1000, 262_144, 25)
    later.adopt(earlier)
    assert earlier.take() is None and earlier.discard() == (0, 0)
    assert later.due_at() == pytest.approx(0.025)  # the oldest record's time came along
    assert later.take().records == tuple(record(i) for i in range(3))
