"""Telemetry delivery to a real extension's listener on sandbox.localdomain (issue 10, lambda-spec §3.2-§3.3).

Each test runs a function whose extension (telemetry_listener.py, standard library only) subscribes and writes
every batch it receives to the environment's /tmp; the host's `TelemetryDelivered`/`TelemetryDropped` facts say
what was sent. Every wait is on an event (a fact, a FIFO the handler or the extension blocks on) and bounded.
"""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest
import trio

from lambdatui.config import FunctionConfig, resolve_function
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model import facts as f
from lambdatui.runner import open_environment

from e2e_support import SAMPLES, write_file
from telemetry_support import NAME, events, listener_function, received

BOUND = 30

HANDLER = '''import os
import sys
import tempfile


def handler(event, context):
    pad = "x" * event.get("pad", 0)
    for i in range(event.get("lines", 0)):
        print(f"line {i} {pad}")
    for text in event.get("say", []):
        print(text)
    sys.stdout.flush()
    if event.get("crash"):
        os._exit(1)
    if event.get("hold"):
        with open(os.path.join(tempfile.gettempdir(), "release")) as fifo:
            fifo.read()
    return "ok"
'''


class Facts:
    """Every fact the host publishes, with the host's time when it was published."""

    def __init__(self) -> None:
        self.items: list[tuple[float, Any]] = []
        self._changed = trio.Event()

    def __call__(self, fact: Any) -> None:
        now = trio.current_time()
        self.items.append((now, fact))
        self.items.extend((now, line) for line in (fact.lines if type(fact) is f.LogLines else ()))
        self._changed.set()
        self._changed = trio.Event()

    def of(self, kind: type, where: Callable[[Any], bool] = lambda _: True) -> list[Any]:
        return [fact for _, fact in self.items if isinstance(fact, kind) and where(fact)]

    def timed(self, kind: type, where: Callable[[Any], bool] = lambda _: True) -> list[tuple[float, Any]]:
        return [(at, fact) for at, fact in self.items if isinstance(fact, kind) and where(fact)]

    async def wait_for(self, kind: type, where: Callable[[Any], bool] = lambda _: True, count: int = 1) -> list[Any]:
        while len(found := self.of(kind, where)) < count:
            await self._changed.wait()
        return found


def delivered(fact: f.TelemetryDelivered) -> bool:
    return fact.error is None


def telemetry_function(code_dir: Path, **listener: Any) -> FunctionConfig:
    return listener_function(code_dir, HANDLER, **listener)


def function_lines(host: EnvironmentHost) -> list[str]:
    return [e["record"] for e in events(host) if e["type"] == "function"]


async def write_fifo(path: Path) -> None:
    def write() -> None:
        with open(path, "w") as fifo:
            fifo.write("go")

    await trio.to_thread.run_sync(write, abandon_on_cancel=True)


async def invoke(host: EnvironmentHost, event: dict) -> f.InvocationResult:
    result, _ = await host.invoke(json.dumps(event).encode())
    return result


@pytest.mark.trio
async def test_a_cold_start_and_an_invoke_arrive_in_lambdas_order(code_dir: Path) -> None:
    config = telemetry_function(code_dir, types=["platform", "function"], wait_for="platform.report")
    async with open_environment(config) as running:
        host = running.host
        facts = Facts()
        host.subscribe(facts)
        with trio.fail_after(BOUND):
            result = await invoke(host, {"say": ["hello from the handler"]})
            await host.shutdown()  # the invoke's platform.report is delivered once the environment thaws again
        got = events(host)
    assert result.payload == b'"ok"'
    assert [e["type"] for e in got] == [
        "platform.initStart", "platform.telemetrySubscription", "platform.initRuntimeDone", "platform.extension",
        "platform.initReport", "platform.start", "function", "platform.runtimeDone", "platform.report",
    ], got
    assert got[6]["record"] == "hello from the handler"
    assert {got[i]["record"]["requestId"] for i in (5, 7, 8)} == {result.request_id}
    assert all(batch["method"] == "POST" and batch["content_type"] == "application/json" for batch in received(host))
    assert all(d.error is None for d in facts.of(f.TelemetryDelivered))  # freezes between did not make it fail


