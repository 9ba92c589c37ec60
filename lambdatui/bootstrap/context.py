"""The `context` object handed to the handler (awslambdaric's lambda_context.py).

Same attribute names, types (memory_limit_in_mb is a str) and None-ness as
awslambdaric, so handler code that inspects the context behaves as in Lambda.
"""

from __future__ import annotations

import json
import os
import time

from . import logs
from .errors import LAMBDA_CONTEXT_UNMARSHAL_ERROR, FaultError

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

W3C_ALLOWED_FIELDS = ("traceparent", "tracestate", "baggage")


class _SlotsObject(object):
    """Base for the small value objects: fields from a dict, missing ones None."""

    __slots__ = ()

    @classmethod
    def from_dict(cls, data: Optional[Dict[str, Any]]) -> Any:
        if data is None:
            return None
        obj = cls()
        for field in cls.__slots__:
            setattr(obj, field, data.get(field, None))
        return obj

    def __repr__(self) -> str:
        fields = ",".join("%s=%s" % (f, getattr(self, f, None)) for f in self.__slots__)
        return "%s([%s])" % (type(self).__name__, fields)


class CognitoIdentity(_SlotsObject):
    """`context.identity`: always present, fields None without a Cognito header."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")


class Client(_SlotsObject):
    """`context.client_context.client` (mobile SDK client info)."""

    __slots__ = (
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    )


class ClientContext(_SlotsObject):
    """`context.client_context`: None unless the caller sent a client context."""

    __slots__ = ("custom", "env", "client")


class LambdaContext(object):
    """Invocation metadata and the remaining-time clock."""

    def __init__(
        self,
        invoke_id: str,
        client_context: Optional[Dict[str, Any]],
        cognito_identity: Optional[Dict[str, Any]],
        epoch_deadline_time_in_ms: int,
        invoked_function_arn: Optional[str] = None,
        tenant_id: Optional[str] = None,
    ) -> None:
        self.aws_request_id = invoke_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self._w3c_fields = _extract_w3c(client_context)

        self.client_context = ClientContext.from_dict(client_context)
        if self.client_context is not None:
            self.client_context.client = Client.from_dict(self.client_context.client)

        self.identity = CognitoIdentity.from_dict({})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")

        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds to the deadline on the wall clock, never negative."""
        delta_ms = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return delta_ms if delta_ms > 0 else 0

    def w3c(self) -> Dict[str, str]:
        """W3C trace-context fields the caller put under clientContext.w3c."""
        return dict(self._w3c_fields)

    def log(self, msg: Any) -> None:
        """Write to the function log as-is (no newline added, as in awslambdaric)."""
        logs.write(str(msg))

    def __repr__(self) -> str:
        return (
            "%s([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,function_name=%s,"
            "memory_limit_in_mb=%s,function_version=%s,invoked_function_arn=%s,"
            "client_context=%s,identity=%s,tenant_id=%s])"
            % (
                type(self).__name__,
                self.aws_request_id,
                self.log_group_name,
                self.log_stream_name,
                self.function_name,
                self.memory_limit_in_mb,
                self.function_version,
                self.invoked_function_arn,
                self.client_context,
                self.identity,
                self.tenant_id,
            )
        )


def _extract_w3c(client_context: Any) -> Dict[str, str]:
    """Pop `w3c` out of the client context (awslambdaric hides it from client_context)."""
    if not isinstance(client_context, dict) or "w3c" not in client_context:
        return {}
    raw = client_context.pop("w3c")
    if not isinstance(raw, dict):
        return {}
    return {k: raw[k] for k in W3C_ALLOWED_FIELDS if isinstance(raw.get(k), str)}


def _parse_json_header(header: str, name: str) -> Any:
    """JSON from a /next header; bad JSON fails the invocation, not the runtime."""
    try:
        return json.loads(header)
    except Exception as exc:
        raise FaultError(
            LAMBDA_CONTEXT_UNMARSHAL_ERROR, "Unable to parse %s JSON: %s" % (name, exc)
        ) from None


def create_context(
    request_id: str,
    client_context_json: Optional[str],
    cognito_identity_json: Optional[str],
    deadline_ms: int,
    function_arn: Optional[str],
    tenant_id: Optional[str],
) -> LambdaContext:
    """Context for one invocation; bad header JSON is a LambdaContextUnmarshalError."""
    client_context = None
    if client_context_json:
        client_context = _parse_json_header(client_context_json, "Client Context")
    cognito_identity = None
    if cognito_identity_json:
        cognito_identity = _parse_json_header(cognito_identity_json, "Cognito Identity")
    return LambdaContext(
        request_id, client_context, cognito_identity, deadline_ms, function_arn, tenant_id
    )
