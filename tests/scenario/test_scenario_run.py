"""Running scenarios through the real host: every step kind, every expectation, held and failed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary

from scenario_support import AUDIT_EXTENSIONS, SAMPLES, freeze_scenario, replay, write_probe

NULL1 = """'{"invocations": 1, "event": {}, "greeting": null}'"""
NULL2 = """'{"invocations": 2, "event": {}, "greeting": null}'"""
INVOKE_PHASES = '["invoke.start", "invoke.response", "invoke.done"]'
COLD_PHASES = ('["init.extensions", "init.runtime", "init.function", "init.done", '
               '"invoke.start", "invoke.response", "invoke.done"]')


def responses(facts: list[f.Fact]) -> list[object]:
    return [json.loads(x.result.payload) for x in facts if isinstance(x, f.InvocationCompleted)]


# ---------------------------------------------------------------------- invokes and every expectation holding


@pytest.mark.trio
async def test_invoke_forms_and_every_invoke_expectation_hold(code_dir: Path) -> None:
    (code_dir / "events").mkdir()
    (code_dir / "events" / "third.json").write_text('{\n  "n": 3\n}\n')
    replayed = await replay(write_probe(code_dir), f"""
        [function]
        env = {{ GREETING = "hello" }}

        [[step]]
        invoke = {{ n = 1, write = "a.txt" }}
        expect.response = {{ invocations = 1, event = {{ n = 1, write = "a.txt" }}, greeting = "hello" }}
        expect.cold = true
        expect.globals = {{ invocations = "1", LABEL = "'probe'" }}
        expect.tmp = ["/tmp/a.txt"]
        expect.tmp_absent = ["/tmp/b.txt"]
        expect.phases = {COLD_PHASES}

        [[step]]
        invoke = '{{"n": 2, "write": "b.txt"}}'
        expect.response = '{{"invocations": 2, "event": {{"n": 2, "write": "b.txt"}}, "greeting": "hello"}}'
        expect.cold = false
        expect.tmp = ["/tmp/a.txt", "/tmp/b.txt"]
        expect.phases = {INVOKE_PHASES}

        [[step]]
        event_file = "events/third.json"
        expect = {{ response = {{ invocations = 3, event = {{ n = 3 }}, greeting = "hello" }}, globals = {{ invocations = "3" }} }}
    """, code_dir)
    assert replayed.result.passed, replayed.out
    assert replayed.result.steps_run == 3
    assert replayed.result.expectations == 6 + 4 + 2
    out = replayed.out
    assert "-- step 1/3: invoke {\"n\": 1, \"write\": \"a.txt\"}   [scenario.toml:5]" in out
    assert "  boundary   init.extensions" in out
    assert re.search(r"platform   REPORT RequestId: \S+  Duration: .* Init Duration", out)
    assert "  response   {\"invocations\": 1," in out
    assert "  global     invocations = 3" in out
    assert "  tmp        /tmp/b.txt  new, 1 B" in out
    assert out.count("  ok         expect ") == 3
    assert "[function]   probe: invocation 1" in replayed.err  # the function's own output, tagged


@pytest.mark.trio
async def test_verbose_puts_the_functions_output_in_the_timeline(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), "[[step]]\ninvoke = {}\n", code_dir, verbose=True)
    assert "  function   probe: invocation 1" in replayed.out
    assert replayed.err == ""


# ---------------------------------------------------------------------- failing expectations


@pytest.mark.trio
async def test_a_failing_response_stops_the_run_with_a_json_diff(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        invoke = { n = 1 }
        expect.cold = true
        expect.response = { invocations = 2, event = { n = 1 }, greeting = "hi" }

        [[step]]
        invoke = {}
    """, code_dir)
    result = replayed.result
    assert not result.passed and result.steps_run == 1 and result.failed_step.number == 1
    assert result.mismatch.key == "response"
    diff = result.mismatch.diff
    assert diff.startswith("--- expected\n+++ actual\n")
    assert '-  "greeting": "hi",' in diff and '+  "greeting": null,' in diff
    assert '-  "invocations": 2' in diff and '+  "invocations": 1' in diff
    assert f"FAILED     expect.response at step 1 ({code_dir / 'scenario.toml'}:2)" in replayed.out
    assert '    -  "invocations": 2' in replayed.out
    assert "step 2/2" not in replayed.out


