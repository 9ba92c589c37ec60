"""A bug in a route answers with Lambda's JSON for a container error, never an HTML page (issue 8)."""

from __future__ import annotations

import httpx
import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.runner import open_environment

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
REPORT = {"phase": "invoke", "requestId": None, "globals": [], "threads": []}


@pytest.mark.trio
async def test_an_unexpected_exception_in_a_route_is_a_json_500_and_the_environment_goes_on(code_dir, monkeypatch):
    (code_dir / "handler.py").write_text(HANDLER)
    config = resolve_function(str(code_dir / "handler.py"))
    with trio.fail_after(30):
        async with open_environment(config, invoke_port=0) as running:

            def broken(report: dict) -> None:
                raise RuntimeError("a bug of lambdatui's")

            monkeypatch.setattr(running.host, "globals_reported", broken)
            async with httpx.AsyncClient(timeout=10) as client:
                answer = await client.post(f"http://{running.runtime_api}/lambdatui/v1/globals", json=REPORT)
                assert answer.status_code == 500
                assert answer.json() == {"errorMessage": "Internal Server Error", "errorType": "InternalServerError"}
                invoked = await client.post(
                    f"http://{running.invoke_api}/2015-03-31/functions/function/invocations", content=b"{}")
                assert invoked.json() == {"ok": True}
