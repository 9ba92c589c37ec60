"""Environment numbers: taken when the fleet decides to start an environment, in that order, whichever starts first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.host.environment_numbers import EnvironmentNumbers
from lambdatui.model import facts as f
from lambdatui.runner import open_environment

BOUND = 60

# Holds every invoke until the file it names exists: the burst is in flight at once (bounded: a lost test fails).
WAITING = '''import os
import time


def handler(event, context):
    deadline = time.monotonic() + 20
    while not os.path.exists(event["wait_for"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return {"name": event["name"]}
'''


def test_a_reserved_number_is_the_environments_first_and_a_reset_takes_the_next_free_one() -> None:
    numbers = EnvironmentNumbers()
    first, second = numbers.reserved(), numbers.reserved()
    assert numbers.next == 3  # both taken at once, before either environment asks
    assert (second(), first()) == (2, 1)  # whichever starts first gets its own
    assert first() == 3 and numbers.next == 4  # env #1's reset: a new sandbox, a new number
    # A replay asks for #6 first (in the session #5 and #6 came up in the other order): #5 is kept for it.
    sixth = numbers.reserved(6)
    assert (sixth(), numbers.next, numbers.skipped) == (6, 7, {4, 5})
    assert numbers.reserved(5)() == 5 and numbers.skipped == {4} and numbers() == 7


@pytest.mark.trio
async def test_environments_started_together_are_numbered_in_the_order_the_fleet_routed_their_invokes(
    code_dir: Path,
) -> None:
    """A replay starts a burst's environments one by one, in the order the recording routed them, and sends each
    invoke to the number it had (`envs`): the session must number them in that order too, not as they came up."""
    handler = code_dir / "handler.py"
    handler.write_text(WAITING)
    release = code_dir / "release"
    config = resolve_function(str(handler), timeout_s=30)
    routed: list[str] = []
    env_of: dict[str, int] = {}
    told: dict[str, int] = {}  # the number the fleet said it gave, as it decided to start the environment
    with trio.fail_after(BOUND):
        async with open_environment(config) as running:
            def heard(number: int, fact: f.Fact) -> None:
                if isinstance(fact, f.EnvironmentStartedFor):
                    routed.append(fact.request_id)
                    told[fact.request_id] = fact.number
                elif isinstance(fact, f.InvocationQueued):
                    env_of[fact.request_id] = number

            running.fleet.subscribe_numbered(heard)

            async def call(name: str) -> None:
                await running.fleet.invoke(json.dumps({"name": name, "wait_for": str(release)}).encode(),
                                           request_id=name)

            async with trio.open_nursery() as nursery:
                for name in ("a", "b", "c", "d"):
                    nursery.start_soon(call, name)
                while len(env_of) < 4:
                    await running.fleet.wait_changed()
                release.touch()
    assert len(routed) == 3, routed  # env #1 was there, started ahead; the others were started for the rest
    assert [env_of[name] for name in routed] == [2, 3, 4], (routed, env_of)
    assert {name: env_of[name] for name in routed} == told, (told, env_of)
