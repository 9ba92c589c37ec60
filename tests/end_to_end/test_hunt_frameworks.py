"""Real Python frameworks inside the function, as serverless developers use them (a bug hunt).

The hunt ran the real libraries from PyPI under `lambdatui serve` / `lambdatui invoke`, with lambdatui's own runtime
and with awslambdaric: aws-lambda-powertools 3.37.0 (Logger, Metrics, Tracer, event_handler, parser), Mangum 0.22.0
with FastAPI 0.165 / Starlette 1.10, Flask 3.1 with serverless-wsgi 3.1.0 and apig-wsgi 2.20.0, aws-xray-sdk 2.15.0.
This file needs none of them: each test's handler does, with the standard library only, exactly what the named
framework does with the event or its result (the docstrings cite the framework's file and function).

The hunt's findings were in the invoke dialog's sample events (lambdatui/ui/event_templates.py), which say they are
"realistic shapes of what AWS services send ... so a handler written against the real event runs unchanged here": the
"API Gateway REST (proxy)" sample was not a shape API Gateway sends, and WSGI adapters and Powertools' parser read it
differently from a real event (fixed; the first three tests keep it so). The passing tests pin what the frameworks rely on and the hunt found right (the function
URL's event and response as Mangum and Powertools read and write them, an EMF line kept whole), under both runtimes.

Two `serve` sessions are shared by the file (lambdatui's runtime, awslambdaric through a `bootstrap`); every process
is stopped by its context manager.
"""

from __future__ import annotations

import gzip
import http.client
import json
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

from e2e_support import ServeProcess, awslambdaric_bootstrap, write_file
from lambdatui.ui.event_templates import TEMPLATES

BOUND_S = 30.0  # a generous bound for what takes well under a second

REST_TEMPLATE = "API Gateway REST (proxy)"

