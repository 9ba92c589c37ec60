"""Answers of the sandbox-side APIs: core replies and API-level refusals, as (status, headers, body)."""

from __future__ import annotations

import json
from typing import NamedTuple, Sequence

from lambdatui.core.effects import Reply

JSON = "application/json"


class Answer(NamedTuple):
    status: int
    headers: Sequence[tuple[str, str]]
    body: bytes


def from_reply(reply: Reply) -> Answer:
    headers = reply.headers
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers = (*headers, ("Content-Type", JSON))
    return Answer(reply.status, headers, reply.body)


def error(status: int, error_type: str, message: str) -> Answer:
    """The `{errorMessage, errorType}` body the Runtime and Extensions APIs use for refusals."""
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    return Answer(status, (("Content-Type", JSON),), body)


ACCEPTED = Answer(202, (("Content-Type", JSON),), b'{"status":"OK"}')