def test_json_comparison_is_structural() -> None:
    from lambdatui.scenario.match import json_equal

    assert json_equal({"a": 1, "b": [1.0, "x"]}, {"b": [1, "x"], "a": 1.0})
    assert not json_equal({"a": True}, {"a": 1})
    assert not json_equal([1, 2], [2, 1])
    assert not json_equal({"a": None}, {})
    assert not json_equal("1", 1)


@pytest.mark.trio
@pytest.mark.parametrize("expect, key, expected, actual", [
    ('error_type = "Sandbox.Timedout"', "error_type", "Sandbox.Timedout", "(none: the invoke succeeded)"),
    ("cold = false", "cold", "false", "true"),
    ('globals = { invocations = "5", MISSING = "1" }', "globals",
     "invocations = 5, MISSING = 1", "invocations = 1, MISSING: (no such global)"),
    ('tmp = ["/tmp/a.txt", "/tmp/nope"]', "tmp", "these exist: /tmp/a.txt, /tmp/nope",
     "missing: /tmp/nope; /tmp holds: /tmp/a.txt"),
    ('tmp_absent = ["/tmp/a.txt"]', "tmp_absent", "none of these exist: /tmp/a.txt", "present: /tmp/a.txt"),
    ('shutdown_reason = "timeout"', "shutdown_reason", "timeout",
     "(no SHUTDOWN event reached an extension during this step)"),
    (f"phases = {INVOKE_PHASES}", "phases", "invoke.start, invoke.response, invoke.done",
     "init.extensions, init.runtime, init.function, init.done, invoke.start, invoke.response, invoke.done"),
])
async def test_each_failing_expectation_says_expected_and_actual(
        code_dir: Path, expect: str, key: str, expected: str, actual: str) -> None:
    replayed = await replay(write_probe(code_dir), f"""
        [[step]]
        invoke = {{ write = "a.txt" }}
        expect = {{ {expect} }}
    """, code_dir)
    mismatch = replayed.result.mismatch
    assert mismatch is not None, replayed.out
    assert (mismatch.key, mismatch.expected, mismatch.actual) == (key, expected, actual)
    assert f"FAILED     expect.{key} at step 1" in replayed.out
    if mismatch.diff is None:
        assert f"  expected   {expected}" in replayed.out and f"  actual     {actual}" in replayed.out
    else:
        assert mismatch.diff in replayed.out.replace("\n    ", "\n")


@pytest.mark.trio
async def test_the_first_failing_expectation_is_reported(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        invoke = {}
        expect = { phases = [], cold = false, response = 'null' }
    """, code_dir)
    assert replayed.result.mismatch.key == "response"  # checked in a fixed order: response first


# ---------------------------------------------------------------------- faults


@pytest.mark.trio
async def test_crash_now_resets_the_idle_environment(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        invoke = { write = "kept.txt" }

        [[step]]
        fault = "crash"
        target = "runtime"
        expect = { shutdown_reason = "failure", tmp = ["/tmp/kept.txt"], phases = ["shutdown.start", "shutdown.done"] }

        [[step]]
        invoke = {}
        expect = { cold = true, globals = { invocations = "1" }, tmp = ["/tmp/kept.txt"] }
    """, code_dir, extensions=AUDIT_EXTENSIONS)
    assert replayed.result.passed, replayed.out
    assert "  fault      crash runtime (SIGKILL)" in replayed.out
    assert "  exited     runtime: signal: killed" in replayed.out
    assert "  SHUTDOWN   failure -> extension audit" in replayed.out
    assert "  reset      reason: failure" in replayed.out


@pytest.mark.trio
async def test_crashing_an_extension_resets_the_environment(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        invoke = {}

        [[step]]
        fault = "crash"
        target = "audit"
        signal = "SIGKILL"
        expect.phases = ["shutdown.start", "shutdown.done"]

        [[step]]
        invoke = {}
        expect = { cold = true, globals = { invocations = "1" } }
    """, code_dir, extensions=AUDIT_EXTENSIONS)
    assert replayed.result.passed, replayed.out
    assert "  exited     extension:audit: signal: killed" in replayed.out


@pytest.mark.trio
async def test_crash_with_an_exit_code_and_with_a_signal_name(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        invoke = {}

        [[step]]
        fault = "crash"
        exit_code = 3
        expect.phases = ["shutdown.start", "shutdown.done"]

        [[step]]
        invoke = {}
        expect.cold = true

        [[step]]
        fault = "crash"
        signal = "TERM"
        expect.phases = ["shutdown.start", "shutdown.done"]
    """, code_dir)
    assert replayed.result.passed, replayed.out
    assert "  exited     runtime: exit status 3" in replayed.out
    assert "  fault      crash runtime (SIGTERM)" in replayed.out


