"""A parked request can be answered at once, inside the input that decides it (issue 9's warm path): the runtime's
/next is written while the Invoke API's request is still being handled, a scheduler pass before its own task runs."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.core import effects as fx
from lambdatui.core import inputs as ins
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model import facts as f
from lambdatui.runner import open_environment

BOUND = 30  # seconds
HELLO = Path(__file__).resolve().parents[2] / "sample_functions" / "hello" / "handler.py"


@pytest.mark.trio
async def test_the_answer_is_handed_over_inside_the_feed_before_the_waiter_resumes() -> None:
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(HELLO))) as running:
            host = running.host
            host.start_environment()
            await host.invoke(b"{}")  # warm: the runtime parks on /next
            handed: list[tuple[object, bool]] = []
            resumed = False
            invocation = ins.Invocation(request_id="11111111-2222-3333-4444-555555555555", payload=b'{"n": 2}')
            answer = await host.request(lambda token: ins.InvokeRequested(token, invocation),
                                        now=lambda value: handed.append((value, resumed)))
            resumed = True
            assert isinstance(answer, fx.CompleteInvocation)
            assert handed == [(answer, False)]  # once, with the same answer, before request() returned
            assert not answer.result.function_error


@pytest.mark.trio
async def test_an_invokes_result_is_handed_over_before_invoke_returns_unless_a_log_tail_is_wanted() -> None:
    """The Invoke API writes a plain invoke's answer as the runtime's response is read (`on_result`), not once its
    task runs again, after the host has also read the runtime's next /next that came with it."""
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(HELLO))) as running:
            host = running.host
            host.start_environment()
            returned = False
            handed: list[tuple[object, bool]] = []
            result, tail = await host.invoke(b'{"n": 1}', on_result=lambda r: handed.append((r, returned)))
            returned = True
            assert handed == [(result, False)] and tail is None
            assert not result.function_error and b"hello" in result.payload
            # A log tail is read once the invoke is over: no early answer then (the caller builds it from both).
            result, tail = await host.invoke(b'{"n": 2}', wants_log_tail=True,
                                             on_result=lambda r: handed.append((r, returned)))
            assert len(handed) == 1 and tail


@pytest.mark.trio
async def test_the_listeners_hear_a_batchs_facts_once_its_answers_are_handed_over() -> None:
    """The caller's result (and the runtime's next event) go out before the console, the telemetry, the fleet and the
    debugger hear how the invoke ended: what they do is not on the invoke's way. They still hear every fact, in
    order, before the host's next task runs."""
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(HELLO))) as running:
            host = running.host
            host.start_environment()
            await host.invoke(b"{}")  # warm: the runtime parks on /next
            heard: list[str] = []
            host.subscribe(lambda fact: heard.append(type(fact).__name__))
            invocation = ins.Invocation(request_id="11111111-2222-3333-4444-555555555555", payload=b'{"n": 2}')
            answer = await host.request(lambda token: ins.InvokeRequested(token, invocation),
                                        now=lambda value: heard.append("answer handed over"))
            assert isinstance(answer, fx.CompleteInvocation) and not answer.result.function_error
            assert heard.count("answer handed over") == 1 and "InvocationCompleted" in heard
            assert heard.index("answer handed over") < heard.index("InvocationCompleted")


@asynccontextmanager
async def warm_host() -> AsyncIterator[EnvironmentHost]:
    """hello's environment, warm (its runtime parked on /next), the whole test bounded."""
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(HELLO))) as running:
            running.host.start_environment()
            await running.host.invoke(b"{}")
            yield running.host


@pytest.mark.trio
async def test_what_the_function_printed_before_returning_is_heard_before_its_result() -> None:
    """The runtime now has its event sooner, so its print and its response often arrive together: the line, still
    in the pipe, is read before the result is told (replay printed `response` first, then the line)."""
    async with warm_host() as host:
        heard: list[str] = []

        def listen(fact: object) -> None:
            lines = [line.text for line in f.log_lines(fact) if line.source == f.FUNCTION]  # type: ignore[arg-type]
            heard.extend(f"line {text}" for text in lines)
            if isinstance(fact, f.InvocationCompleted):
                heard.append("result")

        host.subscribe(listen)
        for n in range(40):
            heard.clear()
            await host.invoke(b'{"n": %d}' % n)
            printed = heard.index(f"line hello: received {{'n': {n}}}")
            assert printed < heard.index("result"), (n, heard)


@pytest.mark.trio
async def test_a_next_sent_with_the_response_is_read_before_another_task_runs() -> None:
    """Our runtime sends its /next in the same write as a small response: the host handles both before any other task
    runs, so the runtime is parked and the environment frozen before the next invoke comes in, every time. (The
    response's wait used to pass through the scheduler even when already answered, and the caller's next invoke
    often came first: it found the environment still finishing, waited, and was routed twice.)"""
    async with warm_host() as host:
        heard: list[str] = []
        host.subscribe(lambda fact: heard.append(type(fact).__name__))
        for n in range(40):
            await host.invoke(b'{"n": %d}' % n, on_result=lambda result: None)
            assert heard.count("EnvironmentFrozen") == n + 1, (n, heard)
