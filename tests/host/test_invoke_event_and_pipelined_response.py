"""The extensions' INVOKE event (encoded once, only when an extension gets it) and our runtime's response with its
/next in one write (`send_with_next`), with real runtimes, real extensions and real HTTP: byte-identical events to
two extensions, and responses around the pipelining limit whole."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import trio

from lambdatui.bootstrap.client import PIPELINE_MAX_BODY
from lambdatui.config import resolve_function
from lambdatui.runner import open_environment

BOUND = 90

EXTENSION = """#!{python}
import http.client, os, sys
name = os.path.basename(sys.argv[0])
conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
conn.request("POST", "/2020-01-01/extension/register", body=b'{{"events": ["INVOKE"]}}',
             headers={{"Lambda-Extension-Name": name}})
answer = conn.getresponse(); answer.read()
identifier = answer.getheader("Lambda-Extension-Identifier")
while True:
    conn.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": identifier}})
    event = conn.getresponse().read()
    print("EVENT " + name + " " + event.decode("latin-1"), flush=True)
"""

HANDLER = """
def handler(event, context):
    if "size" in event:
        return "x" * (event["size"] - 2)  # its JSON: exactly `size` bytes
    return {"id": context.aws_request_id, "arn": context.invoked_function_arn, "deadline": context.get_remaining_time_in_millis()}
"""


@pytest.mark.trio
async def test_two_extensions_get_the_same_invoke_event_bytes_with_every_field(code_dir: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(HANDLER)
    for name in ("ext-a", "ext-b"):
        script = code_dir / "extensions" / name
        script.parent.mkdir(exist_ok=True)
        script.write_text(EXTENSION.format(python=sys.executable))
        script.chmod(0o755)
    config = resolve_function(str(handler), extensions_dir=str(code_dir / "extensions"))
    ids = []
    heard: list[str] = []
    with trio.fail_after(BOUND):
        async with open_environment(config) as running:
            running.host.subscribe(lambda fact: heard.extend(getattr(fact, "texts", None) or (getattr(fact, "text", ""),)))
            for n in range(3):
                result, _ = await running.host.invoke(b"{}", trace_id=f"Root=1-00000000-00000000000000000000000{n}")
                assert not result.function_error, result.payload
                ids.append(json.loads(result.payload)["id"])
                # The extensions write after they got their event: wait until both have this invoke's
                with trio.fail_after(10):
                    while not all(sum(t.startswith(f"EVENT {name} ") for t in heard) > n
                                  for name in ("ext-a", "ext-b")):
                        await trio.sleep(0.02)
    a = [t.split(" ", 2)[2] for t in heard if t.startswith("EVENT ext-a ")]
    b = [t.split(" ", 2)[2] for t in heard if t.startswith("EVENT ext-b ")]
    assert a == b  # the same bytes to both
    for n, line in enumerate(a):
        event = json.loads(line)
        assert list(event) == ["eventType", "deadlineMs", "requestId", "invokedFunctionArn", "tracing"]
        assert event["eventType"] == "INVOKE" and event["requestId"] == ids[n]
        assert event["tracing"] == {"type": "X-Amzn-Trace-Id", "value": f"Root=1-00000000-00000000000000000000000{n}"}
        assert event["invokedFunctionArn"].startswith("arn:aws:lambda:") and isinstance(event["deadlineMs"], int)
    assert len({json.loads(line)["requestId"] for line in a}) == 3


@pytest.mark.trio
async def test_responses_around_the_pipelining_limit_each_come_back_whole(code_dir: Path) -> None:
    """Our runtime sends a response up to PIPELINE_MAX_BODY with its /next in one write, a larger one alone."""
    handler = code_dir / "handler.py"
    handler.write_text(HANDLER)
    sizes = [PIPELINE_MAX_BODY + d for d in (-1, 0, 1, -200, 2, 0, 1)] + [10, 6_291_556 + 1, 64, PIPELINE_MAX_BODY]
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(handler))) as running:
            for size in sizes:
                result, _ = await running.host.invoke(json.dumps({"size": size}).encode())
                if size > 6 * 1024 * 1024:
                    assert result.function_error, size  # too large: refused, the runtime goes on in a new one
                    continue
                assert not result.function_error, (size, result.payload[:300])
                assert len(result.payload) == size, size
