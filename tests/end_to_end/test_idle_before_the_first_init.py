"""`--idle-shutdown` and env #1, which `serve`, `invoke` and the debugger start ahead of traffic: it is idle only once
its Init has run. Counted idle from its creation, a start-up slower than the idle limit (`serve` imports quart
before it starts env #1; a loaded machine) spun it down before it ever began: the debugger lost the environment it
was about to show held at init.extensions (a helper's run under load). A replay's env #1, which is not started, is
idle from the start: it stands for one that was (fleet_rules.unstarted).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.model.fleet import FleetOptions
from lambdatui.runner import open_environment

SAMPLES = Path(__file__).resolve().parents[2] / "sample_functions"
IDLE_S = 0.3
BOUND = 20.0


async def _open_then_wait(first_ahead: bool, start: bool) -> list[f.Fact]:
    """Opened with a 0.3 s idle limit, env #1 started (or not) only after twice that, then one invoke: the facts."""
    config = resolve_function(str(SAMPLES / "counter" / "handler.py"), timeout_s=3)
    facts: list[f.Fact] = []
    with trio.fail_after(BOUND):
        async with open_environment(config, fleet=FleetOptions(idle_shutdown_s=IDLE_S),
                                    first_ahead=first_ahead) as running:
            running.session.subscribe(facts.append)
            await trio.sleep(2 * IDLE_S)  # the slow start-up being stood for: nothing else happens meanwhile
            if start:
                running.host.start_environment()
                await running.session.settled()
            result, _ = await running.fleet.invoke(b"{}")
            assert not result.function_error, result
    return facts


@pytest.mark.trio
async def test_env1_started_after_the_idle_limit_is_not_spun_down_before_its_init() -> None:
    facts = await _open_then_wait(first_ahead=True, start=True)
    assert not [x for x in facts if isinstance(x, f.IdleSpunDown)], "env #1 was spun down before its Init began"
    inits = [x for x in facts if isinstance(x, f.PhaseStarted) and x.phase == "init"]
    assert len(inits) == 1, inits  # the one it was started for: the invoke found it initialised


@pytest.mark.trio
async def test_a_replays_unstarted_env1_is_idle_from_the_start() -> None:
    facts = await _open_then_wait(first_ahead=False, start=False)
    spun = [x for x in facts if isinstance(x, f.IdleSpunDown)]
    assert [x.number for x in spun] == [1], facts
