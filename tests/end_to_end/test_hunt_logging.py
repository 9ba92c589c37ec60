"""The function's log as Lambda and CloudWatch show it (lambda-spec §4.9, §6.4, §6.6; README "Function logs",
"LoggingConfig"), found by a bug hunt: `logging` from the handler, prints on stdout and stderr, JSON records, log
levels, under lambdatui's own Python runtime and under awslambdaric (a `bootstrap` running `python -m awslambdaric
handler.handler`, as the README shows), side by side.

One `serve` per runtime is shared by the module (LogType Tail through the Invoke API); the rest runs `lambdatui
invoke`. Everything the tests write lives in `module_code_dir` / `code_dir` (never under /tmp).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Iterator

import pytest

from e2e_support import ServeProcess, awslambdaric_bootstrap, platform_lines, run_cli, source_lines, write_file

BOUND = 30
RUNTIMES = ("lambdatui", "awslambdaric")

SERVED_HANDLER = r'''import logging
import sys

root = logging.getLogger()


def handler(event, context):
    what = event["what"]
    if what == "root":
        before = ([type(h).__name__ for h in root.handlers], logging.getLevelName(root.level))
        logging.basicConfig(level=logging.DEBUG, format="%(message)s", stream=sys.stdout)  # a handler is there
        after = (len(root.handlers), logging.getLevelName(root.level))
        root.info("an info record")
        root.warning("a warning record")
        logging.getLogger("orders.db").error("a named logger's record")
        return {"before": before, "after": after}
    if what == "partial":
        print("first line")
        sys.stdout.buffer.write(b"bytes \xff\xfe not utf-8\n")
        sys.stdout.flush()
        sys.stderr.write("stderr without its newline")
        sys.stdout.write("stdout without its newline")
        return "ok"
    if what == "print":
        print("a clean line")
        return "ok"
    if what == "with_stdout":
        path = event.get("path")
        with open(path, "w") if path else sys.stdout as f:  # the CLI idiom: a file if one is named, else stdout
            f.write("report written\n")
        return "ok"
    raise ValueError(what)
'''


@pytest.fixture(scope="module")
def served(module_code_dir: Path) -> Iterator[dict[str, ServeProcess]]:
    """One `serve` for each runtime, the same handler."""
    own = write_file(module_code_dir / "own" / "handler.py", SERVED_HANDLER)
    write_file(module_code_dir / "ric" / "handler.py", SERVED_HANDLER)
    ric = awslambdaric_bootstrap(module_code_dir / "ric")
    servers = {"lambdatui": ServeProcess(own), "awslambdaric": ServeProcess(ric)}
    try:
        for server in servers.values():
            server.start()
        yield servers
    finally:
        for server in servers.values():
            server.close()


def invoke_tail(server: ServeProcess, event: dict) -> tuple[int, object, str]:
    """(status, decoded body, the log tail) of one invoke with `X-Amz-Log-Type: Tail`."""
    import httpx

    response = httpx.post(server.invoke_url(), content=json.dumps(event).encode(),
                          headers={"X-Amz-Log-Type": "Tail"}, timeout=BOUND)
    tail = base64.b64decode(response.headers["X-Amz-Log-Result"]).decode("utf-8")
    return response.status_code, json.loads(response.content), tail


def request_id(tail: str) -> str:
    match = re.search(r"(?m)^START RequestId: (\S+) ", tail)
    assert match, tail
    return match.group(1)


def function_part(tail: str) -> list[str]:
    """The tail's lines between START and END: the function's own."""
    lines = tail.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("START RequestId: "))
    end = next(i for i, line in enumerate(lines) if line.startswith("END RequestId: "))
    return lines[start + 1:end]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_root_logger_holds_lambda_s_handler_at_warning_and_basic_config_changes_nothing(
        served: dict[str, ServeProcess], runtime: str) -> None:
    """In Lambda the root logger has the runtime's one handler and Python's default level (WARNING: `logger.info`
    logs nothing until the code sets a level), so `logging.basicConfig` is a no-op; each record is
    `[LEVEL]\\t<UTC time with ms>Z\\t<request id>\\t<message>` (lambda-spec §6.6)."""
    status, body, tail = invoke_tail(served[runtime], {"what": "root"})
    assert status == 200, body
    assert body == {"before": [["LambdaLoggerHandler"], "WARNING"], "after": [1, "WARNING"]}
    rid = request_id(tail)
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    timed = [re.sub(stamp, "<time>", line) for line in function_part(tail)]
    assert timed == [f"[WARNING]\t<time>\t{rid}\ta warning record",
                     f"[ERROR]\t<time>\t{rid}\ta named logger's record"], tail


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_output_without_its_newline_is_that_invoke_s_before_end_and_the_next_invoke_starts_clean(
        served: dict[str, ServeProcess], runtime: str) -> None:
    """A print or a stderr write left without its newline when the handler returns is that invoke's last line
    (before END, in the tail), and bytes that are not UTF-8 are replaced, their line kept; the next invoke's log
    begins with its own first line, nothing of the last one glued to it."""
    status, body, tail = invoke_tail(served[runtime], {"what": "partial"})
    assert (status, body) == (200, "ok"), tail
    lines = function_part(tail)
    assert lines[:2] == ["first line", "bytes \ufffd\ufffd not utf-8"], tail
    assert sorted(lines[2:]) == ["stderr without its newline", "stdout without its newline"], tail

    status, body, tail = invoke_tail(served[runtime], {"what": "print"})
    assert (status, body) == (200, "ok"), tail
    assert function_part(tail) == ["a clean line"], tail


@pytest.mark.parametrize("runtime", ["lambdatui", "awslambdaric"])
def test_stdout_can_be_used_in_a_with_statement_as_in_lambda(served: dict[str, ServeProcess], runtime: str) -> None:
    """awslambdaric wraps sys.stdout and sys.stderr in an `Unbuffered` proxy with `__enter__`/`__exit__` that do
    nothing, so the idiom `with (open(path, "w") if path else sys.stdout) as f:` works in Lambda (and leaves stdout
    open). A function that works there must work in lambdatui's runtime."""
    status, body, tail = invoke_tail(served[runtime], {"what": "with_stdout"})
    assert (status, body) == (200, "ok"), (body, tail)
    assert function_part(tail) == ["report written"], tail


