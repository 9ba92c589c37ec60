"""The fleet of execution environments as the debugger and the reporters see it (lambda-spec §11)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lambdatui.model.boundaries import Boundary, EnvState

ON_DEMAND = "on-demand"
PROVISIONED = "provisioned-concurrency"
SNAP_START = "snap-start"  # the snapshot environment (lambda-spec §4.8); restored ones say so by `restored_from`
MANAGED_INSTANCES = "lambda-managed-instances"  # --max-concurrency: one environment runs several invokes at once

# The function version the environments run (AWS_LAMBDA_FUNCTION_VERSION, START's Version, the log stream's prefix,
# X-Amz-Executed-Version): the unpublished code, or the version publishing it made, the first one being "1".
LATEST_VERSION = "$LATEST"
PUBLISHED_VERSION = "1"
# Managed Instances: an unqualified invoke runs this version, not $LATEST (AWS's "$LATEST.PUBLISHED version in Lambda
# Managed Instances"; CloudFormation and the console make it with the function).
MANAGED_VERSION = "$LATEST.PUBLISHED"

# X-Amz-Invocation-Type's values: the Invoke API takes them, a scenario's `invocation_type` names them.
REQUEST_RESPONSE, EVENT, DRY_RUN = "RequestResponse", "Event", "DryRun"

# Environments that may run at once unless `--concurrency` says otherwise. Far above what a test suite fires at
# once (parallel test workers, a load-test burst of a few dozen), so none is throttled by surprise; below Lambda's
# account default of 1,000 (lambda-spec §11.1), because each environment here is real processes on one machine:
# a runaway loop of Event invokes must not start a thousand interpreters. A throttle says which option raises it.
DEFAULT_CONCURRENCY = 100
# Throttled synchronous invokes: the body and Reason Lambda gives for reserved concurrency (§11.1).
THROTTLE_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
THROTTLE_MESSAGE = "Rate Exceeded."
# A failed Event invoke's retries (EventInvokeConfig, core/event_retries.py): Lambda's default and most retries, the
# range of MaximumEventAgeInSeconds (its default is the most), and the wait before the first retry.
MAX_RETRY_ATTEMPTS = 2
MIN_EVENT_AGE_S, MAX_EVENT_AGE_S = 60, 21600
# --idle-shutdown's longest, and a scenario's idle_shutdown's: only a number that cannot be meant, a day (so that a
# recording's idle shutdown always replays).
MAX_IDLE_SHUTDOWN_S = 86400.0
RETRY_WAIT_S = 60.0


@dataclass(frozen=True)
class EnvironmentLine:
    """One environment of the fleet, as the environments strip shows it."""

    number: int  # env #N: never reused in a run
    state: EnvState
    held_at: Optional[Boundary]
    invocations: int  # invokes it has completed
    init_type: str  # ON_DEMAND, PROVISIONED, SNAP_START or MANAGED_INSTANCES
    busy: bool  # an invoke is assigned to it (running, queued in it, or held before it runs)
    request_id: Optional[str] = None  # the invoke it runs now
    restored_from: Optional[int] = None  # SnapStart: the snapshot environment it was restored from


@dataclass(frozen=True)
class FleetCounters:
    """The fleet line: how invokes were served since the start."""

    limit: int  # --concurrency
    environments: int  # alive now
    concurrency: int  # environments busy now
    peak_concurrency: int
    cold_starts: int  # invokes that met an environment that had to initialise first
    warm_hits: int  # invokes served by an initialised, idle environment
    throttled: int  # synchronous invokes refused with 429
    queued_events: int  # Event invokes waiting for an environment now
    spun_down: int  # environments removed after --idle-shutdown seconds without an invoke
    retrying: int = 0  # Event invokes that failed, waiting for their next attempt


@dataclass
class FleetOptions:
    """How many environments the fleet may run, and how: concurrency, provisioned ones, idle shutdown,
    Managed Instances, SnapStart."""

    concurrency: int = DEFAULT_CONCURRENCY
    provisioned: int = 0
    idle_shutdown_s: Optional[float] = None
    max_concurrency: int = 0  # Lambda Managed Instances: invokes one environment runs at once (0: one, the default)
    snapstart: bool = False  # SnapStart: Init once into a snapshot, every environment restored from it (§4.8)
    # A failed Event invoke's retries (EventInvokeConfig; core/event_retries.py): how many, the event's age past
    # which it is discarded, and the wait before the first (Lambda's minute; lambdatui's --retry-wait shortens it).
    retry_attempts: int = MAX_RETRY_ATTEMPTS
    max_event_age_s: float = MAX_EVENT_AGE_S
    retry_wait_s: float = RETRY_WAIT_S

    @property
    def function_version(self) -> str:
        """The version every environment of the fleet runs. SnapStart and provisioned concurrency exist only on a
        published version, or an alias that points at one, never on $LATEST (lambda-spec §4.8, §11.2): the fleet
        stands for that version, its on-demand environments beyond the provisioned ones included (they serve the
        same alias, as Lambda's spillover does). Managed Instances run `$LATEST.PUBLISHED` (MANAGED_VERSION)."""
        if self.max_concurrency:
            return MANAGED_VERSION
        return PUBLISHED_VERSION if self.snapstart or self.provisioned else LATEST_VERSION


def describe_fleet(options: FleetOptions) -> str:
    """One line for start-up: how many environments may run, which are provisioned, when idle ones go."""
    provisioned = f", {options.provisioned} provisioned at start" if options.provisioned else ""
    idle = (f"an environment idle for {options.idle_shutdown_s:g} s is shut down (--idle-shutdown)"
            if options.idle_shutdown_s is not None else "idle environments stay (--idle-shutdown SECONDS removes them)")
    if options.snapstart:
        return (f"SnapStart: env #1 initialises once and is held as the snapshot; each invoke goes to an idle "
                f"environment or one restored from the snapshot, up to {options.concurrency} at once "
                f"(--concurrency); {idle}")
    return (f"environments: up to {options.concurrency} at once (--concurrency){provisioned}; each invoke goes to an "
            f"idle one or cold-starts a new one; {idle}")


# Said once an environment of a Managed Instances function starts (EnvironmentHost): what differs from on-demand.
MANAGED_NOTE = ("Lambda Managed Instances (--max-concurrency {m}): each environment runs up to {m} invokes at once, "
                "initialises ahead of traffic, is never frozen, and lets a timed-out handler run on; extensions may "
                "register only for SHUTDOWN, logs are JSON, there is no Logs API.")