HANDLER = r'''import base64, gzip, json, os


def serverless_wsgi_v1(event):
    # serverless-wsgi 3.1.0, serverless_wsgi.py handle_payload_v1: the request's headers are
    # Headers(event["multiValueHeaders"]) when that is present and not empty, else Headers(event["headers"]);
    # SERVER_NAME = headers.get("Host", "lambda"), wsgi.url_scheme = headers.get("X-Forwarded-Proto", "https").
    # werkzeug's Headers are case-insensitive and .get gives a key's first value.
    source = event["multiValueHeaders"] if event.get("multiValueHeaders") else {
        k: [v] for k, v in (event.get("headers") or {}).items()}
    headers = {}
    for key, values in source.items():
        headers.setdefault(key.lower(), values[0])
    return {"SERVER_NAME": headers.get("host", "lambda"), "HTTP_USER_AGENT": headers.get("user-agent"),
            "wsgi.url_scheme": headers.get("x-forwarded-proto", "https")}


def apig_wsgi_v1(event):
    # apig-wsgi 2.20.0, apig_wsgi/__init__.py get_environ_v1: when "multiValueHeaders" is in the event its lists are
    # the headers (else each of "headers" as a list of one); Host -> SERVER_NAME, X-Forwarded-For's first address ->
    # REMOTE_ADDR (default "127.0.0.1"), X-Forwarded-Proto -> wsgi.url_scheme (default "http"), each the last value.
    environ = {"SERVER_NAME": "", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http"}
    if "multiValueHeaders" in event:
        headers = event["multiValueHeaders"] or {}
    else:
        headers = {k: [v] for k, v in (event.get("headers") or {}).items()}
    for key, values in headers.items():
        key = key.upper().replace("-", "_")
        if key == "HOST":
            environ["SERVER_NAME"] = values[-1]
        elif key == "X_FORWARDED_FOR":
            environ["REMOTE_ADDR"] = values[-1].split(", ")[0]
        elif key == "X_FORWARDED_PROTO":
            environ["wsgi.url_scheme"] = values[-1]
    return environ


# aws-lambda-powertools 3.37.0, utilities/parser/models/apigw.py APIGatewayEventRequestContext: the fields without a
# default (a pydantic ValidationError names each one missing); APIGatewayProxyEventModel's own required fields.
POWERTOOLS_REST_CONTEXT = ["accountId", "apiId", "stage", "protocol", "identity", "requestId", "requestTime",
                           "requestTimeEpoch", "resourcePath", "httpMethod", "path"]
POWERTOOLS_REST_EVENT = ["resource", "path", "httpMethod", "headers", "multiValueHeaders", "requestContext"]

# Read by indexing (a KeyError when absent) in Mangum 0.22.0, mangum/handlers/api_gateway.py HTTPGateway.scope
# (version 2.0), and in aws-lambda-powertools 3.37.0 utilities/data_classes/api_gateway_proxy_event.py
# APIGatewayProxyEventV2 / common.py RequestContextV2 and RequestContextV2Http (LambdaFunctionUrlEvent's bases).
URL_EVENT_KEYS = ["version", "routeKey", "rawPath", "rawQueryString", "requestContext"]
URL_CONTEXT_KEYS = ["accountId", "apiId", "domainName", "domainPrefix", "http", "requestId", "routeKey", "stage",
                    "time", "timeEpoch"]
URL_HTTP_KEYS = ["method", "path", "protocol", "sourceIp", "userAgent"]


def handler(event, context):
    what = event.get("what") if isinstance(event, dict) else None
    if what == "template":
        sample = event["event"]
        context_keys = sample.get("requestContext") or {}
        return {"serverless_wsgi": serverless_wsgi_v1(sample), "apig_wsgi": apig_wsgi_v1(sample),
                "powertools_missing": [k for k in POWERTOOLS_REST_EVENT if k not in sample]
                + ["requestContext." + k for k in POWERTOOLS_REST_CONTEXT if k not in context_keys]}
    if what == "emf":
        # aws-lambda-powertools 3.37.0, metrics/provider/cloudwatch_emf/cloudwatch.py flush_metrics: one
        # print(json.dumps(metrics, separators=(",", ":"))) per flush; metadata can make it long.
        line = {"_aws": {"Timestamp": 1796550456158, "CloudWatchMetrics": [{"Namespace": "ns",
                "Dimensions": [["service"]], "Metrics": [{"Name": "Big", "Unit": "Count"}]}]},
                "service": "svc", "blob": "m" * event["size"], "Big": [1.0]}
        print(json.dumps(line, separators=(",", ":")))
        return {"printed": True}
    if "rawPath" in event:
        if event["rawPath"] == "/mangum-response":
            # Mangum 0.22.0, HTTPGateway.__call__ (version 2.0) with Starlette's GZipMiddleware: headers lowercased,
            # repeated ones joined with ",", Set-Cookie moved to "cookies", a gzip body base64 with isBase64Encoded.
            return {"statusCode": 202, "headers": {"content-type": "text/plain; charset=utf-8",
                                                   "content-encoding": "gzip", "vary": "Accept-Encoding",
                                                   "x-dup": "1,2"},
                    "cookies": ["a=1; Path=/; SameSite=lax", "b=2; HttpOnly; Path=/; SameSite=lax"],
                    "body": base64.b64encode(gzip.compress(b"hello " * 1000)).decode(), "isBase64Encoded": True}
        context_keys = event["requestContext"]
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps({
            "missing": [k for k in URL_EVENT_KEYS if k not in event]
            + ["requestContext." + k for k in URL_CONTEXT_KEYS if k not in context_keys]
            + ["requestContext.http." + k for k in URL_HTTP_KEYS if k not in context_keys.get("http", {})],
            "request_id": context_keys.get("requestId"), "aws_request_id": context.aws_request_id,
            "cookies": event.get("cookies"), "trace": os.environ.get("_X_AMZN_TRACE_ID")})}
    return {"unknown": event}
'''


class Served(NamedTuple):
    serve: ServeProcess
    url_host: str
    url_port: int


def _serve(path: Path) -> ServeProcess:
    return ServeProcess(path, "--timeout", "5", "--url-port", "0")


