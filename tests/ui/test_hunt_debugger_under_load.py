"""Hunt: the debugger (`lambdatui PATH --port 0`) while external clients invoke it concurrently (boto3 from several
threads, Event invokes, a streaming invoke) and the user holds, steps and continues: answers go to their own callers,
holds route new invokes to new environments, `--concurrency 1` throttles, client read timeouts while held.

The real debugger as `lambdatui PATH` composes it (`build_debugger`, the trio host as a guest on the test's loop, real
processes, real HTTP), real boto3 clients in threads; every wait is bounded on the state it means."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import httpx
import pytest
from _host import POLL_S, choose_breakpoints, running_debugger, until_exited
from app_waits import until, until_true
from test_app_keys import SIZE, continued, held_at
from textual.pilot import Pilot

from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary
from lambdatui.model.fleet import FleetOptions
from lambdatui.tui import build_debugger
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.screens.breakpoints import BreakpointsScreen

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

ECHO = """\
import time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"caller": event.get("caller"), "request_id": context.aws_request_id}
"""


def debugger(code_dir: Path, **options: object) -> LambdaTuiApp:
    handler = code_dir / "handler.py"
    handler.write_text(ECHO)
    return build_debugger(resolve_function(str(handler), timeout_s=5), invoke_port=0, **options)  # type: ignore[arg-type]


async def opened(pilot: Pilot) -> str:
    app = pilot.app
    await until(pilot, lambda s: app.invoke_api is not None and s.environment.held_at is Boundary.INIT_EXTENSIONS,
                "the debugger up, its Invoke API too")
    await continued(pilot)
    api = app.invoke_api
    return api if api.startswith("http") else "http://" + api


async def no_breakpoints(pilot: Pilot) -> None:
    """b, ctrl+n (none), enter."""
    app = pilot.app
    await pilot.press("b")
    await until_true(pilot, lambda: isinstance(app.screen, BreakpointsScreen), "the breakpoints dialog")
    await pilot.press("ctrl+n", "enter")
    await until_true(pilot, lambda: not isinstance(app.screen, BreakpointsScreen), "the dialog to close")


def lambda_client(endpoint: str, read_timeout: float = 20.0):
    return boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x",
                        config=botocore.config.Config(retries={"max_attempts": 0, "mode": "standard"},
                                                      read_timeout=read_timeout, connect_timeout=5))


def call(client, caller: int, sleep: float = 0.0) -> dict:
    answer = client.invoke(FunctionName="function", Payload=json.dumps({"caller": caller, "sleep": sleep}))
    return {"status": answer["StatusCode"], "header_id": answer["ResponseMetadata"]["RequestId"],
            "error": answer.get("FunctionError"), "body": json.loads(answer["Payload"].read())}


async def test_concurrent_boto3_callers_each_get_their_own_answer(code_dir: Path) -> None:
    app = debugger(code_dir, fleet=FleetOptions(concurrency=4))
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        client = lambda_client(endpoint)
        answers = await asyncio.gather(*[asyncio.to_thread(call, client, n, 0.5) for n in range(1, 5)])
        for n, answer in enumerate(answers, start=1):
            assert answer["status"] == 200 and answer["error"] is None, answer
            assert answer["body"]["caller"] == n, answers
            assert answer["body"]["request_id"] == answer["header_id"], answers
        assert len({a["header_id"] for a in answers}) == 4
        fleet = (await until(pilot, lambda s: s.fleet is not None and s.fleet.concurrency == 0, "all idle")).fleet
        assert fleet is not None and 1 <= fleet.environments <= 4 and fleet.throttled == 0, fleet


def idle(s) -> bool:  # type: ignore[no-untyped-def]
    """No invoke held or running: the next caller of a `--concurrency 1` fleet is served, not throttled."""
    return s.fleet is not None and s.fleet.concurrency == 0 and not any(e.held_at for e in s.environments)


@pytest.mark.timeout(120)  # the work of five tests (file: 60 s each)
async def test_at_concurrency_1_holds_queue_throttle_and_answer_the_right_callers(code_dir: Path) -> None:
    """`--concurrency 1`, one environment, the breakpoint moved from step to step; each step starts from an idle
    fleet. (One session for what five tests checked apart, each in a debugger of its own.)

    1. Event invokes queue behind a held environment, then run (202 each; two queued; the fleet line counts them).
    2. A caller that timed out while held does not get the next caller's answer.
    3. Held at invoke.done at the limit: the next caller waits (not throttled), then is served.
    4. A second caller is throttled while the first is held at invoke.start, and the fleet line counts it.
    5. Held at invoke.response: the caller has its answer already, and the next caller is throttled."""
    app = debugger(code_dir, fleet=FleetOptions(concurrency=1))
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        client = lambda_client(endpoint)

        # 1. Event invokes queue behind a held environment, then run.
        await choose_breakpoints(pilot, Boundary.INVOKE_START)
        first = asyncio.create_task(asyncio.to_thread(call, client, 1))
        await until(pilot, held_at(Boundary.INVOKE_START), "1: caller 1 held")
        for n in (2, 3):
            answer = await asyncio.to_thread(client.invoke, FunctionName="function", InvocationType="Event",
                                             Payload=json.dumps({"caller": n}))
            assert answer["StatusCode"] == 202
        await until(pilot, lambda s: s.fleet is not None and s.fleet.queued_events == 2, "1: two events queued")
        await no_breakpoints(pilot)
        await pilot.press("c")
        await asyncio.wait_for(first, 20)
        done = await until(pilot, lambda s: s.fleet is not None and s.fleet.queued_events == 0 and s.invocations >= 3
                           and s.fleet.concurrency == 0, "1: the queued events run")
        assert done.fleet is not None and done.fleet.environments == 1 and done.fleet.throttled == 0

        # 2. A caller that timed out while held does not get the next caller's answer.
        await until(pilot, idle, "2: the fleet idle")
        await choose_breakpoints(pilot, Boundary.INVOKE_START)
        impatient = lambda_client(endpoint, read_timeout=1.0)
        with pytest.raises(botocore.exceptions.ReadTimeoutError):
            await asyncio.to_thread(call, impatient, 1)
        snap = await until(pilot, held_at(Boundary.INVOKE_START), "2: caller 1's invoke held")
        gone_id = snap.environment.current_request_id
        await pilot.press("c")
        await until(pilot, lambda s: s.environment.held_at is None and s.fleet is not None and s.fleet.concurrency == 0,
                    "2: caller 1's invoke ended although its caller left")
        await no_breakpoints(pilot)
        answer = await asyncio.to_thread(call, client, 2)
        assert answer["body"]["caller"] == 2 and answer["header_id"] != gone_id, answer
        assert answer["body"]["request_id"] == answer["header_id"]

        # 3. Held at invoke.done at the limit: the next caller waits, then is served.
        await until(pilot, idle, "3: the fleet idle")
        await choose_breakpoints(pilot, Boundary.INVOKE_DONE)
        first = await asyncio.to_thread(call, client, 1)
        await until(pilot, held_at(Boundary.INVOKE_DONE), "3: env #1 held at invoke.done")
        second = asyncio.create_task(asyncio.to_thread(call, client, 2))
        await until(pilot, lambda s: s.fleet is not None and s.fleet.throttled == 0 and s.fleet.environments == 1
                    and not second.done(), "3: caller 2 waiting")
        await no_breakpoints(pilot)
        await pilot.press("c")
        answer = await asyncio.wait_for(second, 20)
        assert answer["body"] == {"caller": 2, "request_id": answer["header_id"]} and answer["header_id"] != first["header_id"]

        # 4. A second caller is throttled while the first is held.
        await until(pilot, idle, "4: the fleet idle")
        await choose_breakpoints(pilot, Boundary.INVOKE_START)
        first = asyncio.create_task(asyncio.to_thread(call, client, 1))
        await until(pilot, held_at(Boundary.INVOKE_START), "4: caller 1 held")
        with pytest.raises(client.exceptions.TooManyRequestsException) as throttled:
            await asyncio.to_thread(call, client, 2)
        assert throttled.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        await until(pilot, lambda s: s.fleet is not None and s.fleet.throttled == 1, "4: the fleet line counts it")
        await pilot.press("c")
        answer = await asyncio.wait_for(first, 20)
        assert answer["body"]["caller"] == 1 and answer["body"]["request_id"] == answer["header_id"]

        # 5. Held at invoke.response: the caller has its answer, and the next is throttled.
        await until(pilot, idle, "5: the fleet idle")
        await no_breakpoints(pilot)
        await choose_breakpoints(pilot, Boundary.INVOKE_RESPONSE)
        first = asyncio.create_task(asyncio.to_thread(call, client, 1))
        await until(pilot, held_at(Boundary.INVOKE_RESPONSE), "5: caller 1 held")
        answer = await asyncio.wait_for(first, 10)  # sent as the runtime posted it, before the hold ends
        assert answer["body"] == {"caller": 1, "request_id": answer["header_id"]}
        with pytest.raises(client.exceptions.TooManyRequestsException):
            await asyncio.to_thread(call, client, 2)
        await pilot.press("c")


@pytest.mark.timeout(120)  # the work of two tests (file: 60 s each)
async def test_a_burst_above_concurrency_2_is_throttled_and_then_a_streaming_invoke_runs_beside_a_held_one(
        code_dir: Path) -> None:
    """`--concurrency 2`: a burst of 8 gets two answers and six throttles, counted; then, caller 1 held at invoke.start
    in one environment, a streaming invoke runs in the other, and caller 1 is answered once continued. (One session
    for what two tests checked apart.)"""
    app = debugger(code_dir, fleet=FleetOptions(concurrency=2))
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        client = lambda_client(endpoint)

        def maybe_throttled(n: int):
            try:
                return call(client, n, 1.5)
            except client.exceptions.TooManyRequestsException:
                return "429"
        answers = await asyncio.gather(*[asyncio.to_thread(maybe_throttled, n) for n in range(1, 9)])
        served = [(n, a) for n, a in enumerate(answers, start=1) if a != "429"]
        assert len(served) == 2, answers
        for n, answer in served:
            assert answer["body"] == {"caller": n, "request_id": answer["header_id"]}, answers
        snap = await until(pilot, lambda s: s.fleet is not None and s.fleet.concurrency == 0, "the fleet idle")
        assert snap.fleet is not None and snap.fleet.throttled == 6 and snap.fleet.environments == 2, snap.fleet

        # A streaming invoke beside a held one.
        await choose_breakpoints(pilot, Boundary.INVOKE_START)
        first = asyncio.create_task(asyncio.to_thread(call, client, 1))
        await until(pilot, lambda s: sum(1 for e in s.environments if e.held_at is Boundary.INVOKE_START) == 1,
                    "caller 1 held")
        await no_breakpoints(pilot)  # the stream runs freely in the other environment

        def stream() -> tuple[str, bytes]:
            answer = client.invoke_with_response_stream(FunctionName="function", Payload=json.dumps({"caller": 9}))
            body = b"".join(e["PayloadChunk"]["Payload"] for e in answer["EventStream"] if "PayloadChunk" in e)
            return answer["ResponseMetadata"]["RequestId"], body
        rid, body = await asyncio.wait_for(asyncio.to_thread(stream), 20)
        assert json.loads(body) == {"caller": 9, "request_id": rid}
        assert not first.done()
        snap = app.snapshot
        held = [e for e in snap.environments if e.held_at is not None]
        assert len(held) == 1
        await pilot.press(str(held[0].number))
        await until(pilot, held_at(Boundary.INVOKE_START), "env of caller 1 focused")
        await pilot.press("c")
        answer = await asyncio.wait_for(first, 20)
        assert answer["body"]["caller"] == 1 and answer["body"]["request_id"] == answer["header_id"]


@pytest.mark.timeout(120)  # the work of two tests (file: 60 s each)
async def test_an_invoke_arriving_while_env_1_is_held_is_served_by_a_new_environment_and_q_answers_held_callers(
        code_dir: Path) -> None:
    """`--concurrency 3`, breakpoint invoke.start: caller 2, arriving while caller 1 is held in env #1, is held in a
    new environment; each continued, each gets its own answer. Then a streaming and a boto3 caller held at once; `q`
    answers both with Sandbox.Failure, each naming its own request. (One session for what two tests checked apart.)"""
    app = debugger(code_dir, fleet=FleetOptions(concurrency=3))
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        await choose_breakpoints(pilot, Boundary.INVOKE_START)
        client = lambda_client(endpoint)
        first = asyncio.create_task(asyncio.to_thread(call, client, 1))
        await until(pilot, lambda s: sum(1 for e in s.environments if e.held_at is Boundary.INVOKE_START) == 1,
                    "caller 1 held")
        second = asyncio.create_task(asyncio.to_thread(call, client, 2))
        await until(pilot, lambda s: sum(1 for e in s.environments if e.held_at is not None) == 2
                    and len(s.environments) == 2, "caller 2 in a second environment, held too")
        # continue each hold until both answers come back
        while not (first.done() and second.done()):
            snap = app.snapshot
            if snap is not None and snap.environment.held_at is not None:
                await pilot.press("c")
            elif snap is not None:
                held = [e for e in snap.environments if e.held_at is not None]
                if held:
                    await pilot.press(str(held[0].number))
            await asyncio.sleep(POLL_S)  # a poll: the keys above are what the app acts on
        a1, a2 = first.result(), second.result()
        assert a1["body"]["caller"] == 1 and a2["body"]["caller"] == 2, (a1, a2)
        assert a1["body"]["request_id"] == a1["header_id"] and a2["body"]["request_id"] == a2["header_id"]

        # q with a streaming and a boto3 caller held (the breakpoint is still at invoke.start).
        await until(pilot, lambda s: s.fleet is not None and s.fleet.concurrency == 0
                    and not any(e.held_at for e in s.environments), "no invoke left")

        def stream():
            answer = client.invoke_with_response_stream(FunctionName="function", Payload=json.dumps({"caller": 9}))
            return answer["ResponseMetadata"]["RequestId"], list(answer["EventStream"])
        streaming = asyncio.create_task(asyncio.to_thread(stream))
        await until(pilot, lambda s: sum(1 for e in s.environments if e.held_at is not None) == 1, "the stream held")
        plain = asyncio.create_task(asyncio.to_thread(call, client, 1))
        await until(pilot, lambda s: sum(1 for e in s.environments if e.held_at is not None) == 2, "both held")
        await pilot.press("q")
        await until_exited(pilot)
        assert app.return_code == 0
        rid, events = await asyncio.wait_for(streaming, 20)
        answer = await asyncio.wait_for(plain, 20)
    assert events[-1]["InvokeComplete"]["ErrorCode"] == "Sandbox.Failure" and rid in events[-1]["InvokeComplete"]["ErrorDetails"]
    assert answer["error"] == "Unhandled" and answer["body"]["errorType"] == "Sandbox.Failure"
    assert answer["header_id"] in answer["body"]["errorMessage"] and answer["header_id"] != rid


async def test_an_event_while_env_1_is_held_runs_in_env_2_and_i_reuses_it(code_dir: Path) -> None:
    app = debugger(code_dir, fleet=FleetOptions(concurrency=2))
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        await choose_breakpoints(pilot, Boundary.INVOKE_START)
        client = lambda_client(endpoint)
        first = asyncio.create_task(asyncio.to_thread(call, client, 1))
        await until(pilot, lambda s: sum(1 for e in s.environments if e.held_at is not None) == 1, "caller 1 held")
        await no_breakpoints(pilot)
        answer = await asyncio.to_thread(client.invoke, FunctionName="function", InvocationType="Event",
                                         Payload=json.dumps({"caller": 2}))
        assert answer["StatusCode"] == 202
        await until(pilot, lambda s: any(e.number == 2 and e.invocations == 1 for e in s.environments)
                    and s.fleet is not None and s.fleet.queued_events == 0, "the event run in env #2")
        await pilot.press("i")
        snap = await until(pilot, lambda s: any(e.number == 2 and e.invocations == 2 for e in s.environments),
                           "the UI's invoke in env #2")
        assert snap.fleet is not None and snap.fleet.environments == 2 and snap.fleet.throttled == 0
        held = [e for e in snap.environments if e.held_at is not None]
        assert [e.number for e in held] == [1] and not first.done()
        await pilot.press("1")
        await until(pilot, held_at(Boundary.INVOKE_START), "env #1 focused")
        await pilot.press("c")
        answer = await asyncio.wait_for(first, 20)
        assert answer["body"] == {"caller": 1, "request_id": answer["header_id"]}
