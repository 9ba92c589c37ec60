"""Function URLs, the pure part (api/function_url_event.py): request → payload format 2.0 event, result → HTTP,
and the prelude of a streamed http-integration-response."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from lambdatui.api import function_url_event as fue
from lambdatui.api.http11_head import parse_head

NOW = 1583348638.390  # 04/Mar/2020:19:03:58.390 UTC


def request(target: str = "/", *, method: str = "GET", fields: tuple[tuple[str, str], ...] = (),
            body: bytes = b"") -> fue.UrlRequest:
    return fue.UrlRequest(method, target, [("host", "127.0.0.1:8080"), *fields], body, "10.0.0.7", "HTTP/1.1",
                          "req-1", "Root=1-abc", "someurlid", 8080, NOW)


def event(*args: Any, **kwargs: Any) -> dict[str, Any]:
    made = fue.url_event(request(*args, **kwargs))
    assert json.loads(fue.event_bytes(made)) == made  # what the runtime gets is this, as JSON
    return made


# ---------------------------------------------------------------------- request → event


def test_the_event_has_payload_format_2() -> None:
    e = event("/my/path?x=1", fields=(("user-agent", "curl/8"),))
    assert list(e) == ["version", "routeKey", "rawPath", "rawQueryString", "headers", "queryStringParameters",
                       "requestContext", "isBase64Encoded"]
    assert (e["version"], e["routeKey"], e["rawPath"], e["rawQueryString"]) == ("2.0", "$default", "/my/path", "x=1")
    assert e["requestContext"] == {
        "accountId": "anonymous", "apiId": "someurlid", "domainName": "127.0.0.1:8080", "domainPrefix": "someurlid",
        "http": {"method": "GET", "path": "/my/path", "protocol": "HTTP/1.1", "sourceIp": "10.0.0.7",
                 "userAgent": "curl/8"},
        "requestId": "req-1", "routeKey": "$default", "stage": "$default", "time": "04/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    }
    assert e["isBase64Encoded"] is False and "body" not in e  # no body: no key, as Lambda sends it


def test_repeated_query_keys_are_joined_by_commas_and_decoded() -> None:
    e = event("/q?a=1&b=two%2Fthree&a=2&empty=&plus=x+y&a=3")
    assert e["rawQueryString"] == "a=1&b=two%2Fthree&a=2&empty=&plus=x+y&a=3"  # as sent
    assert e["queryStringParameters"] == {"a": "1,2,3", "b": "two/three", "empty": "", "plus": "x y"}


def test_no_query_string_no_parameters() -> None:
    e = event("/plain")
    assert e["rawQueryString"] == "" and "queryStringParameters" not in e and "cookies" not in e


def test_the_raw_path_keeps_its_percent_encoding() -> None:
    e = event("/pa2%2Fth/%C3%A9?q=1")
    assert e["rawPath"] == "/pa2%2Fth/%C3%A9"
    assert e["requestContext"]["http"]["path"] == "/pa2/th/\u00e9"  # decoded, as a live function URL's event has it
    assert fue.label("POST", "/pa2%2Fth/%C3%A9?q=1") == "POST /pa2%2Fth/%C3%A9"


def test_an_absolute_form_target_loses_its_origin() -> None:
    assert fue.split_target("http://example.com/a/b?c=d") == ("/a/b", "c=d")
    assert fue.split_target("http://example.com") == ("/", "")


def test_headers_lower_case_repeated_ones_joined_cookies_listed_too() -> None:
    head = parse_head(b"GET /h HTTP/1.1\r\nHost: h\r\nX-Multi: one\r\nCookie: a=1; b=2\r\nx-multi: two\r\n"
                      b"Connection: keep-alive\r\nCookie: c=3\r\nUser-Agent: t\r\nX-Multi: three")
    fields = [*head.headers.items(), *head.repeated]
    e = fue.url_event(fue.UrlRequest("GET", head.target, fields, b"", "1.2.3.4", "HTTP/1.1", "r", "Root=t", "id",
                                     9, NOW))
    assert e["headers"]["x-multi"] == "one,two,three"
    assert e["cookies"] == ["a=1", "b=2", "c=3"]
    # Cookies listed apart and kept in the header as a function URL does (repeated fields joined as HTTP/2 does);
    # hop-by-hop fields gone.
    assert e["headers"]["cookie"] == "a=1; b=2; c=3" and "connection" not in e["headers"]
    assert e["headers"]["user-agent"] == "t" and e["headers"]["host"] == "h"
    # What Lambda's front end adds.
    assert e["headers"]["x-amzn-trace-id"] == "Root=t"
    assert (e["headers"]["x-forwarded-for"], e["headers"]["x-forwarded-port"],
            e["headers"]["x-forwarded-proto"]) == ("1.2.3.4", "9", "http")


def test_a_utf8_header_value_arrives_as_text() -> None:
    value = "h\u00e9llo".encode("utf-8").decode("latin-1")  # as the framing reads it
    assert event(fields=(("x-name", value),))["headers"]["x-name"] == "h\u00e9llo"


@pytest.mark.parametrize("content_type", ["text/plain", "text/html; charset=utf-8", "application/json",
                                          "Application/JSON; charset=UTF-8", "application/xml",
                                          "application/javascript"])
def test_text_bodies_are_strings(content_type: str) -> None:
    e = event(method="POST", fields=(("content-type", content_type),), body="h\u00e9 {1}".encode())
    assert (e["body"], e["isBase64Encoded"]) == ("h\u00e9 {1}", False)


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "image/png",
                                          "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_other_bodies_are_base64(content_type: str) -> None:
    fields = (("content-type", content_type),) if content_type else ()
    body = b"\x89PNG\x00\xff a=1&b=2"
    e = event(method="POST", fields=fields, body=body)
    assert e["isBase64Encoded"] is True
    assert base64.b64decode(e["body"]) == body


def test_text_that_is_not_utf8_is_base64() -> None:
    e = event(method="POST", fields=(("content-type", "text/plain"),), body=b"\xff\xfe")
    assert e["isBase64Encoded"] is True and base64.b64decode(e["body"]) == b"\xff\xfe"


def test_the_url_id_is_stable_and_shaped_like_lambdas() -> None:
    assert fue.url_id("web") == fue.url_id("web") != fue.url_id("other")
    assert re.fullmatch(r"[a-z0-9]{32}", fue.url_id("web"))


# ---------------------------------------------------------------------- result → HTTP


def answer(value: Any) -> fue.HttpAnswer:
    return fue.buffered_answer(json.dumps(value).encode() if not isinstance(value, bytes) else value)


def test_a_status_code_object_is_the_response() -> None:
    got = answer({"statusCode": 201, "headers": {"Content-Type": "text/plain", "My-Header": "v", "X-Num": 3,
                                                 "X-Many": ["a", "b"]},
                  "cookies": ["a=1; Max-Age=60", "b=2"], "body": "created"})
    assert got.status == 201 and got.body == b"created"
    assert got.headers == [("Content-Type", "text/plain"), ("My-Header", "v"), ("X-Num", "3"), ("X-Many", "a,b"),
                           ("Set-Cookie", "a=1; Max-Age=60"), ("Set-Cookie", "b=2")]


def test_the_content_type_defaults_to_json_and_the_body_to_empty() -> None:
    got = answer({"statusCode": 204})
    assert got == fue.HttpAnswer(204, [("Content-Type", "application/json")], b"")


def test_a_base64_body_is_decoded() -> None:
    got = answer({"statusCode": 200, "headers": {"content-type": "image/png"},
                  "body": base64.b64encode(b"\x89PNG\x00").decode(), "isBase64Encoded": True})
    assert got.body == b"\x89PNG\x00" and got.headers == [("content-type", "image/png")]


def test_an_object_body_is_its_json() -> None:
    assert answer({"statusCode": 200, "body": {"a": [1, 2]}}).body == b'{"a":[1,2]}'


def test_framing_headers_of_the_function_are_dropped() -> None:
    got = answer({"statusCode": 200, "headers": {"Content-Length": "999", "Transfer-Encoding": "chunked",
                                                 "Connection": "close", "Date": "x", "X-Kept": "1"}, "body": "ok"})
    assert got.headers == [("Content-Type", "application/json"), ("X-Kept", "1")]


@pytest.mark.parametrize("value, body", [
    ({"hello": "world"}, b'{"hello":"world"}'),  # written again compact, as AWS's front end does
    ("hello", b"hello"),  # a JSON string: the text without its quotes, as AWS answers
    (3, b"3"), (3.1, b"3.1"), (True, b"true"), (None, b"null"), (["hello", 3, True], b'["hello",3,true]'),
    ({"body": "not a response without statusCode"}, b'{"body":"not a response without statusCode"}'),
])
def test_any_other_json_is_a_200_with_it_as_the_body(value: Any, body: bytes) -> None:
    assert answer(value) == fue.HttpAnswer(200, [("Content-Type", "application/json")], body)


@pytest.mark.parametrize("payload", [
    b"not json", {"statusCode": "2OO"}, {"statusCode": "-200"}, {"statusCode": 99}, {"statusCode": 600}, {"statusCode": True},
    {"statusCode": 100}, {"statusCode": 101},  # interim answers: a client would wait for the final one
    {"statusCode": 200, "headers": ["a"]}, {"statusCode": 200, "headers": {"Bad Name": "v"}},
    {"statusCode": 200, "headers": {"X\r\nInjected": "v"}}, {"statusCode": 200, "cookies": "a=1"},
    {"statusCode": 200, "body": "not base64!", "isBase64Encoded": True},
])
def test_a_response_that_cannot_be_http_is_refused(payload: Any) -> None:
    with pytest.raises(fue.MalformedResponse):
        answer(payload)


def test_lambdas_own_answers() -> None:
    assert fue.error_answer() == fue.HttpAnswer(502, [("Content-Type", "application/json")],
                                                b"Internal Server Error")
    throttled = fue.throttled_answer()
    assert throttled.status == 429 and json.loads(throttled.body) == {"message": "Rate Exceeded."}
    too_large = fue.too_large_answer(6291556)
    assert too_large.status == 413 and "6291556" in json.loads(too_large.body)["message"]


# ---------------------------------------------------------------------- a streamed http-integration-response


def test_the_prelude_may_come_in_pieces() -> None:
    reader = fue.PreludeReader()
    prelude = json.dumps({"statusCode": 201, "headers": {"Content-Type": "text/html"}, "cookies": ["a=1"]}).encode()
    stream = prelude + fue.PRELUDE_END + b"<p>body"
    assert reader.feed(stream[:5]) is None
    assert reader.feed(stream[5:len(prelude) + 3]) is None  # part of the NUL bytes
    status, headers, rest = reader.feed(stream[len(prelude) + 3:])  # type: ignore[misc]
    assert status == 201 and rest == b"<p>body"
    assert headers == [("Content-Type", "text/html"), ("Set-Cookie", "a=1")]


def test_a_prelude_without_status_is_a_200() -> None:
    got = fue.PreludeReader().feed(b"{}" + fue.PRELUDE_END)
    assert got == (200, [("Content-Type", "application/json")], b"")


@pytest.mark.parametrize("stream", [b"not json" + fue.PRELUDE_END, b"[1]" + fue.PRELUDE_END,
                                    b'{"statusCode": "x"}' + fue.PRELUDE_END])
def test_a_bad_prelude_is_refused(stream: bytes) -> None:
    with pytest.raises(fue.MalformedResponse):
        fue.PreludeReader().feed(stream)


def test_a_prelude_must_end_within_16_kb() -> None:
    reader = fue.PreludeReader()
    assert reader.feed(b"{" + b" " * (fue.MAX_PRELUDE_BYTES - 1)) is None
    with pytest.raises(fue.MalformedResponse, match="16384"):
        reader.feed(b" " * 9)


def test_the_16_kb_limit_does_not_depend_on_how_the_stream_was_cut() -> None:
    # A prelude past 16 KB was refused when it came in pieces, but taken when its end came in the same piece as its
    # first 16 KB: whether a function worked depended on how its writes reached the socket.
    prelude = json.dumps({"statusCode": 200, "headers": {"x-big": "a" * fue.MAX_PRELUDE_BYTES}}).encode()
    stream = prelude + fue.PRELUDE_END + b"body"
    with pytest.raises(fue.MalformedResponse, match="16384"):
        fue.PreludeReader().feed(stream)  # whole
    pieces = fue.PreludeReader()
    with pytest.raises(fue.MalformedResponse, match="16384"):
        for start in range(0, len(stream), 4096):
            pieces.feed(stream[start:start + 4096])
    fits = json.dumps({"statusCode": 200, "headers": {"x-big": "a" * 16000}}).encode()
    assert len(fits) <= fue.MAX_PRELUDE_BYTES
    assert fue.PreludeReader().feed(fits + fue.PRELUDE_END + b"body") is not None


def test_a_status_code_given_as_digits_in_a_string_is_taken() -> None:
    """AWS answers `{"statusCode": "418"}` with 418 (LocalStack's test recorded against AWS)."""
    assert answer({"statusCode": "418", "body": "teapot"}) == fue.HttpAnswer(
        418, [("Content-Type", "application/json")], b"teapot")