@pytest.mark.trio
async def test_batches_never_exceed_max_items_nor_max_bytes(code_dir: Path) -> None:
    buffering = {"maxItems": 1000, "maxBytes": 262_144, "timeoutMs": 30_000}  # only full batches, then the flush
    config = telemetry_function(code_dir, types=["function"], buffering=buffering, wait_for="last of the bytes")
    async with open_environment(config) as running:
        host = running.host
        facts = Facts()
        host.subscribe(facts)
        with trio.fail_after(BOUND):
            # ~90-byte records, cut by count; then ~1.6 KB ones, cut by size. Both stay within the backlog's bound
            # (4 batches' worth) even if nothing were delivered until the end: this test drops nothing.
            await invoke(host, {"lines": 2500, "say": ["last of the items"]})
            await invoke(host, {"lines": 400, "pad": 1500, "say": ["last of the bytes"]})
            await host.shutdown()
        batches = received(host)
        lines = function_lines(host)
    assert len(lines) == 2500 + 1 + 400 + 1 and lines[0] == "line 0 " and lines[2501].startswith("line 0 x")
    assert not facts.of(f.TelemetryDropped)
    for batch in batches:
        records = batch["events"]
        assert len(records) <= 1000
        assert batch["bytes"] - (len(records) + 1) <= 262_144  # the body is "[" + records joined by "," + "]"
    sizes = [len(batch["events"]) for batch in batches]
    assert sizes.count(1000) == 2, sizes  # the first invoke's records went as full batches of maxItems
    # Every batch but the flushed last one was as full as the limits allow: maxItems records, or maxBytes less
    # than one more (~1.6 KB) record.
    shape = [(len(b["events"]), b["bytes"] - len(b["events"]) - 1) for b in batches]
    assert all(n == 1000 or 262_144 - 1700 < size for n, size in shape[:-1]), shape
    assert any(n < 1000 for n, _ in shape[:-1]), shape  # some were cut by size
    sent = facts.of(f.TelemetryDelivered, delivered)
    assert [fact.records for fact in sent] == sizes
    assert all(fact.bytes <= 262_144 and fact.records <= 1000 for fact in sent)
    assert all(fact.types == ("function",) * fact.records for fact in sent)


@pytest.mark.trio
async def test_a_batch_waits_for_timeout_ms_then_goes(code_dir: Path) -> None:
    config = telemetry_function(code_dir, types=["function"], buffering={"timeoutMs": 500})
    async with open_environment(config) as running, trio.open_nursery() as nursery:
        host = running.host
        facts = Facts()
        host.subscribe(facts)
        assert host.sandbox is not None
        os.mkfifo(host.sandbox.tmp_dir / "release")
        with trio.fail_after(BOUND):
            nursery.start_soon(invoke, host, {"say": ["mark"], "hold": True})
            await facts.wait_for(f.TelemetryDelivered, delivered)
            (said_at, _), = facts.timed(f.LogLine, lambda line: line.source == f.FUNCTION and line.text == "mark")
            (sent_at, sent), = facts.timed(f.TelemetryDelivered)
            await write_fifo(host.sandbox.tmp_dir / "release")
    assert sent.types == ("function",) and json.loads(sent.batch)[0]["record"] == "mark"
    assert 0.5 <= sent_at - said_at < 0.5 + 1.0, sent_at - said_at  # the timer: not at once, not never


