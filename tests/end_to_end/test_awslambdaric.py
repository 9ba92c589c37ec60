"""The official awslambdaric, run as a custom runtime, against lambdatui's own bootstrap: same outcomes.

Both run the same handler.py from the same folder: once through `bootstrap` (a custom runtime that
execs `python -m awslambdaric handler.handler`), once through `handler.py` (lambdatui's bootstrap).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Optional

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.runner import open_environment

from e2e_support import LogCollector, write_file

HANDLERS = {
    "success": '''def handler(event, context):
    return {"ok": True, "event": event, "requestId": context.aws_request_id}
''',
    "exception": '''def fail(value):
    raise ValueError(f"boom: {value}")


def handler(event, context):
    fail(event["value"])
''',
    "import-error": '''import no_such_module_for_lambdatui_tests


def handler(event, context):
    return "unreachable"
''',
    # awslambdaric sends the X-Ray cause, the message in it, as a header: it empties it only from 1 MiB up.
    "long-error": "def handler(event, context):\n    raise ValueError('x' * 300_000)\n",
    "timeout": '''import time


def handler(event, context):
    time.sleep(30)
''',
    # The rest are compared field by field in test_same_outcome.
    "handler-not-found": "def other(event, context):\n    return 1\n",
    "syntax-error": "def handler(event, context)\n    return 1\n",
    "init-raises": "raise RuntimeError('init fails')\n\n\ndef handler(event, context):\n    return 1\n",
    "unserializable": "def handler(event, context):\n    return {'s': {1, 2}}\n",
    "unicode": "def handler(event, context):\n    return {'s': 'h\\u00e9llo \\u2603', 'event': event}\n",
    "returns-bytes": "def handler(event, context):\n    return b'raw bytes'\n",
    "returns-none": "def handler(event, context):\n    return None\n",
    "custom-exception": (
        "class PaymentDeclined(Exception):\n    pass\n\n\n"
        "def handler(event, context):\n    raise PaymentDeclined('card 42 declined')\n"
    ),
    "sys-exit-0": "import sys\n\n\ndef handler(event, context):\n    sys.exit(0)\n",
    "context": (
        "def handler(event, context):\n"
        "    return {'name': context.function_name, 'version': context.function_version,\n"
        "            'arn': context.invoked_function_arn, 'memory': context.memory_limit_in_mb,\n"
        "            'group': context.log_group_name, 'has_id': bool(context.aws_request_id),\n"
        "            'remaining_ok': 0 < context.get_remaining_time_in_millis() <= 3000,\n"
        "            'client_context': context.client_context}\n"
    ),
}


async def run_once(path: Path, timeout_s: int, event: bytes = b'{"value": 42}') -> tuple[f.InvocationResult, LogCollector]:
    async with open_environment(resolve_function(str(path), timeout_s=timeout_s)) as running:
        log = LogCollector()
        running.host.subscribe(log)
        with trio.fail_after(30):
            result, _ = await running.host.invoke(event)
        return result, log


def report_status(log: LogCollector) -> Optional[str]:
    report = next(t for t in log.texts(f.PLATFORM) if t.startswith("REPORT "))
    match = re.search(r"\t(Status: .*?)\t?$", report)
    return match.group(1) if match else None


@pytest.fixture
def both(code_dir: Path, request: pytest.FixtureRequest) -> tuple[Path, Path]:
    """(awslambdaric's bootstrap, our handler.py) for the case's handler, in one folder."""
    write_file(code_dir / "handler.py", HANDLERS[request.param])
    # The exec is on the #! line's interpreter, not in a shell body: lambdatui reads the #! line, so when this
    # interpreter lies under /tmp (a checkout there) it keeps it visible by falling back to TMPDIR.
    bootstrap = write_file(
        code_dir / "bootstrap",
        f"#!{sys.executable}\nimport os, sys\n"
        f"os.execv(sys.executable, [sys.executable, '-m', 'awslambdaric', 'handler.handler'])\n",
        executable=True,
    )
    return bootstrap, code_dir / "handler.py"


async def run_both(both: tuple[Path, Path], timeout_s: int = 3, event: bytes = b'{"value": 42}'):
    ric_bootstrap, ours = both
    ric = await run_once(ric_bootstrap, timeout_s, event)
    mine = await run_once(ours, timeout_s, event)
    # Make sure the custom runtime really was awslambdaric and the other really ours.
    assert "INIT_START Runtime Version: provided:al2023" in ric[1].texts(f.PLATFORM)[0]
    assert "INIT_START Runtime Version: python:3" in mine[1].texts(f.PLATFORM)[0]
    return ric, mine


@pytest.mark.trio
@pytest.mark.parametrize("both", ["success"], indirect=True)
async def test_success_body(both: tuple[Path, Path]) -> None:
    (ric, ric_log), (mine, my_log) = await run_both(both)

    for result in (ric, mine):
        assert not result.function_error, result.payload
        body = json.loads(result.payload)
        assert body == {"ok": True, "event": {"value": 42}, "requestId": result.request_id}
        assert result.content_type == "application/json"
    assert report_status(ric_log) is None and report_status(my_log) is None


@pytest.mark.trio
@pytest.mark.parametrize("both", ["exception"], indirect=True)
async def test_handler_exception(both: tuple[Path, Path]) -> None:
    (ric, ric_log), (mine, my_log) = await run_both(both)

    ric_body, my_body = json.loads(ric.payload), json.loads(mine.payload)
    assert ric.function_error and mine.function_error
    assert my_body["errorType"] == ric_body["errorType"] == "ValueError"
    assert my_body["errorMessage"] == ric_body["errorMessage"] == "boom: 42"
    for body in (ric_body, my_body):
        assert isinstance(body["stackTrace"], list) and body["stackTrace"], body
        assert "in fail" in body["stackTrace"][-1] and "raise ValueError" in body["stackTrace"][-1]
    for log in (ric_log, my_log):
        assert any(t.startswith("[ERROR] ValueError: boom: 42") for t in log.texts(f.FUNCTION)), log.dump()
    # A handler exception is the function's error, not the platform's: the environment stays warm.
    assert report_status(ric_log) is None and report_status(my_log) is None


@pytest.mark.trio
@pytest.mark.parametrize("both", ["import-error"], indirect=True)
async def test_import_error(both: tuple[Path, Path]) -> None:
    (ric, ric_log), (mine, my_log) = await run_both(both)

    ric_body, my_body = json.loads(ric.payload), json.loads(mine.payload)
    assert my_body["errorType"] == ric_body["errorType"] == "Runtime.ImportModuleError"
    assert my_body["errorMessage"] == ric_body["errorMessage"]
    assert "no_such_module_for_lambdatui_tests" in my_body["errorMessage"]
    assert report_status(ric_log) == report_status(my_log) == "Status: error\tError Type: Runtime.ImportModuleError"
    for log in (ric_log, my_log):
        init_reports = [t for t in log.texts(f.PLATFORM) if t.startswith("INIT_REPORT ")]
        assert [("Phase: init" in t, "Error Type: Runtime.ImportModuleError" in t) for t in init_reports] == [
            (True, True), (False, True)
        ], log.dump()


@pytest.mark.trio
@pytest.mark.parametrize("both", ["timeout"], indirect=True)
async def test_timeout(both: tuple[Path, Path]) -> None:
    (ric, ric_log), (mine, my_log) = await run_both(both, timeout_s=1)

    for result in (ric, mine):
        body = json.loads(result.payload)
        assert body["errorType"] == "Sandbox.Timedout"
        assert body["errorMessage"] == f"RequestId: {result.request_id} Error: Task timed out after 1.00 seconds"
    assert report_status(ric_log) == report_status(my_log) == "Status: timeout"


def outcome(result: f.InvocationResult, log: LogCollector) -> dict:
    """What a caller and the platform log see, with this run's request id taken out."""
    payload = result.payload.decode("utf-8", "replace").replace(result.request_id, "<request-id>")
    try:
        body = json.loads(payload)
    except ValueError:
        body = payload
    has_stack = None
    if isinstance(body, dict) and "stackTrace" in body:
        has_stack = bool(body.pop("stackTrace"))  # the frames differ (runtime internals); their presence must not
    init_reports = [re.sub(r"Init Duration: [\d.]+ ms\t", "", t) for t in log.texts(f.PLATFORM)
                    if t.startswith("INIT_REPORT ")]
    return {
        "body": body,
        "has_stack": has_stack,
        "content_type": result.content_type,
        "function_error": result.function_error,
        "report_status": report_status(log),
        "init_reports": init_reports,
    }


@pytest.mark.trio
@pytest.mark.parametrize(
    "both",
    ["handler-not-found", "syntax-error", "init-raises", "long-error", "unserializable", "unicode", "returns-bytes", "returns-none",
     "custom-exception", "sys-exit-0", "context"],
    indirect=True,
)
async def test_same_outcome(both: tuple[Path, Path]) -> None:
    event = '["\u00e9v\u00e9nement", 1, null]'.encode()
    (ric, ric_log), (mine, my_log) = await run_both(both, event=event)

    assert outcome(mine, my_log) == outcome(ric, ric_log)
