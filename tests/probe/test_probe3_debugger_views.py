"""Probe (round 3): the debugger's views fed through the early /next answer (Exchange.answer_now,
EnvironmentHost.request(now=...)) and the host's fact publishing (host/fact_publishing.py), with the lifecycle held.

`open_environment(config, inspect=True, invoke_port=0)`: the debugger's own set-up, its Invoke API on loopback.
Invokes come over real HTTP (httpx on a worker thread), the runtime is lambdatui's real bootstrap in the sandbox,
and everything is read through the controller (`running.session`): the API traffic, the globals after each invoke,
/tmp listings, the phase timeline. Holds are set with SetBreakpoints and released with Continue/Step, as
tests/controller does. Every wait is on a fact or an HTTP answer, with a bound.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Optional

import httpx
import pytest
import trio

from lambdatui import controller as c
from lambdatui.config import resolve_function
from lambdatui.host.fleet_host import FleetOptions
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary as B
from lambdatui.model.boundaries import EnvState
from lambdatui.runner import Running, open_environment

BOUND = 30.0
NEXT = "/2018-06-01/runtime/invocation/next"

HANDLER = '''\
import os, tempfile

COUNT = 0


def handler(event, context):
    global COUNT
    COUNT += 1
    with open(os.path.join(tempfile.gettempdir(), "seen-%d" % COUNT), "w") as fh:
        fh.write(context.aws_request_id)
    return {"event": event, "count": COUNT, "pid": os.getpid(), "rid": context.aws_request_id}
'''


class Seen:
    """Every fact the controller published, and a way to wait for one."""

    def __init__(self) -> None:
        self.all: list[Any] = []
        self._arrived = trio.Event()

    def __call__(self, fact: Any) -> None:
        self.all.append(fact)
        self._arrived.set()
        self._arrived = trio.Event()

    async def until(self, check: Callable[[], Any], bound: float = BOUND) -> Any:
        with trio.fail_after(bound):
            while not (value := check()):
                await self._arrived.wait()
            return value

    def of(self, kind: type) -> list[Any]:
        return [x for x in self.all if isinstance(x, kind)]

    def globals_for(self, request_id: str) -> Optional[f.GlobalsReported]:
        return next((g for g in self.of(f.GlobalsReported) if g.request_id == request_id and g.phase == "invoke"),
                    None)

    def tmp_after(self, request_id: str) -> Optional[f.TmpChanged]:
        return next((t for t in self.of(f.TmpChanged) if t.by == request_id), None)


@asynccontextmanager
async def debugger(code_dir: Path, **fleet: Any) -> AsyncIterator[tuple[Running, Seen]]:
    config = resolve_function(str(code_dir / "handler.py"))
    with trio.fail_after(BOUND * 3):
        async with open_environment(config, inspect=True, invoke_port=0,
                                    fleet=FleetOptions(**fleet) if fleet else None) as running:
            seen = Seen()
            unsubscribe = running.session.subscribe(seen)
            try:
                yield running, seen
            finally:
                unsubscribe()


class HttpInvoke:
    """One invoke over the Invoke API, from a worker thread; `done` is set once its answer is in."""

    def __init__(self, running: Running, event: Any, invocation_type: str = "RequestResponse") -> None:
        self.url = f"http://{running.invoke_api}/2015-03-31/functions/function/invocations"
        self.body = json.dumps(event).encode()
        self.invocation_type = invocation_type
        self.response: Optional[httpx.Response] = None
        self.error: Optional[BaseException] = None
        self.done = trio.Event()

    async def run(self) -> None:
        def call() -> httpx.Response:
            return httpx.post(self.url, content=self.body, timeout=BOUND,
                              headers={"X-Amz-Invocation-Type": self.invocation_type})

        try:
            self.response = await trio.to_thread.run_sync(call)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.done.set()

    @property
    def request_id(self) -> str:
        assert self.response is not None
        return self.response.headers["x-amzn-requestid"]

    def json(self) -> Any:
        assert self.response is not None, self.error
        return self.response.json()


def runtime_exchanges(running: Running) -> tuple[f.ApiExchanged, ...]:
    for traffic in running.session.api_traffic():
        if traffic.participant == "runtime":
            return traffic.exchanges
    return ()


def next_request_id(exchange: f.ApiExchanged) -> Optional[str]:
    return dict(exchange.response_headers).get("Lambda-Runtime-Aws-Request-Id")


async def held_at(running: Running, boundary: B) -> None:
    """Until the environment is held at `boundary` (an HTTP invoke reaches the host on its own time), settled."""
    with trio.fail_after(BOUND):
        while True:
            await running.session.settled()
            if running.session.snapshot().environment.held_at is boundary:
                return
            await running.fleet.wait_changed()


def assert_traffic_in_order(exchanges: tuple[f.ApiExchanged, ...], request_ids: list[str],
                            events: list[bytes]) -> None:
    """Each invoke: its /next answered 200 with its own id and event, then its /response (202), in that order."""
    answered = [x for x in exchanges if x.status != 0]
    pairs = [(x.path, x.status) for x in answered]
    expected: list[tuple[str, int]] = []
    for request_id in request_ids:
        expected += [(NEXT, 200), (f"/2018-06-01/runtime/invocation/{request_id}/response", 202)]
    # lambdatui's bootstrap also talks on its private family (globals, inspection): only the Runtime API's here.
    runtime_api = [(p, s) for p, s in pairs if p == NEXT or p.endswith("/response")]
    assert runtime_api[-len(expected):] == expected, runtime_api
    nexts = [x for x in answered if x.path == NEXT][-len(request_ids):]
    assert [next_request_id(x) for x in nexts] == request_ids
    for exchange, event in zip(nexts, events):
        assert exchange.response_preview == event[:200].decode()  # api_capture.PREVIEW_BYTES
        assert exchange.answered is not None and exchange.answered >= exchange.started
    assert [x.seq for x in exchanges] == sorted(x.seq for x in exchanges)


# --------------------------------------------------------------------------- held at invoke.start, continued


@pytest.mark.trio
async def test_each_http_invoke_held_at_invoke_start_reaches_the_runtime_only_on_continue(private_tmp: Path) -> None:
    (private_tmp / "handler.py").write_text(HANDLER)
    async with debugger(private_tmp, concurrency=1) as (running, seen):
        session = running.session
        session.submit(c.SetBreakpoints(frozenset({B.INVOKE_START})))
        request_ids: list[str] = []
        events: list[bytes] = []
        async with trio.open_nursery() as nursery:
            for n in range(3):
                call = HttpInvoke(running, {"n": n, "pad": "x" * (n * 3000)})
                nursery.start_soon(call.run)
                await held_at(running, B.INVOKE_START)
                # Held: the event is not delivered. The runtime's /next is parked (status 0) in the traffic view,
                # and the caller has no answer.
                parked = runtime_exchanges(running)[-1]
                assert (parked.path, parked.status, parked.answered) == (NEXT, 0, None), parked
                assert not call.done.is_set()
                env = session.snapshot().environment
                held_id = env.current_request_id
                assert held_id is not None
                session.submit(c.Continue())
                with trio.fail_after(BOUND):
                    await call.done.wait()
                assert call.error is None, call.error
                body = call.json()
                assert call.request_id == held_id == body["rid"]
                assert body["event"] == json.loads(call.body) and body["count"] == n + 1
                request_ids.append(call.request_id)
                events.append(call.body)
                # The debugger's views of that invoke: globals (COUNT), the /tmp file it wrote, both its own.
                report = await seen.until(lambda: seen.globals_for(call.request_id))
                count = {e.name: e.repr for e in report.entries}["COUNT"]
                assert count == str(n + 1)
                listing = await seen.until(lambda: seen.tmp_after(call.request_id))
                mine = {e.path: e for e in listing.entries}[f"/tmp/seen-{n + 1}"]
                assert mine.created_by == call.request_id and mine.change == "new"
                with trio.fail_after(BOUND):
                    await session.settled()
                snap = session.snapshot()
                assert snap.environment.state is EnvState.FROZEN and snap.environment.held_at is None
                assert snap.globals is not None and snap.globals.request_id == call.request_id
                assert snap.tmp is not None and f"/tmp/seen-{n + 1}" in {e.path for e in snap.tmp.entries}
        assert_traffic_in_order(runtime_exchanges(running), request_ids, events)
        bars = [b for b in session.snapshot().timeline if b.kind == "invoke"]
        assert [b.label for b in bars] == [r[:8] for r in request_ids]
        assert [b.status for b in bars] == ["success"] * 3
        held_bars = [b for b in session.snapshot().timeline if b.kind == "held"]
        assert len(held_bars) >= 3


@pytest.mark.trio
async def test_an_event_invoke_queued_behind_a_held_one_gets_its_own_next_once_stepped_through(
        private_tmp: Path) -> None:
    """Held at invoke.response of a synchronous invoke, an Event invoke arrives and waits (concurrency 1). No
    Invoke API request is in flight for it: its /next is answered from the lifecycle's own step (the Step command
    and the queue), not from an invoke's request. Each runtime /next must carry its own invoke, in order."""
    (private_tmp / "handler.py").write_text(HANDLER)
    async with debugger(private_tmp, concurrency=1) as (running, seen):
        session = running.session
        warm = HttpInvoke(running, {"warm": True})
        await warm.run()
        assert warm.error is None and warm.json()["count"] == 1
        with trio.fail_after(BOUND):
            await session.settled()
        session.submit(c.SetBreakpoints(frozenset({B.INVOKE_RESPONSE, B.INVOKE_START})))
        async with trio.open_nursery() as nursery:
            first = HttpInvoke(running, {"which": "first"})
            nursery.start_soon(first.run)
            await held_at(running, B.INVOKE_START)
            session.submit(c.Step())
            await held_at(running, B.INVOKE_RESPONSE)
            with trio.fail_after(BOUND):
                await first.done.wait()  # the caller has its answer at invoke.response
            assert first.json()["event"] == {"which": "first"}
            queued = HttpInvoke(running, {"which": "queued"}, "Event")
            await queued.run()
            assert queued.response is not None and queued.response.status_code == 202
            queued_id = queued.request_id
            assert session.snapshot().environment.held_at is B.INVOKE_RESPONSE
            session.submit(c.Continue())
            # Continue runs to the next hold: the queued invoke's invoke.start, its event still undelivered.
            await held_at(running, B.INVOKE_START)
            assert session.snapshot().environment.current_request_id == queued_id
            parked = runtime_exchanges(running)[-1]
            assert (parked.path, parked.status) == (NEXT, 0), parked
            session.submit(c.SetBreakpoints(frozenset()))
            session.submit(c.Continue())
            report = await seen.until(lambda: seen.globals_for(queued_id))
            assert {e.name: e.repr for e in report.entries}["COUNT"] == "3"
            completed = await seen.until(lambda: next((x.result for x in seen.of(f.InvocationCompleted)
                                                       if x.result.request_id == queued_id), None))
            assert not completed.function_error
            assert json.loads(completed.payload)["event"] == {"which": "queued"}
            assert json.loads(completed.payload)["rid"] == queued_id
        with trio.fail_after(BOUND):
            await session.settled()
        assert_traffic_in_order(runtime_exchanges(running), [warm.request_id, first.request_id, queued_id],
                                [warm.body, first.body, queued.body])