@pytest.mark.trio
async def test_crash_armed_for_invoke_start_fails_that_invoke(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        invoke = {}

        [[step]]
        fault = "crash"
        at = "invoke.start"

        [[step]]
        invoke = {}
        expect = { error_type = "Runtime.ExitError", cold = false, phases = ["invoke.start", "shutdown.start", "shutdown.done"] }

        [[step]]
        invoke = {}
        expect = { cold = true, response = NULL1 }
    """.replace("NULL1", NULL1), code_dir)
    assert replayed.result.passed, replayed.out
    assert "  armed      crash runtime (SIGKILL) at invoke.start" in replayed.out
    assert "  error      Runtime.ExitError" in replayed.out


@pytest.mark.trio
async def test_freeze_runs_the_invoke_into_its_timeout_and_thaw_undoes_it(code_dir: Path) -> None:
    frozen = await replay(write_probe(code_dir), freeze_scenario(
        'expect = { error_type = "Sandbox.Timedout", cold = false, phases = ["invoke.start", "shutdown.start", '
        '"shutdown.done"] }'), code_dir)
    assert frozen.result.passed, frozen.out
    assert "Task timed out after 1.00 seconds" in frozen.out

    thawed = await replay(write_probe(code_dir), """
        [function]
        timeout = 1

        [[step]]
        invoke = {}

        [[step]]
        fault = "freeze"

        [[step]]
        fault = "thaw"

        [[step]]
        invoke = {}
        expect = { cold = false, response = NULL2 }
    """.replace("NULL2", NULL2), code_dir)
    assert thawed.result.passed, thawed.out
    assert "  fault      thaw runtime" in thawed.out


@pytest.mark.trio
async def test_raise_makes_the_next_handler_entry_raise(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        fault = "raise"
        exception = "KeyError"
        message = "injected"

        [[step]]
        invoke = {}
        expect = { error_type = "KeyError", cold = true }

        [[step]]
        invoke = {}
        expect.response = '{"invocations": 1, "event": {}, "greeting": null}'
    """, code_dir)
    assert replayed.result.passed, replayed.out
    assert "  fault      raise KeyError('injected') in the handler" in replayed.out


@pytest.mark.trio
async def test_timeout_armed_in_init_fails_init_and_the_invoke_retries_it(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        fault = "timeout"
        at = "init.function"

        [[step]]
        invoke = {}
        expect = { cold = true, response = NULL1 }
    """.replace("NULL1", NULL1), code_dir)
    assert replayed.result.passed, replayed.out
    assert re.search(r"INIT_REPORT Init Duration: \S+ ms  Phase: init  Status: timeout", replayed.out)


@pytest.mark.trio
async def test_init_error_on_an_extension_is_retried_by_the_invoke(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        fault = "init-error"
        target = "audit"

        [[step]]
        invoke = {}
        expect = { cold = true, response = NULL1 }
    """.replace("NULL1", NULL1), code_dir, extensions=AUDIT_EXTENSIONS)
    assert replayed.result.passed, replayed.out
    assert "Error Type: Extension.InitError" in replayed.out


# ---------------------------------------------------------------------- new environment, shutdown, pause


