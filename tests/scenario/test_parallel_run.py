"""Parallel steps and the fleet's expectations, run against the real host: every environment is real processes.

The probe answers at once: a parallel step's invokes are in flight together all the same, since each waits at
invoke.start until the last is placed. Waits are the runner's own (facts, `settled()`), each bounded by the
replay's bound.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lambdatui.model.fleet import FleetCounters
from lambdatui.scenario.checks import check_fleet
from lambdatui.scenario.model import Expect
from scenario_support import SAMPLES, replay, write_probe



START = re.compile(r"^(#\d+) +platform +START RequestId", re.MULTILINE)


def blocks(out: str) -> list[str]:
    """The timeline's step blocks, in order."""
    return re.split(r"^-- step \d+/\d+: ", out, flags=re.MULTILINE)[1:]


@pytest.mark.trio
async def test_invokes_sent_together_cold_start_an_environment_each_and_later_ones_spread_warm(code_dir: Path) -> None:
    function = write_probe(code_dir)
    done = await replay(function, """
        [[step]]
        parallel = [{ write = "a" }, { write = "b" }, { write = "c" }]
        expect.each = [
          { cold = true, response = { invocations = 1, event = { write = "a" } }, globals = { invocations = "1" }, tmp = ["/tmp/a"], tmp_absent = ["/tmp/b", "/tmp/c"] },
          { cold = true, response = { invocations = 1, event = { write = "b" } }, tmp = ["/tmp/b"], tmp_absent = ["/tmp/a"] },
          { cold = true, response = { invocations = 1, event = { write = "c" } }, tmp = ["/tmp/c"], tmp_absent = ["/tmp/a"] },
        ]
        expect.environments = 3
        expect.cold_starts = 3
        expect.warm_hits = 0

        [[step]]
        invoke = {}
        expect = { cold = false, response = { invocations = 2 }, warm_hits = 1, cold_starts = 0, environments = 3 }

        [[step]]
        invoke = {}
        expect = { cold = false, response = { invocations = 2 }, warm_hits = 1 }

        [[step]]
        invoke = {}
        expect = { cold = false, response = { invocations = 2 }, warm_hits = 1 }
    """, code_dir)
    assert done.result.passed, done.out
    # Each invoke's keys count (the /tmp checks prove each ran in a /tmp of its own), then the 3 counts; 5 + 3 + 3.
    assert done.result.expectations == (5 + 4 + 4) + 3 + (5 + 3 + 3), done.out
    assert done.result.invokes == 6 and done.result.invoke_errors == 0
    first, *sequential = blocks(done.out)
    # Each invoke is named with its environment as it is routed, in the order written.
    placed = re.findall(r"^(#\d+) +invoke +parallel\[(\d)\] .* -> env (#\d+)$", first, re.MULTILINE)
    assert [(tag, position, env) for tag, position, env in placed] == [
        ("#1", "0", "#1"), ("#2", "1", "#2"), ("#3", "2", "#3")], first
    assert sorted(START.findall(first)) == ["#1", "#2", "#3"], first
    assert first.count("INIT_START") == 3
    assert "fleet      3 environments alive; this step: 3 cold starts, 0 warm hits" in first
    # The warm hits go to the environment idle the longest: a different one each time.
    served = [START.findall(block) for block in sequential]
    assert all(len(tags) == 1 for tags in served), sequential
    assert sorted(tags[0] for tags in served) == ["#1", "#2", "#3"], sequential
    assert not any("INIT_START" in block for block in sequential)


@pytest.mark.trio
async def test_a_throttled_invoke_is_checked_by_its_error_type_and_counted(code_dir: Path) -> None:
    function = write_probe(code_dir)
    done = await replay(function, """
        [function]
        concurrency = 2

        [[step]]
        parallel = [{}, {}, {}]
        expect.each = [{ cold = true }, { cold = true }, { error_type = "TooManyRequestsException" }]
        expect.environments = 2
        expect.throttled = 1
        expect.cold_starts = 2

        [[step]]
        invoke = {}
        expect = { cold = false, throttled = 0, warm_hits = 1 }
    """, code_dir)
    assert done.result.passed, done.out
    assert done.result.invokes == 4 and done.result.invoke_errors == 1  # the throttle is the caller's error
    first = blocks(done.out)[0]
    assert re.search(r"^ +invoke +parallel\[2\] \{\} -> throttled \(429\)$", first, re.MULTILINE), first
    assert re.search(r"^ +outcome +parallel\[2\]: THROTTLED 429 TooManyRequestsException", first, re.MULTILINE), first
    assert "all 2 environments are busy (--concurrency 2)" in first  # the fleet's own line says why


@pytest.mark.trio
async def test_an_event_invoke_of_a_parallel_step_is_routed_before_the_next_invoke_is_sent(code_dir: Path) -> None:
    """An Event invoke is placed once the fleet's queue has it and routed when its turn comes. The next invoke of the
    step waits for that routing too: sent at once, it found the number it names (`envs`) not yet the next to be
    given (the Event's new environment had not taken #2), was routed as usual to the idle env #1, and the Event
    then started #2 and #3 was never used (a bug hunt: `response.calls`/`invocations` one too many, 3 of 3)."""
    function = write_probe(code_dir)
    done = await replay(function, """
        [[step]]
        invoke = { n = 1 }
        expect = { response = { invocations = 1 } }

        [[step]]
        parallel = [{ n = 2 }, { n = 3 }]
        invocation_types = ['Event', 'RequestResponse']
        envs = [2, 3]
        expect.each = [{ response = { invocations = 1 } }, { response = { invocations = 1 } }]
    """, code_dir)
    assert done.result.passed, done.out
    assert "is not alive; routed as usual" not in done.out, done.out


