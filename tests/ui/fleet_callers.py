"""Invoke API callers for tests that drive the debugger under Pilot while HTTP clients call it: urllib requests on a
thread pool of their own (asyncio's default pool has too few threads for a dozen waiting callers), and the fault
dialogs' first row."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import urllib.error
import urllib.request
from typing import Iterator, Sequence

import pytest
from proc_tree import wait_all_gone
from test_app_keys import until_true
from textual.pilot import Pilot

from lambdatui.ui.screens.pick_target import PickTargetScreen

CALLER_WAIT_S = 20.0


@pytest.fixture
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as executor:
        yield executor


def post(endpoint: str, body: dict) -> dict:
    """A synchronous invoke: its status, request id, X-Amz-Function-Error and JSON body."""
    request = urllib.request.Request(endpoint + "/2015-03-31/functions/function/invocations",
                                     data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=CALLER_WAIT_S) as answer:
            return {"status": answer.status, "id": answer.headers["X-Amzn-RequestId"],
                    "error": answer.headers.get("X-Amz-Function-Error"), "body": json.loads(answer.read())}
    except urllib.error.HTTPError as refused:
        return {"status": refused.code, "id": None, "error": None, "body": json.loads(refused.read())}


def send(pool: concurrent.futures.Executor, endpoint: str, body: dict) -> asyncio.Future:
    return asyncio.get_running_loop().run_in_executor(pool, post, endpoint, body)


async def pick_first_target(pilot: Pilot, key: str) -> None:
    """`key` (x or f), enter: the dialog's first row, the runtime (x: SIGKILL)."""
    app = pilot.app
    await pilot.press(key)
    await until_true(pilot, lambda: isinstance(app.screen, PickTargetScreen), f"the dialog of {key}")
    await pilot.press("enter")
    await until_true(pilot, lambda: not isinstance(app.screen, PickTargetScreen), "the dialog to close")


async def quit_answers_every_caller(pilot: Pilot, calls: Sequence[asyncio.Future], started: dict) -> None:
    """`q` with the callers' invokes in flight: exit 0, each caller answered Sandbox.Failure naming its own request id,
    and none of the processes `started` left."""
    app = pilot.app
    await pilot.press("q")
    await until_true(pilot, lambda: app.return_code is not None, "q to quit", timeout=10)
    assert app.return_code == 0
    answers = await asyncio.wait_for(asyncio.gather(*calls), CALLER_WAIT_S)
    for x in answers:
        assert x["error"] == "Unhandled" and x["body"]["errorType"] == "Sandbox.Failure", answers
        assert x["id"] in x["body"]["errorMessage"]
    left = await asyncio.to_thread(wait_all_gone, started, 10.0)
    assert not left, "still running after q: " + "; ".join(left)
