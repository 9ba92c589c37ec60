"""The command line's fleet options (lambda-spec §11): how many environments, provisioned ones, idle shutdown."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Optional

from lambdatui.config_error import ConfigError
from lambdatui.model.fleet import (DEFAULT_CONCURRENCY, MAX_EVENT_AGE_S, MAX_IDLE_SHUTDOWN_S, MAX_RETRY_ATTEMPTS,
                                   MIN_EVENT_AGE_S, RETRY_WAIT_S, FleetOptions)

# `serve` stands in for a deployed function: its idle environments go, as Lambda's do after some minutes
# (the period is unspecified; 10 minutes is generous for a local run). The debugger keeps them: the user decides.
SERVE_IDLE_SHUTDOWN_S = 600.0
# Each worker of --max-concurrency is a whole Python process with its own Init, on this machine: Lambda's default
# is 16 per vCPU (lambda-spec §11.3), and a few hundred is already more than a laptop runs comfortably.
MAX_CONCURRENCY_LIMIT = 256


# `replay`'s fleet options start unset: the scenario's [function] table fills what the command line does not give
# (scenario/fleet_settings.py).
class _Unset:
    """--idle-shutdown not given to `replay` (None already means 'off')."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()
UNSET_FLEET_DEFAULTS = {"concurrency": None, "provisioned": None, "idle_shutdown": UNSET, "snapstart": None,
                        "max_concurrency": None, "maximum_retry_attempts": None, "maximum_event_age": None,
                        "retry_wait": None}


def _idle(text: str) -> Optional[float]:
    if text.lower() in ("off", "never", "none"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds, or 'off'") from None
    if not 0 < value <= MAX_IDLE_SHUTDOWN_S:  # NaN too: no idle time would ever reach it
        raise argparse.ArgumentTypeError(f"{text}: give a positive number of seconds up to {MAX_IDLE_SHUTDOWN_S:g} "
                                         "(a day), or 'off'")
    return value


def add_fleet_options(parser: argparse.ArgumentParser, idle_default: Optional[float]) -> None:
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                        help=f"environments that may run at once (reserved concurrency); above it a synchronous "
                             f"invoke gets 429 TooManyRequestsException and an Event invoke waits (default "
                             f"{DEFAULT_CONCURRENCY}: more than a test suite fires at once, fewer than Lambda's 1,000 "
                             f"since each environment is real processes on this machine)")
    parser.add_argument("--provisioned", type=int, default=0, metavar="N",
                        help="initialise N environments at start as provisioned concurrency; invokes go to them first; "
                             "every environment runs version 1, as provisioned concurrency needs a published version")
    parser.add_argument("--max-concurrency", type=int, default=0, metavar="M",
                        help="Lambda Managed Instances: each environment runs up to M invokes at once "
                             "(AWS_LAMBDA_MAX_CONCURRENCY; Python runs M worker processes, each with its own Init); "
                             "no freeze, a timed-out handler runs on, extensions register only for SHUTDOWN")
    parser.add_argument("--snapstart", action="store_true",
                        help="SnapStart: Init runs once (as publishing a version does) and the initialised runtime is "
                             "held as the snapshot; every environment is restored from it (RESTORE_START, "
                             "after-restore hooks, Restore Duration) instead of initialised; they run version 1, the "
                             "one publishing made")
    parser.add_argument("--maximum-retry-attempts", type=int, default=MAX_RETRY_ATTEMPTS, metavar="N",
                        help=f"an Event invoke that fails (an error, a timeout, a crash) runs again up to N more "
                             f"times, as EventInvokeConfig's MaximumRetryAttempts says: 0 to {MAX_RETRY_ATTEMPTS} "
                             f"(default {MAX_RETRY_ATTEMPTS}, Lambda's)")
    parser.add_argument("--maximum-event-age", type=int, default=MAX_EVENT_AGE_S, metavar="SECONDS",
                        help=f"an Event invoke older than this gets no more attempts (MaximumEventAgeInSeconds: "
                             f"{MIN_EVENT_AGE_S} to {MAX_EVENT_AGE_S}, default {MAX_EVENT_AGE_S})")
    parser.add_argument("--retry-wait", type=float, default=RETRY_WAIT_S, metavar="SECONDS",
                        help=f"wait before a failed Event invoke's first retry; its second waits twice as long "
                             f"(default {RETRY_WAIT_S:g}: Lambda's minute; shorter to watch retries in a workshop)")
    shown = "off" if idle_default is None else f"{idle_default:g}"
    parser.add_argument("--idle-shutdown", type=_idle, default=idle_default, metavar="SECONDS",
                        help=f"shut down (SHUTDOWN spindown) an on-demand environment that served nothing for this "
                             f"long; 'off' keeps them (default {shown})")


