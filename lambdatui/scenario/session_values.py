"""Values of an invoke that the recorder takes from the session besides its event and result: the trace header its
caller sent, and the Runtime API addresses and metadata tokens its response may quote.

X-Amzn-Trace-Id: `serve` hands a caller's header to the function (`_X_AMZN_TRACE_ID`, Lambda-Runtime-Trace-Id), and
the X-Ray SDK and Powertools' Tracer act on its Sampled flag. A recording keeps that header with its step, and a replay
sends it again. An invoke whose caller sent none gets a header lambdatui makes (ids.new_trace_id). A replay makes a new
one for it too, so that header is not kept.

AWS_LAMBDA_RUNTIME_API: Lambda's is the same in every environment (127.0.0.1:9001). lambdatui's is each environment's
own loopback port, new on every run. A response that quotes it (a handler that returns `os.environ`) is compared
without it, as it is without the request id. So is one that quotes AWS_LAMBDA_METADATA_TOKEN, which Lambda too makes
anew for each environment.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Collection

from lambdatui.scenario.stable_parts import stable_parts

if TYPE_CHECKING:
    from lambdatui.host.fleet_host import FleetHost

# The header lambdatui makes when the caller sent none (ids.new_trace_id): never sampled. A caller that sent one of
# exactly this form is not told apart. Its replay gets a new unsampled header of the same form, which differs only in
# ids that a new trace has anyway.
MADE_BY_LAMBDATUI = re.compile(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0")
# What a note says such a part carries (lambdatui's differs on every run, Lambda's never).
RUNTIME_API_WHY = "the Runtime API's address (AWS_LAMBDA_RUNTIME_API, 127.0.0.1:9001 in Lambda)"
METADATA_TOKEN_WHY = "the environment's metadata token (AWS_LAMBDA_METADATA_TOKEN)"


def sendable_trace_header(value: str) -> bool:
    """Whether `value` can go out as an HTTP header's value: latin-1 text without control characters (a tab aside)."""
    return all(" " <= ch <= "\xff" and ch != "\x7f" or ch == "\t" for ch in value)


def callers_trace_header(trace_id: str) -> str:
    """The invoke's trace header as its caller sent it, or "" when lambdatui made it (or it cannot be sent again)."""
    if not trace_id or MADE_BY_LAMBDATUI.fullmatch(trace_id) or not sendable_trace_header(trace_id):
        return ""
    return trace_id


def runtime_apis_now(fleet: FleetHost, known: frozenset[str]) -> frozenset[str]:
    """`known` and the Runtime API address of each of the fleet's environments now: the same object when none is new,
    so that the invokes recorded share it. A SnapStart restore's function may quote the snapshot's address, captured
    during Init, so none is forgotten."""
    return _with(known, {host.runtime_api for host in fleet.hosts() if host.runtime_api})


def metadata_tokens_now(fleet: FleetHost, known: frozenset[str]) -> frozenset[str]:
    """`known` and the metadata token of each of the fleet's environments now, as `runtime_apis_now` (a restore's
    function quotes its snapshot's, which it carries)."""
    return _with(known, {host.metadata_token for host in fleet.hosts()})


def _with(known: frozenset[str], values: set[str]) -> frozenset[str]:
    return known if values <= known else known | values


def address_free(value: Any, addresses: Collection[str]) -> tuple[Any, list[str]]:
    """`value` without the text that quotes one of `addresses` (`127.0.0.1:4000`, not in `127.0.0.1:40001`), and the
    paths it left out (stable_parts.py)."""
    if not addresses:
        return value, []
    quoted = re.compile("(?:" + "|".join(re.escape(address) for address in sorted(addresses)) + ")(?![0-9])")

    def quotes_an_address(part: Any) -> bool:
        return isinstance(part, str) and quoted.search(part) is not None

    return stable_parts(value, quotes_an_address)
