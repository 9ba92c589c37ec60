"""Function URLs against what AWS does (a bug hunt; lambda-spec §12.3, README "Function URLs"): the HTTP request
as the payload format 2.0 event, and the function's result as the HTTP response, checked with real clients (a raw
socket, http.client, curl) on `lambdatui serve --url-port`.

What AWS does is taken from records of real function URLs, not from guesses:
* AWS's developer guide, "Invoking Lambda function URLs" (request and response payloads);
* LocalStack's tests marked `aws.validated`, whose snapshots were recorded against AWS
  (tests/aws/services/lambda_/test_lambda.py `TestLambdaURL`, test_lambda.snapshot.json, recorded 2025-11-24);
* a live capture of a function URL event (hotsock/voker vokerhttp/testdata/functionurl-request.json, captured from
  CloudWatch on 2026-07-10; the request: curl, an encoded path, repeated and encoded query parameters, a repeated
  header, two cookies, a JSON body).

Two `serve` sessions are shared by the whole file: the function under lambdatui's own Python runtime, and the same
handler under awslambdaric (a `bootstrap`), where the runtime writes the bytes the URL turns into a response.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, NamedTuple, Optional

import pytest

from e2e_support import ServeProcess, awslambdaric_bootstrap, write_file

BOUND_S = 30.0  # a generous bound for what takes well under a second

HANDLER = '''import base64, json, time


def handler(event, context):
    path = event.get("rawPath", "/")
    if path == "/respond":  # the result to return, as the request's JSON body: {"result": ...}
        body = event.get("body") or ""
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        return json.loads(body)["result"]
    if path == "/sleep":
        time.sleep(5)
    if path == "/big":
        return "x" * 7_000_000
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
'''


class Served(NamedTuple):
    host: str
    port: int
    process: ServeProcess


def _serve(path: Path) -> ServeProcess:
    return ServeProcess(path, "--timeout", "1", "--url-port", "0")


def _url(serve: ServeProcess) -> tuple[str, int]:
    host, _, port = serve.function_url_address(BOUND_S).rpartition(":")
    return host, int(port)


@pytest.fixture(scope="module")
def servers(module_code_dir: Path) -> Iterator[dict[str, Served]]:
    own = write_file(module_code_dir / "own" / "handler.py", HANDLER)
    write_file(module_code_dir / "ric" / "handler.py", HANDLER)
    ric = awslambdaric_bootstrap(module_code_dir / "ric")
    with _serve(own) as own_serve, _serve(ric) as ric_serve:
        yield {"lambdatui": Served(*_url(own_serve), own_serve), "awslambdaric": Served(*_url(ric_serve), ric_serve)}


@pytest.fixture
def url(servers: dict[str, Served]) -> Served:
    return servers["lambdatui"]


class Answer(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def json(self) -> object:
        return json.loads(self.body)


def request(served: Served, method: str, target: str, body: Optional[bytes] = None,
            headers: Optional[list[tuple[str, str]]] = None) -> Answer:
    """One request with http.client, header fields sent exactly as given (repeated ones too)."""
    connection = http.client.HTTPConnection(served.host, served.port, timeout=BOUND_S)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers or []:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


def respond(served: Served, result: object) -> Answer:
    """The HTTP response the URL makes of the function's `result`."""
    return request(served, "POST", "/respond", json.dumps({"result": result}).encode(),
                   [("Content-Type", "application/json")])


def event_of(served: Served, target: str, body: Optional[bytes] = None,
             headers: Optional[list[tuple[str, str]]] = None, method: Optional[str] = None) -> dict:
    answer = request(served, method or ("GET" if body is None else "POST"), target, body, headers)
    assert answer.status == 200, answer
    return json.loads(answer.body)


def raw_exchange(served: Served, data: bytes) -> bytes:
    """Bytes as written on a socket, and everything the server answers until it closes the connection."""
    with socket.create_connection((served.host, served.port), timeout=BOUND_S) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + BOUND_S
        while time.monotonic() < deadline:
            more = sock.recv(65536)
            if not more:
                break
            received += more
        return received


# ---------------------------------------------------------------------- what matches AWS (pinned)

# The request of the live capture, as curl sent it there.
CAPTURE_PATH = "/capture/space%20value"
CAPTURE_QUERY = ("repeat=one&repeat=two&redirect=https%3A%2F%2Fexample.com%2Fa%2Fb&literalPlus=a+b"
                 "&encodedPlus=a%2Bb&empty=")
