"""A runtime whose response is refused, with its next /next already sent behind it (our runtime pipelines a small
response and its /next), ends inside the invoke that was refused, never inside the next one.

The handler answers its invoke itself, through the Runtime API, then returns: the runtime's own /response is then
refused (403, the invoke has its response), and the runtime ends, as awslambdaric's does. The /next it had sent
behind that /response was sent before it read the refusal: were it taken as the runtime's next step, the invoke
would end, the environment freeze, and the runtime's exit at the thaw fail the next caller, whose event was never
handled (Runtime.ExitError in ~30 ms).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.runner import open_environment

from e2e_support import write_file

BOUND = 30.0

HANDLER = '''import os
import socket


def handler(event, context):
    body = b'"answered by the handler"'
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\\r\\nHost: x\\r\\n"
                     b"Connection: close\\r\\nContent-Length: %d\\r\\n\\r\\n%s"
                     % (context.aws_request_id.encode(), len(body), body))
        while conn.recv(65536):
            pass
    return "returned"
'''

AFTER = "The caller already had its response, yet the invoke failed after it"


@pytest.mark.trio
async def test_a_runtime_ended_by_a_refused_response_fails_that_invoke_not_the_next(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    notes: list[str] = []

    def note(fact: object) -> None:
        notes.extend(line.text for line in f.log_lines(fact) if AFTER in line.text)

    async with open_environment(resolve_function(str(code_dir / "handler.py"))) as running:
        running.host.subscribe(note)
        with trio.fail_after(BOUND):
            for number in range(3):
                if number:
                    await running.session.settled()
                result, _ = await running.host.invoke(json.dumps({"n": number}).encode())
                assert (result.payload, result.function_error) == (b'"answered by the handler"', False), result
    assert len(notes) == 3, notes  # each runtime's end was its own invoke's, after its answer