@pytest.mark.trio
async def test_a_listener_that_starts_late_gets_the_records_by_retries_made_while_the_environment_runs(
        code_dir: Path) -> None:
    config = telemetry_function(code_dir, mode="late", types=["platform", "function"])
    async with open_environment(config) as running, trio.open_nursery() as nursery:
        host = running.host
        facts = Facts()
        host.subscribe(facts)
        assert host.sandbox is not None
        os.mkfifo(host.sandbox.tmp_dir / "release")
        with trio.fail_after(BOUND):
            host.start_environment()
            await facts.wait_for(f.EnvironmentFrozen)
            # The environment idles, frozen, with the Init's records due and nobody listening. This is the scenario,
            # not a synchronisation: whatever its length, no attempt may fall inside it.
            await trio.sleep(0.3)
            nursery.start_soon(invoke, host, {"say": ["mark"], "hold": True})
            await facts.wait_for(f.EnvironmentThawed)
            thawed_at = facts.timed(f.EnvironmentThawed)[0][0]
            # A second refused attempt, made while the environment runs: the first may have come before the freeze
            # (the Init's records were due then), and a third refused one drops the batch (REFUSED_ATTEMPTS).
            await facts.wait_for(f.TelemetryDelivered,
                                 lambda d: d.error is not None and d.at > thawed_at and d.attempt >= 2)
            await write_fifo(host.sandbox.tmp_dir / "listen")  # the extension listens from now on
            await facts.wait_for(f.TelemetryDelivered, lambda d: d.error is None and "function" in d.types)
            await write_fifo(host.sandbox.tmp_dir / "release")
        got = [e["type"] for e in events(host)]
    frozen_at = facts.timed(f.EnvironmentFrozen)[0][0]
    attempts = facts.of(f.TelemetryDelivered)
    assert not [d for d in attempts if frozen_at < d.at < thawed_at]  # no attempt began while it was frozen
    assert "refused" in attempts[0].error and [d.attempt for d in attempts[:3]] == [1, 2, 3]
    first_success = next(d for d in attempts if d.error is None)
    assert first_success.attempt > 2 and first_success.types[:2] == ("platform.initStart",
                                                                     "platform.telemetrySubscription")
    assert got[:2] == ["platform.initStart", "platform.telemetrySubscription"] and "function" in got


@pytest.mark.trio
async def test_a_listener_that_never_reads_gets_its_drops_reported(code_dir: Path) -> None:
    config = telemetry_function(code_dir, mode="never-read", types=["function"],
                                buffering={"maxItems": 1000, "maxBytes": 262_144, "timeoutMs": 25})
    async with open_environment(config) as running:
        host = running.host
        facts = Facts()
        host.subscribe(facts)
        with trio.fail_after(BOUND):
            await invoke(host, {"lines": 6000})
            await facts.wait_for(f.TelemetryDropped)  # reported while the environment lives, not only at its end
            await host.shutdown()
    assert not facts.of(f.TelemetryDelivered, delivered)
    dropped = facts.of(f.TelemetryDropped)
    assert sum(d.records for d in dropped) == 6000  # nothing lost silently: every record is accounted for
    assert all(d.extension == NAME and d.bytes > 0 for d in dropped)


@pytest.mark.trio
async def test_tcp_delivery_is_one_event_a_line(code_dir: Path) -> None:
    config = telemetry_function(code_dir, protocol="TCP", types=["platform", "function"], wait_for="platform.report")
    async with open_environment(config) as running:
        host = running.host
        with trio.fail_after(BOUND):
            result = await invoke(host, {"say": ["over tcp"]})
            await host.shutdown()
        batches = received(host)
    assert {batch["method"] for batch in batches} == {"TCP"}
    got = [batch["events"][0] for batch in batches]
    assert [e["type"] for e in got][-4:] == ["platform.start", "function", "platform.runtimeDone", "platform.report"]
    assert got[-3]["record"] == "over tcp" and got[-1]["record"]["requestId"] == result.request_id


@pytest.mark.trio
async def test_the_logs_api_delivers_its_own_records_by_put(code_dir: Path) -> None:
    config = telemetry_function(code_dir, api="logs", method="PUT", path="logs", types=["platform", "function"],
                                wait_for="platform.report")
    async with open_environment(config) as running:
        host = running.host
        facts = Facts()
        host.subscribe(facts)
        with trio.fail_after(BOUND):
            await invoke(host, {"say": ["to the logs api"]})
            await host.shutdown()
        batches = received(host)
    assert {(batch["method"], batch["path"]) for batch in batches} == {("PUT", "/logs")}
    types = [e["type"] for batch in batches for e in batch["events"]]
    assert "platform.logsSubscription" in types and "platform.initStart" not in types
    assert types[-4:] == ["platform.start", "function", "platform.end", "platform.report"], types
    assert {fact.api for fact in facts.of(f.TelemetryDelivered)} == {"logs"}