CAPTURE_BODY = '{"message":"hello from the public internet","unicode":"lambda-\u03bb"}'


def capture_with_curl(served: Served) -> dict:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    done = subprocess.run(
        ["curl", "-sS", "--max-time", str(int(BOUND_S)), "-X", "POST", "-H", "content-type: application/json",
         "-H", "x-voker-probe: first", "-H", "x-voker-probe: second", "-b", "session=abc123; theme=dark",
         "--data-binary", CAPTURE_BODY, f"http://{served.host}:{served.port}{CAPTURE_PATH}?{CAPTURE_QUERY}"],
        capture_output=True, timeout=BOUND_S + 5)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_live_capture_request_gives_the_event_aws_gave(url: Served) -> None:
    event = capture_with_curl(url)
    assert (event["version"], event["routeKey"]) == ("2.0", "$default")
    assert event["rawPath"] == CAPTURE_PATH  # percent-encoding kept, as in the capture
    assert event["rawQueryString"] == CAPTURE_QUERY
    assert event["queryStringParameters"] == {"empty": "", "encodedPlus": "a+b", "literalPlus": "a b",
                                              "redirect": "https://example.com/a/b", "repeat": "one,two"}
    assert event["cookies"] == ["session=abc123", "theme=dark"]
    assert event["headers"]["x-voker-probe"] == "first,second"
    assert event["headers"]["content-length"] == str(len(CAPTURE_BODY.encode()))
    assert (event["body"], event["isBase64Encoded"]) == (CAPTURE_BODY, False)
    context = event["requestContext"]
    assert (context["accountId"], context["routeKey"], context["stage"]) == ("anonymous", "$default", "$default")
    assert context["http"]["method"] == "POST" and context["http"]["protocol"] == "HTTP/1.1"
    assert context["http"]["userAgent"] == event["headers"]["user-agent"]


def test_an_invalid_percent_sequence_is_kept_in_both_paths(url: Served) -> None:
    # LocalStack's aws-validated echo test sent /pa2%Fth/1: AWS's requestContext.http.path was "/pa2%Fth/1".
    event = event_of(url, "/pa2%Fth/1?q=query&multiQuery=foo&multiQuery=%2Fbar")
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/pa2%Fth/1"
    assert event["queryStringParameters"] == {"q": "query", "multiQuery": "foo,/bar"}


def test_a_form_body_is_base64_and_a_get_without_body_has_none(url: Served) -> None:
    form = event_of(url, "/f", b"a=1&b=%C3%A9", [("Content-Type", "application/x-www-form-urlencoded")])
    assert form["isBase64Encoded"] is True and form["body"] == "YT0xJmI9JUMzJUE5"
    bare = event_of(url, "/g")
    assert "body" not in bare and bare["isBase64Encoded"] is False and "queryStringParameters" not in bare


@pytest.mark.parametrize("result, status, body", [
    ("hello", 200, b"hello"),  # a JSON string is the body without its quotes (LocalStack's [string] snapshot)
    ({"statusCode": 200, "body": "body123"}, 200, b"body123"),  # [http-response]: application/json by default
    ({"statusCode": 200, "body": {"a": 1}}, 200, b'{"a":1}'),  # a body that is not a string is its JSON
    (3.1, 200, b"3.1"),
])
def test_results_aws_recorded_map_the_same(url: Served, result: object, status: int, body: bytes) -> None:
    answer = respond(url, result)
    assert (answer.status, answer.body) == (status, body)
    assert answer.header("content-type") == "application/json"
    assert answer.header("content-length") == str(len(body))


def test_bodiless_statuses_and_head_keep_a_kept_alive_connection_in_step(url: Served) -> None:
    connection = http.client.HTTPConnection(url.host, url.port, timeout=BOUND_S)
    try:
        seen = []
        for method, result in (("POST", {"statusCode": 204, "body": "not sent"}),
                               ("POST", {"statusCode": 304, "body": "not sent"}),
                               ("HEAD", None),
                               ("POST", {"statusCode": 200, "body": "last"})):
            if method == "HEAD":
                connection.request("HEAD", "/event")
            else:
                connection.request("POST", "/respond", json.dumps({"result": result}),
                                   {"Content-Type": "application/json"})
            response = connection.getresponse()
            seen.append((response.status, response.read()))
        assert seen == [(204, b""), (304, b""), (200, b""), (200, b"last")]
        assert connection.sock is not None, "the connection was not kept alive"
    finally:
        connection.close()