def fleet_options(args: argparse.Namespace, function_env: Mapping[str, str]) -> FleetOptions:
    if args.concurrency < 1:
        raise ConfigError(f"--concurrency {args.concurrency}: give at least 1 (lambdatui always runs one environment; "
                          "Lambda's reserved concurrency 0 throttles every invoke of the function)")
    if args.provisioned < 0:
        raise ConfigError(f"--provisioned {args.provisioned}: give 0 or more")
    if args.provisioned > args.concurrency:
        raise ConfigError(f"--provisioned {args.provisioned} is more than --concurrency {args.concurrency}: "
                          "provisioned environments count against the concurrency limit, as in Lambda")
    max_concurrency = getattr(args, "max_concurrency", 0)
    if max_concurrency < 0 or max_concurrency > MAX_CONCURRENCY_LIMIT:
        raise ConfigError(f"--max-concurrency {max_concurrency}: give 1 to {MAX_CONCURRENCY_LIMIT} (0, the default, "
                          "runs one invoke at a time per environment)")
    check_runtime_concurrency(function_env, max_concurrency)
    snapstart = bool(getattr(args, "snapstart", False))
    if snapstart and (args.provisioned or max_concurrency):
        # Lambda refuses both on one version: SnapStart supports neither provisioned concurrency nor Managed
        # Instances.
        other = "--provisioned" if args.provisioned else "--max-concurrency"
        raise ConfigError(f"--snapstart cannot be used with {other}: Lambda's SnapStart does not support it")
    retries, age, wait = retry_settings(args)
    return FleetOptions(concurrency=args.concurrency, provisioned=args.provisioned, idle_shutdown_s=args.idle_shutdown,
                        max_concurrency=max_concurrency, snapstart=snapstart, retry_attempts=retries,
                        max_event_age_s=age, retry_wait_s=wait)


def retry_settings(args: argparse.Namespace) -> tuple[int, int, float]:
    """(retries, event age, first wait) a failed Event invoke gets; ConfigError for values EventInvokeConfig refuses
    (and a wait that is no duration)."""
    retries = getattr(args, "maximum_retry_attempts", MAX_RETRY_ATTEMPTS)
    age = getattr(args, "maximum_event_age", MAX_EVENT_AGE_S)
    wait = getattr(args, "retry_wait", RETRY_WAIT_S)
    if not 0 <= retries <= MAX_RETRY_ATTEMPTS:
        raise ConfigError(f"--maximum-retry-attempts {retries}: give 0 to {MAX_RETRY_ATTEMPTS}, as Lambda's "
                          "MaximumRetryAttempts takes")
    if not MIN_EVENT_AGE_S <= age <= MAX_EVENT_AGE_S:
        raise ConfigError(f"--maximum-event-age {age}: give {MIN_EVENT_AGE_S} to {MAX_EVENT_AGE_S} seconds, as "
                          "Lambda's MaximumEventAgeInSeconds takes")
    if not (wait >= 0 and wait < float("inf")):
        raise ConfigError(f"--retry-wait {wait:g}: give the seconds before a failed Event invoke's first retry")
    return retries, age, wait


def check_runtime_concurrency(function_env: Mapping[str, str], max_concurrency: int) -> None:
    """AWS_LAMBDA_MAX_CONCURRENCY is what Lambda tells the runtime of a Managed Instances function (lambda-spec §5,
    §11.3), which then takes that many invokes at once. Set by the user on an on-demand function, a runtime that reads
    it (lambdatui's, awslambdaric) forks workers that each ask for the one invoke in flight: its handler would run
    several times, or its workers fail."""
    if "AWS_LAMBDA_MAX_CONCURRENCY" in function_env and not max_concurrency:
        raise ConfigError("AWS_LAMBDA_MAX_CONCURRENCY: Lambda sets it for the runtime of a Managed Instances function "
                          "only, as each environment's concurrency; an on-demand environment runs one invoke at a "
                          "time. To run several at once in one environment, give --max-concurrency N instead")