@pytest.mark.trio
async def test_a_crash_flushes_at_once(code_dir: Path) -> None:
    config = telemetry_function(code_dir, types=["function"], buffering={"timeoutMs": 30_000}, wait_for="last words")
    async with open_environment(config) as running:
        host = running.host
        facts = Facts()
        host.subscribe(facts)
        with trio.fail_after(BOUND):
            result = await invoke(host, {"say": ["last words"], "crash": True})
            await facts.wait_for(f.PhaseEnded, lambda p: p.phase == "reset")
        lines = function_lines(host)
    assert result.function_error
    assert lines == ["last words"]  # well before the 30 s timer: the runtime's exit flushed it
    (said_at, _), = facts.timed(f.LogLine, lambda line: line.text == "last words")
    (sent_at, _), = facts.timed(f.TelemetryDelivered, delivered)
    assert sent_at - said_at < 5


@pytest.mark.trio
async def test_shutdown_delivers_what_was_buffered(code_dir: Path) -> None:
    config = telemetry_function(code_dir, types=["platform", "function"], buffering={"timeoutMs": 30_000},
                                wait_for="platform.report")
    async with open_environment(config) as running:
        host = running.host
        facts = Facts()
        host.subscribe(facts)
        with trio.fail_after(BOUND):
            result = await invoke(host, {"say": ["before the end"]})
            assert not facts.of(f.TelemetryDelivered)  # 30 s of buffering: nothing went yet
            await host.shutdown()
        got = events(host)
    assert [e["type"] for e in got][-4:] == ["platform.start", "function", "platform.runtimeDone", "platform.report"]
    assert got[-1]["record"]["requestId"] == result.request_id
    shutdown_at = facts.timed(f.PhaseStarted, lambda p: p.phase == "shutdown")[0][0]
    assert all(at >= shutdown_at for at, _ in facts.timed(f.TelemetryDelivered))


@asynccontextmanager
async def the_telemetry_sample() -> AsyncIterator[tuple[EnvironmentHost, Facts]]:
    """The telemetry sample's environment and its facts (skipped where sandbox.localdomain cannot resolve)."""
    async with open_environment(resolve_function(str(SAMPLES / "telemetry" / "handler.py"))) as running:
        host = running.host
        if host.sandbox is None or host.sandbox.hosts_file is None:
            pytest.skip("no mount namespace here: sandbox.localdomain cannot resolve inside the environment")
        facts = Facts()
        host.subscribe(facts)
        yield host, facts


@pytest.mark.trio
async def test_the_sample_shows_an_invokes_report_during_a_later_invoke() -> None:
    async with the_telemetry_sample() as (host, facts), trio.open_nursery() as nursery:
        with trio.fail_after(BOUND):
            first = json.loads((await invoke(host, {})).payload)
            # Its report was made as the environment froze: delivered while the next invoke runs (1 s here).
            nursery.start_soon(invoke, host, {"linger_ms": 1000})
            await facts.wait_for(f.TelemetryDelivered, lambda d: d.error is None and "platform.report" in d.types)
            await facts.wait_for(f.InvocationCompleted, count=2)
            third = json.loads((await invoke(host, {})).payload)
    shown = [line.split(" ", 2)[1] for line in third["telemetryReceived"]]
    assert shown[:6] == ["platform.initStart", "platform.telemetrySubscription", "platform.initRuntimeDone",
                         "platform.extension", "platform.initReport", "platform.start"]
    assert f"platform.report requestId={first['requestId']} status=success" in third["telemetryReceived"][8]


async def read_fifo(path: Path) -> str:
    def read() -> str:
        with open(path) as fifo:  # waits for the writer, which waits for this reader
            return fifo.read()

    return await trio.to_thread.run_sync(read, abandon_on_cancel=True)