def test_a_line_break_in_a_returned_header_adds_no_header(url: Served) -> None:
    answer = respond(url, {"statusCode": 200, "headers": {"X-Text": "a\r\nSet-Cookie: evil=1"},
                           "cookies": ["c=1\r\nX-Evil: 1"], "body": "x"})
    assert answer.status in (200, 502)
    names = [name.lower() for name, _ in answer.headers]
    assert names.count("set-cookie") <= 1 and "x-evil" not in names
    assert all(value != "evil=1" for _, value in answer.headers)


def test_a_timeout_and_a_response_over_6_mb_are_502(url: Served) -> None:
    for target in ("/sleep", "/big"):
        answer = request(url, "GET", target)
        assert (answer.status, answer.body) == (502, b"Internal Server Error"), target
    assert request(url, "GET", "/after").status == 200  # the URL goes on (a new environment if need be)


# ---------------------------------------------------------------------- where lambdatui differs from AWS


def test_a_status_code_given_as_a_numeric_string_is_used(url: Served) -> None:
    # LocalStack's aws-validated test_lambda_url_headers_and_status: {"statusCode": "418", "body": "i'm a teapot"}
    # gave a 418 with that body on AWS.
    answer = respond(url, {"statusCode": "418", "body": "i'm a teapot", "isBase64Encoded": False})
    assert (answer.status, answer.body) == (418, b"i'm a teapot")


@pytest.mark.parametrize("runtime", ["lambdatui", "awslambdaric"])
def test_an_inferred_json_body_is_compact_json(servers: dict[str, Served], runtime: str) -> None:
    # LocalStack's [dict] and [list-mixed] snapshots, recorded against AWS with a python3.12 function returning
    # {"hello": "world"} and ["hello", 3, True]: Content-Length 17 and 16, i.e. {"hello":"world"} and
    # ["hello",3,true] (awslambdaric writes '{"hello": "world"}' and '["hello", 3, true]', 18 bytes each).
    served = servers[runtime]
    answers = [respond(served, result) for result in ({"hello": "world"}, ["hello", 3, True])]
    assert [(answer.status, answer.body) for answer in answers] == [(200, b'{"hello":"world"}'),
                                                                     (200, b'["hello",3,true]')]
    assert [answer.header("content-length") for answer in answers] == ["17", "16"]


def test_request_context_http_path_is_percent_decoded(url: Served) -> None:
    # The live capture: rawPath "/capture/space%20value", requestContext.http.path "/capture/space value".
    event = event_of(url, CAPTURE_PATH)
    assert event["rawPath"] == CAPTURE_PATH
    assert event["requestContext"]["http"]["path"] == "/capture/space value"


def test_the_cookie_header_stays_in_headers_besides_cookies(url: Served) -> None:
    # The live capture: "cookies": ["session=abc123", "theme=dark"] and headers["cookie"] = "session=abc123; theme=dark"
    # (API Gateway's HTTP API, captured by the same probe, drops the header; a function URL does not).
    event = capture_with_curl(url)
    assert event["cookies"] == ["session=abc123", "theme=dark"]
    assert event["headers"].get("cookie") == "session=abc123; theme=dark"


def test_a_connect_request_does_not_reach_the_function_without_a_path(url: Served) -> None:
    # AWS lists the methods a function URL passes on: GET, POST, PUT, HEAD, OPTIONS, PATCH, DELETE (developer guide,
    # requestContext.http.method), and every rawPath it sends begins with "/". Here the authority-form target of
    # CONNECT became the event's path: urlsplit("example.com:443") has the path "443".
    for request in (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n",
                    b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):
        answer = raw_exchange(url, request)
        head, _, body = answer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status == 200:
            event = json.loads(body)
            assert event["rawPath"].startswith("/"), event["rawPath"]
        else:
            assert 400 <= status < 500 and b"x-amzn-requestid" in head.lower(), head


def test_an_answer_to_a_malformed_request_carries_a_request_id(url: Served) -> None:
    for data in (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n",
                 b"GET / HTTP/2.0\r\nHost: x\r\nConnection: close\r\n\r\n"):
        head = raw_exchange(url, data).partition(b"\r\n\r\n")[0].decode("latin-1")
        assert re.match(r"HTTP/1\.1 [45]\d\d ", head), head
        assert re.search(r"(?im)^x-amzn-requestid: [0-9a-f-]{36}\r?$", head), head
