"""An /error body past the payload limit (lambda-spec §1.4, §1.5): refused as a /response's is, never emptied.

RAPID sends an /error body to the caller as it sends a /response, under the same 6,291,556 bytes; the server
drops a body past it and says so (`too_large`), and the core answers 413 RequestEntityTooLarge and fails the invoke
with Function.ResponseSizeTooLarge, in both rule sets (on demand, and Managed Instances).
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from driver import Driver

from lambdatui.core import inputs as ins
from lambdatui.core.managed_environment import ManagedEnvironment
from lambdatui.model import error_types as et
from lambdatui.model.boundaries import EnvState

REFUSAL = {"errorType": "RequestEntityTooLarge",
           "errorMessage": "Exceeded maximum allowed payload size (6291556 bytes)."}
CALLER_GETS = {"errorType": "Function.ResponseSizeTooLarge",
               "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes)."}


def ready(managed: bool) -> Driver:
    """Initialised, the runtime parked on /next (one worker, for Managed Instances)."""
    d = Driver()
    if managed:
        d.config = dataclasses.replace(d.config, max_concurrency=1)
        d.env = ManagedEnvironment(d.config, new_id=lambda: f"id-{next(d._ids)}")
    d.start()
    d.runtime_next()
    return d


@pytest.mark.parametrize("managed", [False, True], ids=["on-demand", "managed-instances"])
def test_an_error_body_past_the_limit_is_413_and_the_caller_gets_response_size_too_large(managed: bool) -> None:
    d = ready(managed)
    caller, rid = d.invoke()
    tok = d.token()
    d.feed(ins.RuntimeInvocationError(tok, rid, b"", "application/json", "Runtime.Big", too_large=True))
    assert (d.reply(tok).status, d.reply_json(tok)) == (413, REFUSAL)
    result = d.result_for(caller)
    assert (result.function_error, result.error_type) == (True, et.FUNCTION_RESPONSE_SIZE_TOO_LARGE)
    assert json.loads(result.payload) == CALLER_GETS
    # The runtime's turn is over: its next /next is taken (and on Managed Instances, whose REPORT carries a
    # function error's status, the platform records why).
    d.runtime_next()
    if managed:
        report = d.reports()[-1]
        assert (report.status, report.error_type) == ("error", et.FUNCTION_RESPONSE_SIZE_TOO_LARGE)
    else:
        assert d.state is EnvState.FROZEN
