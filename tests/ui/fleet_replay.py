"""A fleet of three counter environments for the replayed app, built from the recorded `warm` session.

env #1 is the recording itself (FROZEN after three invokes); env #2 runs invoke a4000000 on its cold start, and
env #3 is a provisioned environment held at invoke.start. Each has panels and a log of its own, so a test can tell
which one the screen shows. The fleet line: 3 environments, 2 busy (peak 3), cold 3, warm 2, 1 throttled.
"""

from __future__ import annotations

import dataclasses

from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.facts import FUNCTION, PLATFORM, LogLine
from lambdatui.model.fleet import ON_DEMAND, PROVISIONED, EnvironmentLine, FleetCounters
from replay_backend import RecordedSession, load_session

RUNNING_ID = "a4000000-0000-4000-8000-000000000004"
HELD_ID = "a5000000-0000-4000-8000-000000000005"

LINES = (
    EnvironmentLine(1, EnvState.FROZEN, None, 3, ON_DEMAND, False),
    EnvironmentLine(2, EnvState.RUNNING, None, 0, ON_DEMAND, True, RUNNING_ID),
    EnvironmentLine(3, EnvState.FROZEN, Boundary.INVOKE_START, 0, PROVISIONED, True, HELD_ID),
)
COUNTERS = FleetCounters(limit=100, environments=3, concurrency=2, peak_concurrency=3, cold_starts=3, warm_hits=2,
                         throttled=1, queued_events=0, spun_down=0)


def env_log(number: int) -> tuple[LogLine, ...]:
    """Lines only environment `number` printed: a test looks for `env #N's own line`."""
    return (LogLine(PLATFORM, f"START RequestId: {RUNNING_ID if number == 2 else HELD_ID} Version: $LATEST"),
            LogLine(FUNCTION, f"env #{number}'s own line", stream="stdout"))


def fleet_session() -> tuple[RecordedSession, dict[int, DebuggerSnapshot]]:
    """The recorded warm session as env #1 of the fleet, and the snapshots of env #2 and env #3 by number."""
    warm = load_session("warm")
    first = dataclasses.replace(warm.snapshot, environments=LINES, fleet=COUNTERS)
    cold = dataclasses.replace(
        first, globals=None, tmp=None, timeline=(), marker=None, last_result=None, last_report=None,
        last_stacks=None, memory=(), invocations=0, extensions=(),
        environment=dataclasses.replace(first.environment, participants=(), user_frozen=frozenset()),
    )
    second = dataclasses.replace(
        cold, environment_number=2, logs=env_log(2),
        environment=dataclasses.replace(cold.environment, state=EnvState.RUNNING, current_request_id=RUNNING_ID))
    third = dataclasses.replace(
        cold, environment_number=3, logs=env_log(3),
        environment=dataclasses.replace(cold.environment, state=EnvState.FROZEN, held_at=Boundary.INVOKE_START,
                                        current_request_id=HELD_ID))
    return RecordedSession("fleet", first, warm.logs), {2: second, 3: third}