@pytest.mark.trio
async def test_the_samples_extension_takes_the_last_report_even_when_it_comes_after_shutdown() -> None:
    """Lambda delivers what it buffered once the environment thaws for the shutdown, which may be after the SHUTDOWN
    event: here the sample's listener is held (its log is a FIFO nobody reads) until SHUTDOWN has been sent."""
    async with the_telemetry_sample() as (host, facts):
        assert host.sandbox is not None
        with trio.fail_after(BOUND):
            last = json.loads((await invoke(host, {})).payload)["requestId"]
            log = host.sandbox.tmp_dir / "telemetry.log"
            # Not there yet when Lambda had no time to deliver the Init's batch before the freeze (a loaded machine):
            # then it comes with the report, after SHUTDOWN, into the FIFO as well.
            log.unlink(missing_ok=True)
            os.mkfifo(log)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(host.shutdown)
                await facts.wait_for(f.ShutdownSent)
                written = ""
                # An extension that left at SHUTDOWN never writes: the read never ends. The sample opens its log
                # once per batch, and runtimeDone may come in a batch before the report's: read until the report.
                with trio.move_on_after(5):
                    while f"platform.report requestId={last}" not in written:
                        written += await read_fifo(log)
                await facts.wait_for(f.PhaseEnded, lambda p: p.phase == "shutdown")
    assert f"platform.report requestId={last} status=success" in written
    assert [d.error for d in facts.of(f.TelemetryDelivered)][-1] is None
    assert not facts.of(f.TelemetryDropped)
    exited, = facts.of(f.ProcessExitedFact, lambda e: e.participant == "extension:telemetry")
    assert exited.description == "exit status 0"


def types_of(got: list[dict]) -> list[str]:
    return [e["type"] for e in got]


def in_order(types: list[str], wanted: list[str]) -> bool:
    """`wanted` appears in `types` in this order (others may come between)."""
    rest = iter(types)
    return all(any(t == w for t in rest) for w in wanted)


@pytest.mark.trio
async def test_a_timeout_sends_runtime_done_and_report_with_status_timeout_before_the_reset(code_dir: Path) -> None:
    telemetry_function(code_dir)  # the files; the function again with a 1 s timeout
    listener = {"types": ["platform"], "wait_for": "platform.report"}
    config = resolve_function(str(code_dir / "handler.py"), timeout_s=1,
                              env_pairs=[f"LISTENER_CONFIG={json.dumps(listener)}"])
    async with open_environment(config) as running:
        host = running.host
        with trio.fail_after(BOUND):
            assert host.sandbox is not None
            os.mkfifo(host.sandbox.tmp_dir / "release")  # the handler blocks on it: nobody writes
            facts = Facts()
            host.subscribe(facts)
            result = await invoke(host, {"hold": True})
            # Sent while the reset runs (the listener's extension got SHUTDOWN and is still up), after the answer.
            await facts.wait_for(f.TelemetryDelivered, lambda d: delivered(d) and "platform.report" in d.types)
            got = events(host)
    assert result.function_error and json.loads(result.payload)["errorType"] == "Sandbox.Timedout"
    types = types_of(got)
    assert in_order(types, ["platform.initReport", "platform.start", "platform.runtimeDone", "platform.report"]), types
    done = next(e for e in got if e["type"] == "platform.runtimeDone")
    report = next(e for e in got if e["type"] == "platform.report")
    assert done["record"]["status"] == "timeout" and report["record"]["status"] == "timeout"
    assert done["record"]["requestId"] == report["record"]["requestId"] == result.request_id


FAILS_FIRST_INIT = '''import os
import tempfile

MARK = os.path.join(tempfile.gettempdir(), "tried")
if not os.path.exists(MARK):
    open(MARK, "w").close()
    raise RuntimeError("the first Init fails")


def handler(event, context):
    print("served")
    return "ok"
'''