@pytest.mark.trio
async def test_an_invoke_of_a_parallel_step_that_differs_is_named_by_its_position(code_dir: Path) -> None:
    function = write_probe(code_dir)
    done = await replay(function, """
        [function]
        concurrency = 2

        [[step]]
        parallel = [{}, {}, {}]
        expect.each = [{ cold = true }, { cold = true }, { cold = true }]
    """, code_dir)
    assert not done.result.passed
    mismatch = done.result.mismatch
    assert mismatch is not None and mismatch.key == "each[2].cold", done.out
    assert mismatch.actual == "(throttled: 429 TooManyRequestsException, no environment ran it)"
    assert "FAILED     expect.each[2].cold at step 1" in done.out


@pytest.mark.trio
async def test_an_idle_environment_is_shut_down_during_a_pause_and_the_next_invoke_starts_cold(code_dir: Path) -> None:
    function = write_probe(code_dir)
    done = await replay(function, """
        [function]
        idle_shutdown = 1

        [[step]]
        invoke = {}
        expect = { cold = true, environments = 1 }

        [[step]]
        pause = 3
        expect = { environments = 0, spun_down = 1, phases = ["shutdown.start", "shutdown.done"] }

        [[step]]
        invoke = {}
        expect = { cold = true, response = { invocations = 1 }, cold_starts = 1, environments = 1, spun_down = 0 }
    """, code_dir)
    assert done.result.passed, done.out
    _, pause, last = blocks(done.out)
    assert "#1  lambdatui  env #1 has been idle for 1 s" in pause, pause
    assert "fleet      0 environments alive; this step: 0 cold starts, 0 warm hits, 0 throttled, 1 spun down" in pause
    assert START.findall(last) == ["#2"], last  # a new environment, with a number of its own


@pytest.mark.trio
async def test_a_provisioned_environment_takes_the_first_invoke_warm_and_a_burst_spills_over(code_dir: Path) -> None:
    function = write_probe(code_dir)
    done = await replay(function, """
        [function]
        provisioned = 1

        [[step]]
        invoke = {}
        expect = { cold = false, response = { invocations = 1 }, warm_hits = 1, cold_starts = 0, environments = 1 }

        [[step]]
        parallel = [{}, {}]
        expect.each = [{ cold = false, response = { invocations = 2 } }, { cold = true, response = { invocations = 1 } }]
        expect.environments = 2
        expect.cold_starts = 1
        expect.warm_hits = 1
    """, code_dir)
    assert done.result.passed, done.out
    first = blocks(done.out)[0]
    # Its Init ran before the invoke was sent: INIT_REPORT (always logged for provisioned ones), no Init Duration.
    assert first.index("INIT_REPORT") < first.index("platform   START"), first
    assert "Init Duration" not in first.split("platform   START", 1)[1]


@pytest.mark.trio
async def test_each_environments_extension_receives_the_telemetry_of_its_own_invoke(code_dir: Path) -> None:
    """Both environments run an extension of the same name: each invoke's records are the ones its own environment's
    extension received, the last of them at the next invoke or at the final shutdown."""
    again = '{ cold = false, telemetry = { extension = "telemetry", exact = true, types = ["platform.start", ' \
            '"function", "platform.runtimeDone", "platform.report"] } }'
    done = await replay(SAMPLES / "telemetry" / "handler.py", f"""
        [[step]]
        parallel = ['{{"linger_ms": 300}}', '{{"linger_ms": 300}}']
        expect.each = [{{ cold = true }}, {{ cold = true }}]

        [[step]]
        parallel = ['{{"linger_ms": 300}}', '{{"linger_ms": 300}}']
        expect.each = [{again}, {again}]
    """, code_dir)
    assert done.result.passed, done.out
    assert "ok         expect telemetry (telemetry) of step 2, parallel[0]" in done.out
    assert "ok         expect telemetry (telemetry) of step 2, parallel[1]" in done.out


@pytest.mark.trio
async def test_a_single_environment_replay_reads_as_before_without_environment_numbers(code_dir: Path) -> None:
    function = write_probe(code_dir)
    done = await replay(function, """
        [[step]]
        invoke = {}
        expect.cold = true
    """, code_dir)
    assert done.result.passed, done.out
    assert re.search(r"^  outcome    success$", done.out, re.MULTILINE), done.out
    assert not re.search(r"^#\d", done.out, re.MULTILINE) and "fleet " not in done.out


def test_fleet_counts_compare_what_the_step_added_and_what_is_alive_after_it() -> None:
    before = FleetCounters(100, 1, 0, 1, 1, 4, 0, 0, 0)
    after = FleetCounters(100, 3, 0, 3, 3, 5, 1, 0, 0)
    assert check_fleet(Expect(environments=3, cold_starts=2, warm_hits=1, throttled=1, spun_down=0),
                       before, after, 3) is None
    mismatch = check_fleet(Expect(cold_starts=3), before, after, 3)
    assert mismatch is not None and mismatch.key == "cold_starts"
    assert (mismatch.expected, mismatch.actual) == ("3 during the step", "2 during the step")
    assert mismatch.detail == ("fleet: 3 environments alive (limit 100), since the start: 3 cold starts, 5 warm hits, "
                               "1 throttled, 0 spun down")
    alive = check_fleet(Expect(environments=2), before, after, 1)
    assert alive is not None and (alive.expected, alive.actual) == ("2 alive after the step", "1 alive after the step")
