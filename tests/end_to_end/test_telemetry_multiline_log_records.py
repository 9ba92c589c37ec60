"""Telemetry API records of multi-line log messages, as a real external extension's listener receives them
(lambda-spec §3, §6.6).

The extension is tests/end_to_end/telemetry_listener.py (standard library only): it subscribes, and writes every
batch it receives to the environment's /tmp, which the test reads once the environment has shut down. Waits are on
the host's facts and bounded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from lambdatui.config import FunctionConfig, resolve_function
from lambdatui.runner import open_environment
from e2e_support import awslambdaric_bootstrap
from telemetry_support import events, listener_function

BOUND = 30

LOGGING_HANDLER = '''import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    logger.warning("first line of one message\\nsecond line of the same message")
    try:
        raise ValueError("kept with its traceback")
    except ValueError:
        logger.exception("one exception, logged once")
    return "ok"
'''


async def function_records(config: FunctionConfig) -> tuple[bytes, list]:
    """One invoke's result and the `function` records the listener received, once the environment has shut down."""
    async with open_environment(config) as running:
        host = running.host
        with trio.fail_after(BOUND):
            result, _ = await host.invoke(b"{}")
            await host.shutdown()
        return result.payload, [e["record"] for e in events(host) if e["type"] == "function"]


@pytest.mark.trio
async def test_a_multi_line_log_message_is_one_function_record(code_dir: Path) -> None:
    """In Lambda the Python runtime writes each `logging` record as one frame on its telemetry log fd
    (`_LAMBDA_TELEMETRY_LOG_FD`, lambda-spec §6.6: "records are written as frames to that fd"), so one
    `logger.warning("a\\nb")`, or one `logger.exception(...)` with its traceback, is one `function` record for a
    Telemetry API subscriber, however many lines it holds (only plain stdout is captured line by line).
    lambdatui gives its runtime that fd and its runtime frames each record there, as awslambdaric does (before,
    records went to stdout and the host cut them at every newline, as under the AWS emulator: a log shipper that
    keeps one event per record split every multi-line message and traceback)."""
    config = listener_function(code_dir, LOGGING_HANDLER, types=["function"], wait_for="one exception, logged once")
    payload, records = await function_records(config)
    assert payload == b'"ok"'
    first = [r for r in records if "first line of one message" in r]
    assert len(first) == 1, records
    assert "second line of the same message" in first[0], records
    assert not any(r.startswith("second line") for r in records), records
    logged = [r for r in records if "one exception, logged once" in r]
    assert len(logged) == 1, records
    assert "Traceback (most recent call last)" in logged[0] and "ValueError: kept with its traceback" in logged[0], records


PRINTING_HANDLER = '''import logging
import os
import subprocess
import sys

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    print("a print of\\ntwo lines")
    logger.info("one record\\nof two lines")
    context.log("context.log's text")
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('_LAMBDA_TELEMETRY_LOG_FD'))"],
                           capture_output=True, text=True)
    return {"own": os.environ.get("_LAMBDA_TELEMETRY_LOG_FD"), "child": child.stdout.strip()}
'''


@pytest.mark.trio
async def test_awslambdaric_frames_its_records_on_the_fd_lambdatui_gives_it(code_dir: Path) -> None:
    """The official runtime client, unchanged, finds `_LAMBDA_TELEMETRY_LOG_FD` and writes its records there: one
    record of two lines is one `function` record, a print stays two (stdout is line-based in Lambda too), and the
    variable is gone from the function's environment and its children's, as awslambdaric takes it."""
    pytest.importorskip("awslambdaric")
    listener_function(code_dir, PRINTING_HANDLER, types=["function"], wait_for="context.log's text")
    bootstrap = awslambdaric_bootstrap(code_dir)
    listener = json.dumps({"types": ["function"], "wait_for": "context.log's text"})
    config = resolve_function(str(bootstrap), env_pairs=[f"LISTENER_CONFIG={listener}"])
    payload, records = await function_records(config)
    assert json.loads(payload) == {"own": None, "child": "None"}
    assert "a print of" in records and "two lines" in records, records
    logged = [r for r in records if "one record" in r]
    assert len(logged) == 1, records
    assert logged[0].startswith("[INFO]\t") and logged[0].endswith("one record\nof two lines"), records
    assert "context.log's text" in records, records


@pytest.mark.trio
async def test_json_records_are_one_record_each_with_their_traceback(code_dir: Path) -> None:
    """With LoggingConfig's JSON format the runtime frames each JSON record, and a subscriber gets it as one object
    with its stack trace inside. (One line of JSON each, the records read the same from stdout: this pins the frame
    path for JSON, the level-typed frames and their trailing newline, not the difference the fd makes.)"""
    config = listener_function(code_dir, LOGGING_HANDLER, types=["function"], wait_for="one exception, logged once")
    listener = json.dumps({"types": ["function"], "wait_for": "one exception, logged once"})
    config = resolve_function(str(code_dir / "handler.py"),
                              env_pairs=[f"LISTENER_CONFIG={listener}", "AWS_LAMBDA_LOG_FORMAT=JSON"])
    payload, records = await function_records(config)
    assert payload == b'"ok"'
    objects = [r for r in records if isinstance(r, dict)]
    warned = [r for r in objects if r.get("level") == "WARN" or r.get("level") == "WARNING"]
    assert len(warned) == 1, records
    assert warned[0]["message"] == "first line of one message\nsecond line of the same message", records
    logged = [r for r in objects if r.get("message") == "one exception, logged once"]
    assert len(logged) == 1 and logged[0]["errorType"] == "ValueError" and logged[0]["stackTrace"], records
    assert not any(isinstance(r, str) and "second line" in r for r in records), records
