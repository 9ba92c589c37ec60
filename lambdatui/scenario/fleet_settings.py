"""The fleet a replay runs: the scenario's `[function]` table, with the command line winning key by key.

For `lambdatui replay` the fleet options must start unset, so that a value the scenario gives is not hidden by a
default: the replay parser takes `UNSET_FLEET_DEFAULTS` (`parser.set_defaults(**UNSET_FLEET_DEFAULTS)` after
`add_fleet_options`), and `fill_fleet_options(args, scenario.function)` puts the scenario's values, else lambdatui's
defaults, where the command line gave none, before `fleet_options(args)` checks them as it checks any command line.
"""

from __future__ import annotations

import argparse

from lambdatui.config_error import ConfigError
from lambdatui.fleet_options import UNSET, UNSET_FLEET_DEFAULTS  # noqa: F401  (where replay's parser gets them)
from lambdatui.model.fleet import DEFAULT_CONCURRENCY, MAX_EVENT_AGE_S, MAX_RETRY_ATTEMPTS, RETRY_WAIT_S, FleetOptions
from lambdatui.scenario.model import FunctionSettings, Scenario
from lambdatui.scenario.parse import ScenarioError


def fill_fleet_options(args: argparse.Namespace, settings: FunctionSettings) -> None:
    """Complete `args` (concurrency, provisioned, idle_shutdown, snapstart, max_concurrency) from the scenario where
    the command line is silent; ConfigError when what the two give together cannot run (SnapStart with provisioned
    concurrency or Managed Instances)."""
    provisioned_given, snapstart_given = args.provisioned is not None, args.snapstart is not None
    max_given = getattr(args, "max_concurrency", None) is not None
    if args.concurrency is None:
        args.concurrency = settings.concurrency if settings.concurrency is not None else DEFAULT_CONCURRENCY
    if args.provisioned is None:
        args.provisioned = settings.provisioned or 0
    if args.idle_shutdown is UNSET:
        args.idle_shutdown = settings.idle_shutdown
    if args.snapstart is None:
        args.snapstart = bool(settings.snapstart)
    if not max_given:
        args.max_concurrency = settings.max_concurrency or 0
    for name, value, default in (("maximum_retry_attempts", settings.retry_attempts, MAX_RETRY_ATTEMPTS),
                                 ("maximum_event_age", settings.max_event_age, MAX_EVENT_AGE_S),
                                 ("retry_wait", settings.retry_wait, RETRY_WAIT_S)):
        if getattr(args, name, None) is None:
            setattr(args, name, value if value is not None else default)
    max_concurrency = args.max_concurrency
    if args.snapstart and (args.provisioned or max_concurrency):
        # fleet_options refuses the pair too, but names only command-line flags: say where each one came from.
        snapstart = "--snapstart" if snapstart_given else "the scenario's snapstart = true"
        if args.provisioned:
            other = (f"--provisioned {args.provisioned}" if provisioned_given
                     else f"the scenario's provisioned = {args.provisioned}")
        else:
            other = (f"--max-concurrency {max_concurrency}" if max_given
                     else f"the scenario's max_concurrency = {max_concurrency}")
        raise ConfigError(f"{snapstart} cannot be used with {other}: Lambda's SnapStart does not support it")


def scenario_fleet(settings: FunctionSettings) -> FleetOptions:
    """The fleet of a scenario run in-process (tests, tools): its table's values, else lambdatui's defaults."""
    args = argparse.Namespace(**UNSET_FLEET_DEFAULTS)
    fill_fleet_options(args, settings)
    return FleetOptions(args.concurrency, args.provisioned, args.idle_shutdown, snapstart=args.snapstart,
                        max_concurrency=args.max_concurrency, retry_attempts=args.maximum_retry_attempts,
                        max_event_age_s=args.maximum_event_age, retry_wait_s=args.retry_wait)


def check_managed_expectations(scenario: Scenario, max_concurrency: int) -> None:
    """On Managed Instances (`max_concurrency`), `expect.globals` can never hold: the runtime's workers, several
    invokes at once in one process each, report no globals after an invoke (lambdatui's runtime does, one invoke at a
    time). Refused before anything runs, where it would fail at run time blaming the invoke."""
    if not max_concurrency:
        return
    for step in scenario.steps:
        if any(expect.globals is not None for expect in (step.expect, *(step.expect.each or ()))):
            raise ScenarioError(scenario.path, step.line, (
                f"step {step.number}: expect.globals cannot be checked on Managed Instances (max_concurrency = "
                f"{max_concurrency}): the runtime's workers report no globals (check what the handler returns, or "
                "replay without max_concurrency)"))
