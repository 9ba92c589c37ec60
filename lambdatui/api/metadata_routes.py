"""Lambda's metadata endpoint: which Availability Zone the execution environment runs in.

Lambda serves it beside the Runtime API (AWS_LAMBDA_METADATA_API names the same address as AWS_LAMBDA_RUNTIME_API)
to the runtime and the extensions, who authenticate with the environment's own token (AWS_LAMBDA_METADATA_TOKEN):
`GET /2026-01-15/metadata/execution-environment` with `Authorization: Bearer <token>` answers
`{"AvailabilityZoneID": "use1-az1"}`, cacheable for 12 hours (Powertools' metadata utility reads it so). As AWS's
own emulator answers (its `lmds` handler): any other method is 405, a header that is not `Bearer ` and the token
401, each as plain text.

A SnapStart snapshot's answer may be cached for one second only in Lambda, since a restored copy may run in another
zone: Lambda restores a copy minutes after its snapshot's Init at the soonest (publishing the version takes that), so
the copy asks again. lambdatui restores one milliseconds after, with the same clock, and a client that honours
max-age (Sentry's) would keep the snapshot's zone in the copy: here the snapshot's answer is not to be kept at all
(max-age=0), which gives the copy what Lambda's does, its own zone.

In Lambda the endpoint's address is the same in every environment, so a SnapStart copy that calls the address its
Init read reaches its own environment's. Here each environment's server has a port of its own, and such a call
arrives at the snapshot environment's: it is answered for the environment the caller belongs to now
(host/caller_environment.py), with that environment's token, zone and Cache-Control.

Here the zone is drawn from the environment's number (env #N, us-east-1's six zone IDs in turn): the same every run,
so a replay meets the zones its recording did, and a fleet shows code that routes by zone more than one of them.
"""

from __future__ import annotations

import json
from typing import Callable, Optional

from lambdatui.api.http11_exchange import Address, Exchange, Route
from lambdatui.api.rendering import JSON, Answer
from lambdatui.core.common import SNAPSHOT
from lambdatui.host.environment_host import EnvironmentHost

PATH = "/2026-01-15/metadata/execution-environment"
ZONE_IDS = tuple(f"use1-az{n}" for n in range(1, 7))  # us-east-1's, the only region lambdatui's functions run in
MAX_AGE_S = 12 * 60 * 60
SNAPSHOT_MAX_AGE_S = 0  # before a restore, which may move the environment to another zone (Lambda's 1: see above)
_BEARER = "Bearer "
# Go's http.Error, as AWS's emulator writes its refusals.
_TEXT = (("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff"))
_UNAUTHORIZED = Answer(401, _TEXT, b"Unauthorized\n")
_NOT_ALLOWED = Answer(405, _TEXT, b"Method Not Allowed\n")
# Every method a client may send reaches the route, which refuses all but GET as the emulator does (the router's own
# 405 would be the Runtime API's JSON).
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# The environment a call comes from, given (the caller's address, the server's): host/caller_environment.py.
CallerEnvironment = Callable[[Address, Address], EnvironmentHost]


def zone_id(environment: int) -> str:
    """The Availability Zone ID of env #`environment` (counted from 1)."""
    return ZONE_IDS[(max(environment, 1) - 1) % len(ZONE_IDS)]


def metadata_routes(arrived_at: EnvironmentHost,
                    caller: Optional[CallerEnvironment] = None) -> list[tuple[str, str, Route]]:
    """The endpoint on `arrived_at`'s server; `caller` says whose call each one is (None: `arrived_at`'s)."""
    async def execution_environment(exchange: Exchange) -> Answer:
        if exchange.method != "GET":
            return _NOT_ALLOWED
        host = caller(*exchange.addresses()) if caller is not None else arrived_at
        authorization = exchange.headers.get("authorization", "")
        if not authorization.startswith(_BEARER) or authorization[len(_BEARER):] != host.metadata_token:
            return _UNAUTHORIZED
        snapshot = host.env.config.snapstart == SNAPSHOT
        body = json.dumps({"AvailabilityZoneID": zone_id(host.sandbox_count)}, separators=(",", ":")).encode()
        cache = f"private, max-age={SNAPSHOT_MAX_AGE_S if snapshot else MAX_AGE_S}, immutable"
        return Answer(200, (("Content-Type", JSON), ("Cache-Control", cache)), body)

    route = Route(execution_environment)
    return [(method, PATH, route) for method in _METHODS]
