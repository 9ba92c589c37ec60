"""Log tails and the console's order through the real `lambdatui serve` and boto3.

Written against ccdef57 (the caller's result before the runtime's 202) as a guard; it passes with the old order too.

Sequential and concurrent invokes (three environments), with and without a log tail (LogType=Tail), of successes and
function errors: each answer is its own invoke's, each tail holds its own invoke's lines only (its END and REPORT
included), and the console shows every invoke's START, line, END and REPORT in order, none lost or misattributed.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from pathlib import Path

import boto3
from botocore.config import Config

from e2e_support import ServeProcess, write_file

HANDLER = """\
def handler(event, context):
    print(f"line of n={event['n']} rid={context.aws_request_id}", flush=True)
    if event["n"] % 4 == 3:
        raise ValueError(f"failed {event['n']}")
    return {"n": event["n"], "rid": context.aws_request_id}
"""

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def client(served: ServeProcess):  # type: ignore[no-untyped-def]
    return boto3.client("lambda", endpoint_url=served.base_url, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 0}, read_timeout=30, connect_timeout=5))


def invoke_and_check(lam, n: int, tail: bool) -> str:  # type: ignore[no-untyped-def]
    kwargs = {"LogType": "Tail"} if tail else {}
    answer = lam.invoke(FunctionName="function", Payload=json.dumps({"n": n}).encode(), **kwargs)
    body = json.loads(answer["Payload"].read())
    if n % 4 == 3:
        assert answer.get("FunctionError") == "Unhandled", answer
        assert body["errorMessage"] == f"failed {n}", body
        rid = answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    else:
        assert "FunctionError" not in answer, body
        assert body["n"] == n, body
        rid = body["rid"]
        assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == rid
    if tail:
        text = base64.b64decode(answer["LogResult"]).decode()
        assert f"line of n={n} rid={rid}" in text, text
        assert f"END RequestId: {rid}" in text and f"REPORT RequestId: {rid}" in text, text
        assert set(re.findall(UUID, text)) == {rid}, text
    else:
        assert "LogResult" not in answer
    return rid


def check_console(served: ServeProcess, rids: dict[int, str]) -> None:
    for n, rid in rids.items():
        served.wait_for_line(rf"REPORT RequestId: {rid}", timeout=20)
    lines = served.output().splitlines()
    for n, rid in rids.items():
        mine = [line for line in lines if rid in line]
        env = {re.match(r"#(\d+) ", line).group(1) for line in mine if re.match(r"#(\d+) ", line)}
        assert len(env) <= 1, mine
        kinds = [re.sub(r"^(#\d+ )?\[(\w+)\]\s+", r"\2 ", line).split(" RequestId")[0].split(" n=")[0] for line in mine]
        assert [k for k in kinds if not k.startswith("platform 20")] == [
            "platform START", "function line of", "platform END", "platform REPORT"], mine
        # Its line sits between its own START and END in the console, with no other invoke's START between.
        start = next(i for i, line in enumerate(lines) if f"START RequestId: {rid}" in line)
        end = next(i for i, line in enumerate(lines) if f"END RequestId: {rid}" in line)
        prefix = next(iter(env), None)
        between = [line for line in lines[start + 1:end]
                   if prefix is None or line.startswith(f"#{prefix} ")]
        assert [line for line in between if "START RequestId" in line] == [], between
        assert any(f"line of n={n} rid={rid}" in line for line in between), between


def test_sequential_invokes_with_and_without_a_tail(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(code_dir / "handler.py", "--timeout", "10") as served:
        lam = client(served)
        rids = {n: invoke_and_check(lam, n, tail=n % 2 == 0) for n in range(24)}
        assert len(set(rids.values())) == 24
        check_console(served, rids)


def test_concurrent_callers_on_three_environments(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(code_dir / "handler.py", "--timeout", "10", "--concurrency", "3", "--provisioned", "3") as served:
        served.wait_for_lines(r"INIT_REPORT|INIT_START", 3, timeout=20)
        rids: dict[int, str] = {}
        errors: list[BaseException] = []

        def caller(first: int) -> None:
            lam = client(served)
            try:
                for n in range(first, first + 30, 3):
                    rids[n] = invoke_and_check(lam, n, tail=n % 2 == 0)
            except BaseException as exc:  # noqa: BLE001 - carried to the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=caller, args=(first,)) for first in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        assert len(set(rids.values())) == 30
        check_console(served, rids)
