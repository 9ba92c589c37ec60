"""What the lifecycle rules share: the environment's configuration, deadline names, and JSON bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from lambdatui.model import error_types as et

INIT_TIMER = "init"
INVOKE_TIMER = "invoke"
RUNTIME_STOP_TIMER = "runtime-stop"
SHUTDOWN_TIMER = "shutdown"
INSPECTION_LIMIT_TIMER = "inspection-limit"
RESTORE_TIMER = "restore"
OFFER_TIMER = "offer"  # an invoke offered while the environment finishes its last (core/offer_rules.py)
# lambdatui stopped while an extension still works on an answered invoke: how long that invoke may go on finishing
# before the shutdown begins anyway (the shutdown's own budget, EXTERNAL_SHUTDOWN_BUDGET_MS).
SPINDOWN_WAIT_TIMER = "spindown-wait"
# An injected crash by a signal the process may catch or ignore (SIGTERM, SIGINT...): how long its exit is awaited
# before the environment is given back, with the process still running. Generous: a loaded machine is slow to reap.
CRASH_TIMER_PREFIX = "crash:"
CRASH_EXIT_WAIT_S = 5.0
# A fault armed to act some time into an invoke (`after_ms`): "fault-after:<n>", one per fault of that invoke.
FAULT_AFTER_TIMER_PREFIX = "fault-after:"
RESTORE_LIMIT_MS = 10_000  # runtime load and after-restore hooks (lambda-spec §1.7, §4.8)
# What the sandbox's server answers for a path it does not serve (api/sandbox_routes.py): RAPID on Managed
# Instances mounts no Logs API router, so PUT /2020-08-15/logs is such a path.
NOT_FOUND = ("NotFound", "No such endpoint")
SNAPSHOT = "snapshot"  # EnvironmentConfig.snapstart: the environment whose Init the snapshot is made of
RESTORE = "restore"  # EnvironmentConfig.snapstart: an environment restored from that snapshot

EXTERNAL_SHUTDOWN_BUDGET_MS = 2000
INTERNAL_SHUTDOWN_BUDGET_MS = 500
RUNTIME_SHUTDOWN_SHARE_MS = 300
# The runtime hosts the internal extensions, so with one registered it gets 500 ms to stop (lambda-spec §4.6).
RUNTIME_WITH_INTERNAL_SHUTDOWN_SHARE_MS = 500
JSON = "application/json"
_ERROR_CAUSE_TYPE = "application/vnd.aws.lambda.error.cause+json"  # the body holds X-Ray's cause too (§1.5)


# Where lambdatui's functions live, as far as an ARN says: one Region and one made-up account.
REGION = "us-east-1"
ACCOUNT_ID = "012345678912"


def function_arn(name: str, region: str = REGION, account_id: str = ACCOUNT_ID) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:function:{name}"


@dataclass(frozen=True)
class EnvironmentConfig:
    """What the core knows of the function and of the environment that runs it: names, limits, and which
    kind of environment it is (on-demand, provisioned, Managed Instances, SnapStart)."""

    function_name: str
    handler: str
    timeout_ms: int
    memory_mb: int
    extension_names: tuple[str, ...] = ()
    function_version: str = "$LATEST"
    region: str = REGION
    account_id: str = ACCOUNT_ID
    init_timeout_ms: int = 10_000
    runtime_version: str = "python:3"
    provisioned: bool = False  # provisioned concurrency: INIT_REPORT always, no Init Duration in REPORT (§4.2, §11.2)
    # Lambda Managed Instances (§11.3): up to this many invokes at once in one environment (core/managed_*.py);
    # 0 is the default mode, one invoke at a time.
    max_concurrency: int = 0
    # SnapStart (lambda-spec §4.8): "" for none, SNAPSHOT for the environment that initialises once and is held as
    # the snapshot, RESTORE for one restored from it (its Init is a restore: no function Init, a 10 s limit).
    snapstart: str = ""
    restore_timeout_ms: int = RESTORE_LIMIT_MS
    # AWS_LAMBDA_EXEC_WRAPPER that our runtime is started through ("" for none): named when the runtime never came.
    exec_wrapper: str = ""

    @property
    def managed(self) -> bool:
        return self.max_concurrency > 0

    @property
    def initialization_type(self) -> str:
        """AWS_LAMBDA_INITIALIZATION_TYPE and telemetry's initializationType (lambda-spec §4.3)."""
        if self.managed:
            return "lambda-managed-instances"
        if self.snapstart:
            return "snap-start"
        return "provisioned-concurrency" if self.provisioned else "on-demand"

    @property
    def initialised_ahead(self) -> bool:
        """Initialised before traffic (provisioned concurrency, Managed Instances): INIT_REPORT is always logged and
        no REPORT carries an Init Duration, as no invoke waited for the Init (lambda-spec §4.2, §11.2-§11.3)."""
        return self.provisioned or self.managed or self.snapstart == SNAPSHOT

    @property
    def restored(self) -> bool:
        return self.snapstart == RESTORE

    @property
    def function_arn(self) -> str:
        return function_arn(self.function_name, self.region, self.account_id)

    def invoked_arn(self, qualifier: str) -> str:
        """The ARN its caller invoked it by: with the version or alias it named (lambda-spec §1.3)."""
        return f"{self.function_arn}:{qualifier}" if qualifier else self.function_arn

    @property
    def runtime_version_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}::runtime:lambdatui-{self.runtime_version.replace(':', '-')}"


def json_bytes(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def error_body(error_type: str, message: str) -> bytes:
    return json_bytes({"errorMessage": message, "errorType": error_type})


def forwarded_error_content_type(body: bytes, content_type: str) -> str:
    """The Content-Type the caller gets with a runtime's error (lambda-spec §1.5): the runtime's, forwarded, but JSON
    where the error sent is one Lambda made (a body built from the header, or the rest of an X-Ray cause's)."""
    if not body.strip() or not content_type or content_type.startswith(_ERROR_CAUSE_TYPE):
        return JSON
    return content_type


def forwarded_error_body(body: bytes, content_type: str, header_type: Optional[str]) -> bytes:
    """The error the caller sees: the runtime's body as-is, minus X-Ray's errorCause (lambda-spec §1.5)."""
    if not body.strip():
        return error_body(header_type or et.RUNTIME_UNKNOWN, "")
    if content_type.startswith(_ERROR_CAUSE_TYPE):
        try:
            parsed = json.loads(body)
            parsed.pop("errorCause", None)
            return json_bytes(parsed)
        except et.UNREADABLE_JSON:
            return body
    return body