@pytest.mark.trio
async def test_new_environment_starts_cold_with_an_empty_tmp(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        invoke = { write = "old.txt" }

        [[step]]
        new_environment = true
        expect = { tmp_absent = ["/tmp/old.txt"], shutdown_reason = "spindown" }

        [[step]]
        invoke = {}
        expect = { cold = true, globals = { invocations = "1" }, tmp_absent = ["/tmp/old.txt"] }
    """, code_dir, extensions=AUDIT_EXTENSIONS)
    assert replayed.result.passed, replayed.out
    assert "New execution environment" in replayed.out


@pytest.mark.trio
async def test_shutdown_sends_spindown_and_later_invokes_fail(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        invoke = {}

        [[step]]
        shutdown = true
        expect = { shutdown_reason = "spindown", phases = ["shutdown.start", "shutdown.done"] }

        [[step]]
        new_environment = true

        [[step]]
        invoke = {}
        expect.error_type = "Sandbox.Failure"
    """, code_dir, extensions=AUDIT_EXTENSIONS)
    assert replayed.result.passed, replayed.out
    assert "  SHUTDOWN   spindown -> extension audit" in replayed.out
    assert "  shutdown   reason: spindown" in replayed.out
    assert ("  refused    new environment: Not replaced: this environment is shut down for good, so there is nothing "
            "to replace.") in replayed.out


@pytest.mark.trio
async def test_pause_keeps_the_environment_frozen(code_dir: Path) -> None:
    replayed = await replay(SAMPLES / "background" / "handler.py", """
        [[step]]
        invoke = {}

        [[step]]
        pause = 1

        [[step]]
        invoke = {}
        expect = { cold = false }
    """, code_dir)
    assert replayed.result.passed, replayed.out
    assert "  idle       1 s passed; the environment is FROZEN" in replayed.out
    before, after = (r["ticks"] for r in responses(replayed.facts))
    assert after - before < 50, (before, after)  # an unfrozen ticker gains ~100 a second


@pytest.mark.trio
async def test_a_step_that_does_not_settle_in_its_bound_is_reported_stuck(code_dir: Path) -> None:
    # A negative margin makes the bound shorter than the pause itself: the step outlives it.
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        pause = 2

        [[step]]
        invoke = {}
    """, code_dir, margin_s=-1.5)
    result = replayed.result
    assert result.failed_step.number == 1 and result.stuck is not None and result.steps_run == 1
    assert "  STUCK      step 1 (" in replayed.out and "did not settle within 0.5 s" in replayed.out
    assert "environment COLD" in result.stuck


# ---------------------------------------------------------------------- timeouts show where the handler was


@pytest.mark.trio
async def test_a_timeout_shows_the_innermost_user_frames(code_dir: Path) -> None:
    replayed = await replay(SAMPLES / "slow" / "handler.py", """
        [function]
        timeout = 1

        [[step]]
        invoke = { seconds = 5 }
        expect = { error_type = "Sandbox.Timedout", cold = true }
    """, code_dir)
    assert replayed.result.passed, replayed.out
    lines = replayed.out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  stack      where the handler was"))
    assert re.fullmatch(r"\s+handler\.py:\d+ in wait_for_downstream", lines[at + 1])
    assert re.fullmatch(r"\s+handler\.py:\d+ in handler", lines[at + 2])
    assert any(isinstance(x, f.BoundaryReached) and x.boundary is Boundary.SHUTDOWN_DONE for x in replayed.facts)


@pytest.mark.trio
async def test_a_forced_timeout_at_invoke_response_reports_the_boundary_before_the_reset(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        invoke = {}

        [[step]]
        fault = "timeout"
        at = "invoke.response"

        [[step]]
        invoke = {}
        expect.phases = ["invoke.start", "invoke.response", "shutdown.start", "shutdown.done"]
    """, code_dir)
    assert replayed.result.passed, replayed.out


@pytest.mark.trio
async def test_a_managed_instances_timeout_is_not_called_a_reset(code_dir: Path) -> None:
    """Lambda Managed Instances reset nothing (lambda-spec §11.3): the timed-out handler runs on, and the next invoke
    is warm in the same environment. The outcome line said "the environment was reset" all the same."""
    handler = code_dir / "handler.py"
    handler.write_text("import time\n\n\ndef handler(event, context):\n    time.sleep(event.get('s', 0))\n"
                       "    return 'done'\n")
    replayed = await replay(handler, """
        [function]
        timeout = 1
        max_concurrency = 2

        [[step]]
        invoke = { s = 1.5 }
        expect.error_type = "Sandbox.Timedout"

        [[step]]
        invoke = {}
        expect = { response = '"done"', cold = false }
    """, code_dir)
    assert replayed.result.passed, replayed.out
    outcome = next(line for line in replayed.out.splitlines() if "outcome    TIMEOUT" in line)
    assert "the environment was reset" not in outcome, outcome
    assert "Lambda Managed Instances" in outcome, outcome
