"""Sample events for the invoke dialog, and the user's own `events/*.json` next to the handler.

Pure (no Textual): the templates are realistic shapes of what AWS services send (trimmed to the
fields handlers usually read), so a handler written against the real event runs unchanged here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

MAX_EVENT_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invoke payload limit
EVENTS_FOLDER = "events"

# API Gateway puts every header in both maps (`multiValueHeaders` with all its values), and always adds the
# X-Forwarded-* ones: WSGI adapters (serverless-wsgi, apig-wsgi) build the request's URL and client from them.
_REST_HEADERS = {
    "Accept": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com", "User-Agent": "curl/8.5.0",
    "X-Amzn-Trace-Id": "Root=1-6553f100-0123456789abcdef01234567", "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https",
}

_API_GATEWAY_REST = {
    "resource": "/orders/{id}",
    "path": "/orders/42",
    "httpMethod": "GET",
    "headers": _REST_HEADERS,
    "multiValueHeaders": {name: [value] for name, value in _REST_HEADERS.items()},
    "queryStringParameters": {"verbose": "true"},
    "multiValueQueryStringParameters": {"verbose": ["true"]},
    "pathParameters": {"id": "42"},
    "stageVariables": None,
    "requestContext": {
        "accountId": "123456789012", "apiId": "abc123", "resourceId": "r3s0urc3", "resourcePath": "/orders/{id}",
        "stage": "prod", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "extendedRequestId": "JKJaXmPLvHcESHA=", "requestTime": "14/Nov/2023:22:13:20 +0000",
        "requestTimeEpoch": 1700000000000, "httpMethod": "GET", "path": "/prod/orders/42", "protocol": "HTTP/1.1",
        "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "domainPrefix": "abc123",
        "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0", "accountId": None, "caller": None,
                     "user": None, "userArn": None, "accessKey": None, "cognitoIdentityId": None,
                     "cognitoIdentityPoolId": None, "cognitoAuthenticationType": None,
                     "cognitoAuthenticationProvider": None},
    },
    "body": None,
    "isBase64Encoded": False,
}

_API_GATEWAY_HTTP_V2 = {
    "version": "2.0",
    "routeKey": "POST /orders",
    "rawPath": "/orders",
    "rawQueryString": "dryRun=false",
    "cookies": ["session=abc"],
    "headers": {"content-type": "application/json", "content-length": "33",
                "host": "xyz789.execute-api.us-east-1.amazonaws.com", "user-agent": "curl/8.5.0",
                "x-amzn-trace-id": "Root=1-6553f100-0123456789abcdef01234567", "x-forwarded-for": "203.0.113.7",
                "x-forwarded-port": "443", "x-forwarded-proto": "https"},
    "queryStringParameters": {"dryRun": "false"},
    "requestContext": {
        "accountId": "123456789012", "apiId": "xyz789", "domainName": "xyz789.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "xyz789",
        "http": {"method": "POST", "path": "/orders", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                 "userAgent": "curl/8.5.0"},
        "requestId": "JKJaXmPLvHcESHA=", "routeKey": "POST /orders", "stage": "$default",
        "time": "14/Nov/2023:22:13:20 +0000", "timeEpoch": 1700000000000,
    },
    "body": "{\"item\": \"coffee\", \"quantity\": 2}",
    "isBase64Encoded": False,
}

_S3_PUT = {
    "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2023-11-14T22:13:20.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.7"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810",
                             "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "uploads-trigger",
            "bucket": {"name": "my-uploads", "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                       "arn": "arn:aws:s3:::my-uploads"},
            "object": {"key": "incoming/report.csv", "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                       "sequencer": "0055AED6DCD90281E5"},
        },
    }],
}

_SQS_MESSAGE = {
    "Records": [{
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "body": "{\"orderId\": 42, \"status\": \"paid\"}",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000",
                       "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1700000000001"},
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
        "awsRegion": "us-east-1",
    }],
}

_EVENTBRIDGE_SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2023-11-14T22:15:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly-cleanup"],
    "detail": {},
}

TEMPLATES: dict[str, str] = {
    name: json.dumps(event, indent=2)
    for name, event in (
        ("Empty object", {}),
        ("API Gateway REST (proxy)", _API_GATEWAY_REST),
        ("API Gateway HTTP API (v2)", _API_GATEWAY_HTTP_V2),
        ("S3 put", _S3_PUT),
        ("SQS message", _SQS_MESSAGE),
        ("EventBridge scheduled event", _EVENTBRIDGE_SCHEDULED),
    )
}
"""Template name -> pretty-printed JSON event."""


@dataclass(frozen=True)
class EventsFolder:
    """The events found next to the handler, and a note per file that could not be offered."""

    events: list[tuple[str, str]] = field(default_factory=list)  # ("events/order.json", text)
    notes: list[str] = field(default_factory=list)  # "events/huge.json: 7.1 MB, over Lambda's 6 MB limit"


def scan_events_folder(code_dir: Path) -> EventsFolder:
    """Every readable `events/*.json` (by name) under `code_dir`, and why any other was skipped."""
    folder = Path(code_dir) / EVENTS_FOLDER
    found = EventsFolder()
    try:
        paths = sorted(p for p in folder.glob("*.json"))
    except OSError as exc:
        found.notes.append(f"{EVENTS_FOLDER}/: {exc.strerror or exc}")
        return found
    for path in paths:
        name = f"{EVENTS_FOLDER}/{path.name}"
        try:
            if not path.is_file():
                continue
            size = path.stat().st_size
            if size > MAX_EVENT_BYTES:
                found.notes.append(f"{name}: {size / 1024 / 1024:.1f} MB, over Lambda's 6 MB payload limit")
                continue
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            found.notes.append(f"{name}: cannot read ({exc.strerror or exc})")
            continue
        except UnicodeDecodeError:
            found.notes.append(f"{name}: not UTF-8 text")
            continue
        found.events.append((name, text))
    return found


def load_events_folder(code_dir: Path) -> list[tuple[str, str]]:
    """(name, text) for each usable `events/*.json`; skipped files are left out (see `scan_events_folder`)."""
    return scan_events_folder(code_dir).events
