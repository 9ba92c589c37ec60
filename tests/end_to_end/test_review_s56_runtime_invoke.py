"""Review of 44a544a, 4bd6b1d, 122f1c6, 300c1c9, 4589c5b (report: /work/scratch/s56/review_runtime_invoke.md).

Real `lambdatui serve` with real HTTP (urllib, boto3). Each strict xfail is a bug; the plain tests pin what held.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from e2e_support import ServeProcess, write_file

REPO = Path(__file__).resolve().parents[2]

HANDLER = '''def handler(event, context):
    return {"arn": context.invoked_function_arn}
'''


@pytest.fixture(scope="module")
def serve(module_code_dir: Path) -> Iterator[ServeProcess]:
    write_file(module_code_dir / "fn.py", HANDLER)
    with ServeProcess(module_code_dir / "fn.py") as server:
        try:
            yield server
        finally:
            server.close()


def _post(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=b"{}", method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---------------------------------------------------------------------- 4bd6b1d: FunctionName in the path


def test_boto3_names_lambda_accepts_are_accepted(serve: ServeProcess) -> None:
    """botocore percent-encodes the FunctionName label (':' as %3A, '$' as %24): a full ARN with an alias, a partial
    ARN, a dotted name (the Invoke API's pattern allows '.'), `$LATEST`, a 64-character name all run."""
    boto3 = pytest.importorskip("boto3")
    client = boto3.client("lambda", endpoint_url=serve.base_url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    for name, suffix in [("arn:aws:lambda:us-east-1:123456789012:function:fn:prod", ":prod"),
                         ("123456789012:function:fn", ""), ("my.fn", ""), ("fn:$LATEST", ":$LATEST"),
                         ("f" * 64, "")]:
        answer = client.invoke(FunctionName=name, Payload=b"{}")
        assert "FunctionError" not in answer, name
        arn = json.loads(answer["Payload"].read())["arn"]
        assert ":function:" in arn and arn.split(":function:")[1].count(":") == bool(suffix), (name, arn)
        assert arn.endswith(suffix), (name, arn)


def test_a_name_of_65_characters_is_refused(serve: ServeProcess) -> None:
    status, body = _post(serve.invoke_url("f" * 65))
    assert status == 400 and "length less than or equal to 64" in body["message"], body


@pytest.mark.parametrize("route", ["plain", "streaming"])
def test_a_name_holding_a_literal_percent_is_refused_on_every_route(serve: ServeProcess, route: str) -> None:
    """`fn%253Aprod` on the wire is the FunctionName `fn%3Aprod` (one decoding, as Lambda and quart do): '%' is no
    character of the pattern, so it is 400 ValidationException. The app's route (any X-Amz-* option header) says so;
    the plain and the streaming routes decode it a second time and run it as `fn:prod`."""
    if route == "plain":
        url = serve.invoke_url("fn%253Aprod")
    else:
        url = f"{serve.base_url}/2021-11-15/functions/fn%253Aprod/response-streaming-invocations"
    # The app's route (an option header) refuses it: what the plain route must agree with.
    status, body = _post(serve.invoke_url("fn%253Aprod"), {"X-Amz-Invocation-Type": "RequestResponse"})
    assert status == 400 and "'fn%3Aprod'" in body["message"], body
    request = urllib.request.Request(url, data=b"{}", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    assert status == 400, text[:300]