@pytest.mark.trio
async def test_a_failed_init_then_a_suppressed_init_inside_the_invoke(code_dir: Path) -> None:
    config = telemetry_function(code_dir, types=["platform", "function"], wait_for="platform.report")
    write_file(code_dir / "handler.py", FAILS_FIRST_INIT)
    async with open_environment(config) as running:
        host = running.host
        with trio.fail_after(BOUND):
            result = await invoke(host, {})
            await host.shutdown()
        got = events(host)
    assert result.payload == b'"ok"'
    reports = [e["record"] for e in got if e["type"] == "platform.initReport"]
    # The first Init's records went before its reset; the suppressed Init's say phase "invoke" (lambda-spec §3.6).
    assert [(r["phase"], r["status"]) for r in reports] == [("init", "error"), ("invoke", "success")], reports
    assert in_order(types_of(got), ["platform.initStart", "platform.initReport", "platform.initStart",
                                    "platform.initReport", "platform.start", "function", "platform.runtimeDone",
                                    "platform.report"]), types_of(got)


# An extension that registers, reports an Init error and exits, as AWS's documentation tells it to (lambda-spec §2.4).
INIT_ERROR_EXTENSION = '''#!{python}
import http.client
import json
import os
import sys
import tempfile
import time

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": ["INVOKE", "SHUTDOWN"]}}),
            headers={{"Lambda-Extension-Name": "quitter"}})
answer = api.getresponse()
answer.read()
# The listener must be subscribed before this Init fails (after it, subscriptions are closed): wait, bounded, until it
# has its first batch (the Init's replay) in the environment's /tmp.
received, until = os.path.join(tempfile.gettempdir(), "listener.received"), time.monotonic() + 10
while not os.path.exists(received) and time.monotonic() < until:
    time.sleep(0.01)
api.request("POST", "/2020-01-01/extension/init/error", body=b"{{}}",
            headers={{"Lambda-Extension-Identifier": answer.getheader("Lambda-Extension-Identifier"),
                     "Lambda-Extension-Function-Error-Type": "Extension.ConfigInvalid"}})
api.getresponse().read()
sys.exit(0)
'''


@pytest.mark.trio
async def test_an_extension_that_reported_an_init_error_is_in_state_init_error(code_dir: Path) -> None:
    # lambda-spec §2.7: Registered --init/error--> InitError; Exited is reached only from Running, at shutdown. The
    # platform.extension record takes the extension's state at the end of Init ([RIE] logAgentsInitStatus), so an
    # extension that reported its Init error and exited (as it should) is "InitError" there, not "Exited".
    import sys

    listener = {"types": ["platform"], "wait_for": "platform.initReport"}
    telemetry_function(code_dir, **listener)
    write_file(code_dir / "extensions" / "quitter", INIT_ERROR_EXTENSION.format(python=sys.executable), executable=True)
    config = resolve_function(str(code_dir / "handler.py"), env_pairs=[f"LISTENER_CONFIG={json.dumps(listener)}"])
    async with open_environment(config) as running:
        host = running.host
        with trio.fail_after(BOUND):
            await invoke(host, {})
            await host.shutdown()
        got = events(host)
    records = [e["record"] for e in got if e["type"] == "platform.extension" and e["record"]["name"] == "quitter"]
    assert records, types_of(got)
    # The type it declared (Lambda-Extension-Function-Error-Type), as RAPID keeps it as the agent's errorType.
    assert all(r["errorType"] == "Extension.ConfigInvalid" for r in records), records
    assert all(r["state"] == "InitError" for r in records), records


@pytest.mark.trio
async def test_a_uri_path_with_spaces_and_non_ascii_letters_is_sent_percent_encoded(code_dir: Path) -> None:
    """The destination's path goes in the request line as Lambda's Go client writes it: percent-encoded. (A
    non-Latin-1 letter in it made the host's telemetry listener raise, and the subscription answer 500.)"""
    config = telemetry_function(code_dir, path="télé métrie/日本?q=a b&r=%41", wait_for="platform.report")
    async with open_environment(config) as running:
        host = running.host
        with trio.fail_after(BOUND):
            result = await invoke(host, {})
            await host.shutdown()
        batches = received(host)
    assert result.payload == b'"ok"'  # the extension got its subscription (it exits at once when refused)
    assert batches and {batch["path"] for batch in batches} == {
        "/t%C3%A9l%C3%A9%20m%C3%A9trie/%E6%97%A5%E6%9C%AC?q=a%20b&r=%41"}
    assert "platform.report" in [e["type"] for batch in batches for e in batch["events"]]