@pytest.mark.trio
async def test_a_caller_that_hangs_up_while_its_invoke_is_held_does_not_leave_its_event_to_the_next_invoke(
        private_tmp: Path) -> None:
    """Lambda runs an invoke whose caller went away; whatever lambdatui does with it, the invoke after it must get
    its own event and its own request id on /next, and the views must name the right invoke."""
    (private_tmp / "handler.py").write_text(HANDLER)
    async with debugger(private_tmp, concurrency=1) as (running, seen):
        session = running.session
        session.submit(c.SetBreakpoints(frozenset({B.INVOKE_START})))
        host, port = running.invoke_api.rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        body = b'{"which": "abandoned"}'
        await stream.send_all(b"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await held_at(running, B.INVOKE_START)
        abandoned_id = session.snapshot().environment.current_request_id
        await stream.aclose()  # the caller is gone while its invoke is held
        session.submit(c.SetBreakpoints(frozenset()))
        session.submit(c.Continue())
        with trio.fail_after(BOUND):
            await session.settled()
        after = HttpInvoke(running, {"which": "after"})
        await after.run()
        assert after.error is None, after.error
        result = after.json()
        assert result["event"] == {"which": "after"} and result["rid"] == after.request_id
        assert after.request_id != abandoned_id
        report = await seen.until(lambda: seen.globals_for(after.request_id))
        assert report.request_id == after.request_id
        nexts = [x for x in runtime_exchanges(running) if x.path == NEXT and x.status == 200]
        assert next_request_id(nexts[-1]) == after.request_id
        assert nexts[-1].response_preview == '{"which": "after"}'


# --------------------------------------------------------------------------- streams and function URLs, held

STREAM = Path(__file__).resolve().parents[2] / "sample_functions" / "stream" / "bootstrap"


@pytest.mark.trio
async def test_a_function_url_and_a_streaming_invoke_each_held_then_continued_get_their_own_stream() -> None:
    """The streaming sample behind the debugger's function URL and its Invoke API, held at invoke.start each
    time: nothing reaches the caller while held; released, each caller gets its own chunks, the runtime's /next
    carried its own request (the URL's HTTP event, then the InvokeWithResponseStream payload), and the timeline
    names the URL invoke by its request."""
    import boto3
    from botocore.config import Config

    config = resolve_function(str(STREAM))
    with trio.fail_after(BOUND * 3):
        async with open_environment(config, inspect=True, invoke_port=0, url_port=0,
                                    fleet=FleetOptions(concurrency=1)) as running:
            seen = Seen()
            running.session.subscribe(seen)
            session = running.session
            session.submit(c.SetBreakpoints(frozenset({B.INVOKE_START})))
            outcome: dict[str, Any] = {}
            url_done, stream_done = trio.Event(), trio.Event()

            async def url_call() -> None:
                def call() -> httpx.Response:
                    return httpx.get(f"http://{running.function_url}/page/one?chunks=3&pause_ms=0", timeout=BOUND)
                try:
                    outcome["url"] = await trio.to_thread.run_sync(call)
                finally:
                    url_done.set()

            async def stream_call() -> None:
                def call() -> tuple[list[Any], str]:
                    client = boto3.client("lambda", endpoint_url=f"http://{running.invoke_api}",
                                          region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
                                          config=Config(retries={"max_attempts": 0}, read_timeout=BOUND))
                    response = client.invoke_with_response_stream(FunctionName="stream",
                                                                  Payload=b'{"chunks": 4, "pause_ms": 0}')
                    return list(response["EventStream"]), response["ResponseMetadata"]["HTTPHeaders"][
                        "x-amzn-requestid"]
                try:
                    outcome["stream"] = await trio.to_thread.run_sync(call)
                finally:
                    stream_done.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(url_call)
                await held_at(running, B.INVOKE_START)
                url_id = session.snapshot().environment.current_request_id
                assert not url_done.is_set()
                assert runtime_exchanges(running)[-1].status == 0
                session.submit(c.Continue())
                with trio.fail_after(BOUND):
                    await url_done.wait()
                page = outcome["url"]
                assert page.status_code == 200 and page.text == "chunk 0\nchunk 1\nchunk 2\n"
                assert page.headers["x-amzn-requestid"] == url_id
                with trio.fail_after(BOUND):
                    await session.settled()

                nursery.start_soon(stream_call)
                await held_at(running, B.INVOKE_START)
                stream_id = session.snapshot().environment.current_request_id
                assert not stream_done.is_set()
                session.submit(c.Continue())
                with trio.fail_after(BOUND):
                    await stream_done.wait()
            events, header_id = outcome["stream"]
            chunks = [e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e]
            assert b"".join(chunks) == b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n"
            assert events[-1] == {"InvokeComplete": {}} or "InvokeComplete" in events[-1]
            assert "ErrorCode" not in events[-1]["InvokeComplete"]
            assert header_id == stream_id
            with trio.fail_after(BOUND):
                await session.settled()
            nexts = [x for x in runtime_exchanges(running) if x.path == NEXT and x.status == 200]
            assert [next_request_id(x) for x in nexts] == [url_id, stream_id]
            assert '"rawPath":"/page/one"' in nexts[0].response_preview  # the URL's HTTP event (first 200 bytes)
            assert nexts[1].response_preview == '{"chunks": 4, "pause_ms": 0}'
            responses = [x for x in runtime_exchanges(running) if x.path.endswith("/response")]
            assert [(x.path.split("/")[-2], x.status) for x in responses] == [(url_id, 202), (stream_id, 202)]
            assert all(dict(x.request_headers).get("lambda-runtime-function-response-mode") == "streaming"
                       for x in responses)
            bars = [b for b in session.snapshot().timeline if b.kind == "invoke"]
            assert [(b.label, b.status) for b in bars] == [(url_id[:8], "success"), (stream_id[:8], "success")]
            assert bars[0].caller == "GET /page/one"


# --------------------------------------------------------------------------- Managed Instances: several parked


@pytest.mark.trio
async def test_a_managed_instance_with_three_workers_gives_each_concurrent_invoke_its_own_next(
        private_tmp: Path) -> None:
    """Lambda Managed Instances (--max-concurrency 3): three workers park on /next at once, and invokes arrive
    together. Each early answer must reach a different parked /next, each invoke get its own event, and the
    traffic view replace each parked record by its own answer (by seq), leaving only the ones still parked."""
    (private_tmp / "handler.py").write_text(HANDLER.replace("COUNT += 1", "COUNT += 1\n    import time; time.sleep(0.2)"))
    async with debugger(private_tmp, concurrency=1, max_concurrency=3) as (running, seen):
        results: dict[int, f.InvocationResult] = {}

        async def one(n: int) -> None:
            results[n] = await running.session.invoke(json.dumps({"n": n}).encode())

        with trio.fail_after(BOUND):
            for batch in range(3):
                async with trio.open_nursery() as nursery:
                    for n in range(batch * 3, batch * 3 + 3):
                        nursery.start_soon(one, n)
            await running.session.settled()
        for n, result in results.items():
            assert not result.function_error, result.payload
            body = json.loads(result.payload)
            assert body["event"] == {"n": n} and body["rid"] == result.request_id
        assert len({json.loads(r.payload)["pid"] for r in results.values()}) == 3  # three workers served
        exchanges = runtime_exchanges(running)
        nexts = [x for x in exchanges if x.path == NEXT]
        answered = [x for x in nexts if x.status == 200]
        assert sorted(next_request_id(x) for x in answered) == sorted(r.request_id for r in results.values())
        by_id = {next_request_id(x): x for x in answered}
        for n, result in results.items():
            assert json.loads(by_id[result.request_id].response_preview) == {"n": n}
        assert len({x.seq for x in nexts}) == len(nexts)  # one record per exchange: parked ones were replaced
        still_parked = [x for x in nexts if x.status == 0]
        assert len(still_parked) <= 3, still_parked