# ---------------------------------------------------------------------- JSON records, as both runtimes write them

JSON_HANDLER = '''import logging

logger = logging.getLogger()


def handler(event, context):
    logger.debug("a debug record")
    logger.info("an order", extra={"order_id": 42})
    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("caught it")
    raise KeyError("missing")
'''


def json_records(code_dir: Path, runtime: str) -> tuple[str, list[dict]]:
    """(request id, the function's JSON records) of one `lambdatui invoke` with AWS_LAMBDA_LOG_FORMAT=JSON and
    AWS_LAMBDA_LOG_LEVEL=DEBUG."""
    handler = write_file(code_dir / runtime / "handler.py", JSON_HANDLER)
    path = awslambdaric_bootstrap(code_dir / runtime) if runtime == "awslambdaric" else handler
    done = run_cli("invoke", str(path), "--env", "AWS_LAMBDA_LOG_FORMAT=JSON", "--env", "AWS_LAMBDA_LOG_LEVEL=DEBUG",
                   timeout=BOUND)
    assert done.returncode == 1 and json.loads(done.stdout)["errorType"] == "KeyError", done.stdout + done.stderr
    start = next(line for line in platform_lines(done.stderr) if line.startswith("START RequestId: "))
    return start.split()[2], [json.loads(text) for text in source_lines(done.stderr, "function")]


def test_json_records_have_lambda_s_fields_in_both_runtimes(code_dir: Path) -> None:
    """AWS_LAMBDA_LOG_FORMAT=JSON: each record is one JSON object with `timestamp`, `level`, `message`, `logger`,
    `requestId`, `extra=` fields at the top level, an exception as `errorType`/`errorMessage`/`stackTrace`/
    `location`; the uncaught error is the error body with `timestamp` and `level` (lambda-spec §6.4, §6.6)."""
    seen = {}
    for runtime in RUNTIMES:
        rid, records = json_records(code_dir, runtime)
        stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
        assert all(stamp.fullmatch(r.pop("timestamp")) and r.pop("requestId") == rid for r in records), records
        for record in records:
            if "stackTrace" in record:
                assert re.search(r"\n    (1 / 0|raise KeyError\(\"missing\"\))\n", record["stackTrace"][-1]), record
                record["stackTrace"] = len(record["stackTrace"])
            if "location" in record:
                assert re.fullmatch(r"/var/task/handler\.py:handler:\d+", record["location"]), record
                record["location"] = "handler.py:handler"
        seen[runtime] = records
    assert seen["lambdatui"] == seen["awslambdaric"] == [
        {"level": "DEBUG", "message": "a debug record", "logger": "root"},
        {"level": "INFO", "message": "an order", "logger": "root", "order_id": 42},
        {"level": "ERROR", "message": "caught it", "logger": "root", "stackTrace": 1,
         "errorType": "ZeroDivisionError", "errorMessage": "division by zero", "location": "handler.py:handler"},
        {"level": "ERROR", "errorMessage": "'missing'", "errorType": "KeyError", "stackTrace": 1},
    ]


# ---------------------------------------------------------------------- found by the hunt

def test_a_json_logging_config_without_a_level_logs_info_records_as_lambda_s_default_does(code_dir: Path) -> None:
    """Lambda's log-level filtering: "The default application log level for log filtering is INFO" (Lambda
    developer guide, Log-level filtering), and the Python runtime filters by the level Lambda gives it in
    AWS_LAMBDA_LOG_LEVEL (lambda-spec §6.6). A template with `LoggingConfig: {LogFormat: JSON}` therefore logs
    the function's `logger.info` records in Lambda."""
    write_file(code_dir / "src" / "app.py", '''import logging


def handler(event, context):
    logging.getLogger().info("order placed")
    return "ok"
''')
    path = write_file(code_dir / "template.yaml", """Transform: AWS::Serverless-2016-10-31
Resources:
  OrdersFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python3.12
      LoggingConfig:
        LogFormat: JSON
""")
    done = run_cli("invoke", str(path), timeout=BOUND)
    assert done.returncode == 0, done.stdout + done.stderr
    records = [json.loads(text) for text in source_lines(done.stderr, "function")]
    assert [(r["level"], r["message"]) for r in records] == [("INFO", "order placed")], done.stderr


def test_a_100_kb_printed_line_is_one_line_of_the_log(code_dir: Path) -> None:
    """In Lambda every line the function prints is one log event (one `function` record), kept up to CloudWatch's
    256 KB per event; lambdatui keeps a `logging` record up to 256 KB too (README "Function logs"). A 100 KB JSON
    line printed by a structured logger (Powertools' Logger prints to stdout) must stay one line, not two halves
    that are each invalid JSON."""
    handler = write_file(code_dir / "handler.py", '''import json


def handler(event, context):
    print(json.dumps({"level": "INFO", "message": "m" * 100000}))
    return "ok"
''')
    done = run_cli("invoke", str(handler), timeout=BOUND)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = source_lines(done.stderr, "function")
    assert [len(line) for line in lines] == [len(json.dumps({"level": "INFO", "message": "m" * 100000}))]
    assert json.loads(lines[0])["message"] == "m" * 100000