def _served(serve: ServeProcess) -> Served:
    host, _, port = serve.function_url_address(BOUND_S).rpartition(":")
    return Served(serve, host, int(port))


@pytest.fixture(scope="module")
def servers(module_code_dir: Path) -> Iterator[dict[str, Served]]:
    own = write_file(module_code_dir / "own" / "handler.py", HANDLER)
    write_file(module_code_dir / "ric" / "handler.py", HANDLER)
    ric = awslambdaric_bootstrap(module_code_dir / "ric")
    with _serve(own) as own_serve, _serve(ric) as ric_serve:
        yield {"lambdatui": _served(own_serve), "awslambdaric": _served(ric_serve)}


@pytest.fixture
def own(servers: dict[str, Served]) -> Served:
    return servers["lambdatui"]


def invoke(served: Served, event: object) -> object:
    host, port = served.serve.address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=BOUND_S)
    try:
        connection.request("POST", "/2015-03-31/functions/function/invocations", json.dumps(event).encode())
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, body
        assert response.getheader("X-Amz-Function-Error") is None, body
        return json.loads(body)
    finally:
        connection.close()


def url_request(served: Served, method: str, target: str,
                headers: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    connection = http.client.HTTPConnection(served.url_host, served.url_port, timeout=BOUND_S)
    try:
        connection.request(method, target, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def template_view(served: Served, name: str) -> dict:
    """What the frameworks make of the invoke dialog's sample event `name`, sent as the event of a real invoke."""
    view = invoke(served, {"what": "template", "event": json.loads(TEMPLATES[name])})
    assert isinstance(view, dict)
    return view


# ---------------------------------------------------------------------- the invoke dialog's sample events


def test_rest_sample_headers_reach_a_wsgi_adapter(own: Served) -> None:
    """API Gateway gives every request header in both `headers` (one value) and `multiValueHeaders` (all values):
    AWS's API Gateway developer guide, "Input format of a Lambda function for proxy integration", whose example lists
    each header in both. The REST sample's `multiValueHeaders` holds `accept` only, while `headers` holds Host,
    User-Agent and X-Forwarded-For too. serverless-wsgi 3.1.0 (serverless_wsgi.py handle_payload_v1) then takes its
    headers from `multiValueHeaders` alone, so Flask's request.url is https://lambda/orders/42 and the User-Agent is
    gone; apig-wsgi 2.20.0 (apig_wsgi/__init__.py get_environ_v1) does the same: SERVER_NAME "", REMOTE_ADDR
    127.0.0.1 (the hunt ran both with Flask 3.1)."""
    view = template_view(own, REST_TEMPLATE)
    assert view["serverless_wsgi"]["SERVER_NAME"] == "abc123.execute-api.us-east-1.amazonaws.com", view
    assert view["serverless_wsgi"]["HTTP_USER_AGENT"] == "curl/8.5.0", view
    assert view["apig_wsgi"]["SERVER_NAME"] == "abc123.execute-api.us-east-1.amazonaws.com", view
    assert view["apig_wsgi"]["REMOTE_ADDR"] == "203.0.113.7", view


def test_rest_sample_parses_with_the_powertools_model(own: Served) -> None:
    """Every REST proxy event's requestContext carries `requestTime` ("09/Apr/2015:12:34:56 +0000") and
    `resourcePath` (the resource, "/orders/{id}"): AWS's API Gateway developer guide, "Input format of a Lambda
    function for proxy integration". aws-lambda-powertools 3.37.0 requires both (utilities/parser/models/apigw.py
    APIGatewayEventRequestContext), so `parse(event, model=APIGatewayProxyEventModel)` / `@event_parser` raise a
    ValidationError naming them, and APIGatewayProxyEvent's request_context.resource_path (utilities/data_classes/
    common.py, `self["resourcePath"]`) raises KeyError inside an APIGatewayRestResolver route (both seen in the hunt
    with the sample). The other samples (HTTP API v2, S3, SQS, EventBridge) parse with their Powertools models."""
    view = template_view(own, REST_TEMPLATE)
    assert view["powertools_missing"] == [], view


def test_rest_sample_says_the_request_came_over_https(own: Served) -> None:
    """API Gateway adds X-Forwarded-For, X-Forwarded-Port ("443") and X-Forwarded-Proto ("https") to every request it
    proxies (AWS's developer guide example event above; SAM CLI's `sam local generate-event apigateway aws-proxy`
    sample carries them too). apig-wsgi 2.20.0 (get_environ_v1) defaults wsgi.url_scheme to "http" without
    X-Forwarded-Proto, so Flask's url_for(_external=True), redirects and secure-cookie checks see http."""
    view = template_view(own, REST_TEMPLATE)
    assert view["apig_wsgi"]["wsgi.url_scheme"] == "https", view


# ---------------------------------------------------------------------- what the hunt checked and found right


@pytest.mark.parametrize("runtime", ["lambdatui", "awslambdaric"])
def test_url_event_has_what_mangum_and_powertools_index(servers: dict[str, Served], runtime: str) -> None:
    """The function URL's event holds every key Mangum's HTTPGateway.scope and Powertools' LambdaFunctionUrlEvent read
    by indexing, and its requestContext.requestId is the invoke's request id (Powertools' correlation_paths.
    LAMBDA_FUNCTION_URL, "requestContext.requestId", correlates logs by it) and the answer's x-amzn-RequestId."""
    served = servers[runtime]
    status, headers, body = url_request(served, "GET", "/items/5?q=x&m=1&m=2", {"Cookie": "c1=v1; c2=v2"})
    assert status == 200, body
    seen = json.loads(body)
    assert seen["missing"] == [], seen
    assert seen["request_id"] == seen["aws_request_id"] == dict((k.lower(), v) for k, v in headers)["x-amzn-requestid"]
    assert seen["cookies"] == ["c1=v1", "c2=v2"], seen
    assert seen["trace"] and seen["trace"].startswith("Root=1-"), seen  # Powertools Logger's xray_trace_id


@pytest.mark.parametrize("runtime", ["lambdatui", "awslambdaric"])
def test_mangum_shaped_response_becomes_the_http_response(servers: dict[str, Served], runtime: str) -> None:
    """What Mangum returns for a gzip'd Starlette response with two cookies and a repeated header: the status, each
    cookie its own Set-Cookie, the headers as given and the body's bytes decoded from base64 (not re-encoded)."""
    status, headers, body = url_request(servers[runtime], "GET", "/mangum-response", {"Accept-Encoding": "gzip"})
    assert status == 202
    assert [v for k, v in headers if k.lower() == "set-cookie"] == ["a=1; Path=/; SameSite=lax",
                                                                     "b=2; HttpOnly; Path=/; SameSite=lax"]
    named = {k.lower(): v for k, v in headers}
    assert named["content-encoding"] == "gzip" and named["x-dup"] == "1,2"
    assert named["content-type"] == "text/plain; charset=utf-8"
    assert gzip.decompress(body) == b"hello " * 1000


@pytest.mark.parametrize("runtime", ["lambdatui", "awslambdaric"])
def test_a_long_emf_line_stays_one_line(servers: dict[str, Served], runtime: str) -> None:
    """CloudWatch reads an EMF document only from one whole log line. Powertools' Metrics prints each flush as one
    line; with metadata it outgrows a pipe's 64 KB buffer and must still arrive as one line (lambdatui cuts lines
    only past 256 KB, README "log records")."""
    served = servers[runtime]
    size = 70_000
    start = len(served.serve.lines)
    assert invoke(served, {"what": "emf", "size": size}) == {"printed": True}
    match = served.serve.wait_for_line(r"\[function\]\s+(\{\"_aws\".*)$", timeout=BOUND_S, start=start)
    document = json.loads(match.group(1))
    assert document["blob"] == "m" * size and document["Big"] == [1.0]
