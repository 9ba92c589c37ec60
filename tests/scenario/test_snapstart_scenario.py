"""SnapStart in scenarios: `[function] snapstart = true`, and `expect.same` / `expect.distinct`, which compare a
parallel step's invokes with one another (the same id in every restored environment, or a different one in each).

Parsing and the checks are unit tests; the replays and recordings run real processes: a snapshot environment (env #1)
and environments restored from it, whose runtimes are forks of the snapshot's.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from lambdatui.cli import build_parser
from lambdatui.config import resolve_function
from lambdatui.config_error import ConfigError
from lambdatui.fleet_options import fleet_options
from lambdatui.model import facts as f
from lambdatui.model.fleet import FleetOptions
from lambdatui.runner import open_environment
from lambdatui.scenario.checks import Observed, check_across
from lambdatui.scenario.fleet_settings import UNSET_FLEET_DEFAULTS, fill_fleet_options, scenario_fleet
from lambdatui.scenario.model import Expect, FunctionSettings, ParallelAction
from lambdatui.scenario.parse import ScenarioError, parse_scenario
from lambdatui.scenario.record import Recorder
from scenario_support import BOUND, CLI_TIMEOUT, PROBE, SAMPLES, lambdatui_argv, replay, run_cli, write_probe

SNAPSTART_SAMPLE = SAMPLES / "snapstart"
HOOKS = importlib.util.find_spec("snapshot_restore_py") is not None
needs_hooks = pytest.mark.skipif(not HOOKS, reason="snapshot_restore_py is not installed (pip install "
                                                   "snapshot-restore-py, or the test extras)")

# Made during Init: in the snapshot's process, so in every environment restored from it.
INIT_ID = '''import os
import uuid

INSTANCE_ID = uuid.uuid4().hex
invocations = 0


def handler(event, context):
    global invocations
    invocations += 1
    return {"id": INSTANCE_ID, "pid": os.getpid(), "invocations": invocations,
            "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}
'''

RESTORE_ID = INIT_ID.replace("invocations = 0\n", '''invocations = 0

from snapshot_restore_py import register_after_restore


@register_after_restore
def again():
    global INSTANCE_ID
    INSTANCE_ID = uuid.uuid4().hex
''')

THREE_RESTORES = """
    [function]
    snapstart = true

    [[step]]
    parallel = [{ n = 1 }, { n = 2 }, { n = 3 }]
    expect.each = [
      { cold = true, response = { invocations = 1, init_type = "snap-start" } },
      { cold = true, response = { invocations = 1 } },
      { cold = true, response = { invocations = 1 } },
    ]
    %s
    expect.environments = 4
    expect.cold_starts = 3
"""


def parse(text: str):
    return parse_scenario(textwrap.dedent(text), Path("s.toml"))


def error_of(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse(text)
    return caught.value


def blocks(out: str) -> list[str]:
    return re.split(r"^-- step \d+/\d+: ", out, flags=re.MULTILINE)[1:]


# ---------------------------------------------------------------------- [function] snapstart


def test_the_function_table_turns_snapstart_on() -> None:
    assert parse("[function]\nsnapstart = true\n[[step]]\ninvoke = {}\n").function.snapstart is True
    assert parse("[function]\nsnapstart = false\n[[step]]\ninvoke = {}\n").function.snapstart is False
    assert parse("[[step]]\ninvoke = {}\n").function.snapstart is None
    # Off is off even next to provisioned environments.
    assert parse("[function]\nsnapstart = false\nprovisioned = 1\n[[step]]\ninvoke = {}\n").function.provisioned == 1


@pytest.mark.parametrize("text, message", [
    ("[function]\nsnapstart = 'yes'\n", "[function]: snapstart = 'yes': write snapstart = true"),
    ("[function]\nsnapstart = 1\n", "[function]: snapstart = 1: write snapstart = true"),
    ("[function]\nsnapstart = true\nprovisioned = 2\n",
     "[function]: snapstart = true cannot go with provisioned = 2: Lambda's SnapStart does not support provisioned "
     "concurrency"),
    ("[function]\nsnap_start = true\n", "unknown key 'snap_start' (did you mean 'snapstart'?)"),
])
def test_a_wrong_snapstart_is_refused_at_the_function_table(text: str, message: str) -> None:
    error = error_of("# a comment first\n" + text + "\n[[step]]\ninvoke = {}\n")
    assert error.line == 2, error
    assert message in str(error), error


def replay_args(*options: str) -> argparse.Namespace:
    return build_parser().parse_args(["replay", *options, "handler.py", "s.toml"])


def test_replay_takes_snapstart_from_the_scenario_unless_the_command_line_gives_it() -> None:
    args = replay_args()
    assert args.snapstart is None  # unset, so that the scenario's table can fill it in
    fill_fleet_options(args, FunctionSettings(snapstart=True))
    assert fleet_options(args, {}).snapstart is True
    args = replay_args("--snapstart")
    fill_fleet_options(args, FunctionSettings())
    assert fleet_options(args, {}).snapstart is True
    args = replay_args()
    fill_fleet_options(args, FunctionSettings())
    assert fleet_options(args, {}).snapstart is False
    assert scenario_fleet(FunctionSettings(snapstart=True)) == FleetOptions(snapstart=True)
    assert scenario_fleet(FunctionSettings()).snapstart is False
    assert UNSET_FLEET_DEFAULTS["snapstart"] is None


@pytest.mark.parametrize("options, settings, message", [
    (("--provisioned", "1"), FunctionSettings(snapstart=True),
     "the scenario's snapstart = true cannot be used with --provisioned 1"),
    (("--max-concurrency", "4"), FunctionSettings(snapstart=True),
     "the scenario's snapstart = true cannot be used with --max-concurrency 4"),
    (("--snapstart",), FunctionSettings(provisioned=2),
     "--snapstart cannot be used with the scenario's provisioned = 2"),
    (("--snapstart", "--provisioned", "1"), FunctionSettings(), "--snapstart cannot be used with --provisioned 1"),
])
def test_snapstart_with_provisioned_or_managed_instances_names_where_each_came_from(
        options: tuple[str, ...], settings: FunctionSettings, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        fill_fleet_options(replay_args(*options), settings)
    assert message in str(caught.value)
    assert "Lambda's SnapStart does not support it" in str(caught.value)


# ---------------------------------------------------------------------- expect.same / expect.distinct: parsing


PARALLEL = "[[step]]\nparallel = [{ n = 1 }, { n = 2 }]\n"


def test_same_and_distinct_name_values_of_the_responses_by_their_keys() -> None:
    (step,) = parse(PARALLEL + 'expect.same = "id"\nexpect.distinct = ["pid", "body.env.number"]\n').steps
    assert step.expect.same == (("id",),)
    assert step.expect.distinct == (("pid",), ("body", "env", "number"))
    assert step.expect.keys() == ("same", "distinct")
    # Beside each invoke's own expectations and the fleet's counts.
    (step,) = parse(PARALLEL + 'expect.each = [{ cold = true }, {}]\nexpect.same = ["id"]\n'
                               'expect.cold_starts = 2\n').steps
    assert step.expect.keys() == ("each", "same", "cold_starts")


@pytest.mark.parametrize("text, message", [
    ("[[step]]\ninvoke = {}\nexpect.same = \"id\"\n",
     "step 1: expect.same compares the invokes of one parallel step with one another: write it on a step with "
     "parallel = [...]"),
    ("[[step]]\npause = 1\nexpect.distinct = \"id\"\n", "step 1: expect.distinct compares the invokes of one parallel"),
    (PARALLEL + "expect.each = [{ same = \"id\" }, {}]\n",
     "step 1: expect.each[0].same makes no sense here: expect.each holds what one invoke returned"),
    (PARALLEL + "expect.same = []\n", "step 1: expect.same is an empty array: name at least one value"),
    (PARALLEL + "expect.same = 3\n", "step 1: expect.same must name a value of the response by its keys"),
    (PARALLEL + "expect.distinct = [\"id\", 3]\n", "step 1: expect.distinct[1] must name a value"),
    (PARALLEL + "expect.same = \"body..id\"\n", "step 1: expect.same = 'body..id': give the keys that lead"),
    (PARALLEL + "expect.same = \"\"\n", "step 1: expect.same = '': give the keys"),
    (PARALLEL + "expect.same = [\"id\", \"id\"]\n", "step 1: expect.same[1]: 'id' is named twice"),
    (PARALLEL + "expect.same = \"id\"\nexpect.distinct = [\"pid\", \"id\"]\n",
     "step 1: 'id' is in both expect.same and expect.distinct"),
])
def test_malformed_comparisons_say_what_is_wrong(text: str, message: str) -> None:
    error = error_of(text)
    assert error.line == 1, error
    assert message in str(error), error


# ---------------------------------------------------------------------- expect.same / expect.distinct: checking


def answered(payload: object, **result: object) -> Observed:
    text = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Observed("r", result=f.InvocationResult("r", text, **result))  # type: ignore[arg-type]


def test_same_holds_when_every_invoke_has_an_equal_value() -> None:
    invokes = [answered({"id": "a", "pid": n, "body": {"x": [1, 2]}}) for n in range(3)]
    assert check_across(Expect(same=(("id",), ("body", "x"))), invokes) is None
    assert check_across(Expect(distinct=(("pid",),)), invokes) is None


def test_same_fails_on_the_first_invoke_that_differs() -> None:
    invokes = [answered({"id": "a"}), answered({"id": "a"}), answered({"id": "b"})]
    mismatch = check_across(Expect(same=(("id",),)), invokes)
    assert mismatch is not None
    assert mismatch.key == "same"
    assert mismatch.detail == 'response.id: parallel[2] got "b", parallel[0] got "a"'
    assert mismatch.expected == "response.id the same in all 3 invokes"
    assert mismatch.actual == 'parallel[0] "a", parallel[1] "a", parallel[2] "b"'


def test_distinct_fails_on_the_first_pair_that_is_equal() -> None:
    invokes = [answered({"id": 1}), answered({"id": 2}), answered({"id": 1.0})]  # JSON: 1 is 1.0
    mismatch = check_across(Expect(distinct=(("id",),)), invokes)
    assert mismatch is not None and mismatch.key == "distinct"
    assert mismatch.detail == "response.id: parallel[0] and parallel[2] both got 1.0"
    assert mismatch.expected == "response.id different in each of the 3 invokes"
    # true is not 1, as everywhere in the scenario language
    assert check_across(Expect(distinct=(("id",),)), [answered({"id": True}), answered({"id": 1})]) is None


@pytest.mark.parametrize("path, seen, why", [
    (("id",), answered({"other": 1}), "no such key"),
    (("id", "inner"), answered({"id": "not an object"}), "no such key"),
    (("id",), answered(b"not json"), "a response that is not JSON"),
    (("id",), answered({"errorType": "KeyError"}, function_error=True, error_type="KeyError"), "failed with KeyError"),
    (("id",), Observed("r", throttled=True), "throttled (429), no response"),
    (("id",), Observed("r"), "no response"),
])
def test_an_invoke_without_the_value_fails_either_comparison(path: tuple[str, ...], seen: Observed, why: str) -> None:
    good = answered({"id": {"inner": 1}} if len(path) == 2 else {"id": 1})
    for expect in (Expect(same=(path,)), Expect(distinct=(path,))):
        mismatch = check_across(expect, [good, seen])
        assert mismatch is not None
        assert mismatch.detail == f"response.{'.'.join(path)}: parallel[1] has no value to compare ({why})"


def test_a_key_that_is_no_bare_word_is_shown_quoted() -> None:
    mismatch = check_across(Expect(same=(("a key",),)), [answered({"a key": 1}), answered({"a key": 2})])
    assert mismatch is not None and mismatch.detail is not None
    assert mismatch.detail.startswith('response["a key"]: ')


# ---------------------------------------------------------------------- replays with real processes


@pytest.mark.trio
async def test_environments_restored_together_share_what_init_made(code_dir: Path) -> None:
    function = write_probe(code_dir, INIT_ID)
    done = await replay(function, THREE_RESTORES % 'expect.same = "id"\n    expect.distinct = "pid"', code_dir)
    assert done.result.passed, done.out
    # each: 2 + 2 + 2, then same 1, distinct 1, environments, cold_starts
    assert done.result.expectations == 6 + 4, done.out
    (block,) = blocks(done.out)
    assert "ok         expect each (3 invokes: cold, response), same (id), distinct (pid), environments, " \
           "cold_starts" in block, block
    # env #1 is the snapshot: it initialises and takes no invoke; each invoke restores an environment of its own.
    assert re.search(r"^#1  platform   INIT_REPORT Init Duration: .* Status: success$", block, re.MULTILINE), block
    assert re.search(r"^#1  boundary   snapshot\.taken$", block, re.MULTILINE), block
    assert sorted(re.findall(r"^(#\d) +platform +RESTORE_START", block, re.MULTILINE)) == ["#2", "#3", "#4"], block
    assert sorted(re.findall(r"^(#\d) +platform +START RequestId", block, re.MULTILINE)) == ["#2", "#3", "#4"], block
    assert "INIT_START" not in block.split("snapshot.taken", 1)[1], block
    assert len(re.findall(r"REPORT RequestId: .*Restore Duration: [\d.]+ ms\s+Billed Restore Duration", block)) == 3


@pytest.mark.trio
async def test_a_scenario_that_expects_distinct_ids_fails_on_a_shared_one(code_dir: Path) -> None:
    function = write_probe(code_dir, INIT_ID)
    done = await replay(function, THREE_RESTORES % 'expect.distinct = ["id", "pid"]', code_dir)
    assert not done.result.passed
    assert done.result.mismatch is not None and done.result.mismatch.key == "distinct", done.out
    assert re.search(r"mismatch   response\.id: parallel\[0\] and parallel\[1\] both got \"[0-9a-f]{32}\"", done.out)


@needs_hooks
@pytest.mark.trio
async def test_an_after_restore_hook_gives_each_restored_environment_its_own_id(code_dir: Path) -> None:
    function = write_probe(code_dir, RESTORE_ID)
    # The interpreter that runs these tests has snapshot_restore_py; the function must import it too.
    done = await replay(function, THREE_RESTORES % 'expect.distinct = ["id", "pid"]', code_dir, python=sys.executable)
    assert done.result.passed, done.out + done.err
    assert len(re.findall(r"^#\d +boundary +restore\.hooks$", done.out, re.MULTILINE)) == 3, done.out


# ---------------------------------------------------------------------- recording, and replaying what was recorded


def test_invoke_snapstart_records_snapstart_and_the_recording_replays(code_dir: Path) -> None:
    handler = write_probe(code_dir, PROBE)
    recording = code_dir / "snap.toml"
    done = run_cli("invoke", str(handler), "--snapstart", "--repeat", "2", "-e", '{"n": 1}', "--record", str(recording))
    assert done.returncode == 0, done.stdout + done.stderr
    text = recording.read_text()
    scenario = parse_scenario(text, recording)
    assert scenario.function.snapstart is True, text
    assert "\nsnapstart = true\n" in text.split("[[step]]")[0], text
    first, second = scenario.steps
    assert (first.expect.cold, second.expect.cold) == (True, False), text  # the restore, then a warm invoke
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
    assert replayed.stdout.count("RESTORE_START") == 1, replayed.stdout
    assert replayed.stdout.splitlines()[-1].startswith(f"PASSED {recording}: 2 steps")


FAILS_AT_INIT = '''raise ValueError("no snapshot can be made of this")


def handler(event, context):
    return {"ok": True}
'''


def test_an_invoke_refused_for_a_snapshot_that_failed_is_recorded_and_its_replay_sees_the_409(code_dir: Path) -> None:
    """Its caller got 409 ResourceConflictException (Lambda refuses invoking a version whose publication failed): the
    recording keeps that invoke and its answer, and a replay of it checks that answer, rather than dropping the invoke
    (a scenario with no invoke at all) or finding no result for it."""
    handler = write_probe(code_dir, FAILS_AT_INIT)
    recording = code_dir / "refused.toml"
    done = run_cli("invoke", str(handler), "--snapstart", "--record", str(recording))
    assert "409 ResourceConflictException" in done.stderr, done.stdout + done.stderr
    text = recording.read_text()
    (step,) = parse_scenario(text, recording).steps
    assert step.expect.error_type == "ResourceConflictException", text
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
    assert "  ok         expect error_type" in replayed.stdout, replayed.stdout


FAILS_AFTER_RESTORE = '''from snapshot_restore_py import register_after_restore


@register_after_restore
def refuse():
    raise RuntimeError("this copy cannot serve")


def handler(event, context):
    return {"ok": True}
'''


@needs_hooks
@pytest.mark.trio
async def test_a_failed_restore_or_snapshot_is_an_invoke_api_error_in_the_outcome_not_the_functions(
        code_dir: Path) -> None:
    """400 SnapStartException (an after-restore hook failed) and 409 ResourceConflictException (no snapshot) are the
    Invoke API's own answers: the event never reached the handler, and no runtime posted /error for it."""
    scenario = '[function]\nsnapstart = true\n\n[[step]]\ninvoke = {}\nexpect.error_type = "%s"\n'
    restore = await replay(write_probe(code_dir, FAILS_AFTER_RESTORE), scenario % "SnapStartException", code_dir,
                           python=sys.executable)
    snapshot = await replay(write_probe(code_dir, FAILS_AT_INIT), scenario % "ResourceConflictException", code_dir)
    for done, status, name in ((restore, 400, "SnapStartException"), (snapshot, 409, "ResourceConflictException")):
        assert done.result.passed, done.out + done.err
        (outcome,) = re.findall(r"^(?:#\d)? +outcome +(.*)$", done.out, re.MULTILINE)
        assert outcome == f"INVOKE API ERROR {status} {name}: the event never reached the handler", done.out


# That `invoke` without --snapstart records no snapstart is checked on the recording of
# test_scenario_cli.py::test_the_recording_names_the_function_path_in_a_replay_command_that_runs (the same
# `invoke PROBE --record`).


@pytest.mark.trio
async def test_the_debuggers_recording_of_concurrent_restores_replays(code_dir: Path) -> None:
    handler = write_probe(code_dir, PROBE)
    config = resolve_function(str(handler), timeout_s=3)
    recorder = Recorder(config, function_path=str(handler))
    with trio.fail_after(BOUND):
        # With the debugger's views (inspect), as the debugger runs: the snapshot reports its globals after Init, which
        # tell the recorder that Init made nothing a replay's snapshot makes anew (scenario/snapshot_values.py).
        async with open_environment(config, fleet=FleetOptions(snapstart=True), inspect=True) as running:
            recorder.attach(running.session)  # as the debugger's --record does

            async def caller(n: int) -> None:
                await running.fleet.invoke(json.dumps({"n": n, "sleep": 1}).encode())

            async with trio.open_nursery() as callers:
                for n in range(3):
                    callers.start_soon(caller, n)
            await running.session.settled()
    text = recorder.to_toml()
    scenario = parse_scenario(text, Path("r.toml"))
    assert scenario.function.snapstart is True, text
    (burst,) = scenario.steps
    assert isinstance(burst.action, ParallelAction), text
    # Each named where it went (restores #2-#4, numbered in the order the fleet routed them, as a replay numbers them).
    assert burst.action.envs == (2, 3, 4), text
    assert burst.expect.each is not None and [e.cold for e in burst.expect.each] == [True, True, True], text
    assert [e.response["invocations"] for e in burst.expect.each] == [1, 1, 1], text
    # The snapshot is alive with the three restored from it, in the recording as in the replay.
    assert (burst.expect.environments, burst.expect.cold_starts) == (4, 3), text
    recording = code_dir / "restores.toml"
    recording.write_text(text)
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
    assert replayed.stdout.count("RESTORE_START") == 3, replayed.stdout


# ---------------------------------------------------------------------- the sample, as a user runs it


def test_the_snapstart_sample_has_both_scenarios_and_a_readme() -> None:
    assert {p.name for p in (SNAPSTART_SAMPLE / "scenarios").glob("*.toml")} == {"shared.toml", "fixed.toml"}
    readme = (SNAPSTART_SAMPLE / "README.md").read_text()
    assert "snapshot-restore-py" in readme and "shared.toml" in readme and "fixed.toml" in readme
    assert "[snapstart](snapstart/)" in (SAMPLES / "README.md").read_text()


@pytest.mark.parametrize("name, path, key", [
    ("shared", "handler.py", "same (id, seed, first_draw), distinct (pid)"),
    pytest.param("fixed", ".", "distinct (id, seed, first_draw, pid)", marks=needs_hooks),
])
def test_the_sample_scenarios_pass_from_another_directory(code_dir: Path, name: str, path: str, key: str) -> None:
    """Run from elsewhere, with relative paths, as a user in their own project would; the function runs in this
    interpreter, which has snapshot_restore_py (the sample's README says to install it)."""
    scenario = SNAPSTART_SAMPLE / "scenarios" / f"{name}.toml"
    function = SNAPSTART_SAMPLE / path
    relative = [os.path.relpath(p, code_dir) for p in (function, scenario)]
    done = subprocess.run([*lambdatui_argv(), "replay", "--python", sys.executable, *relative], check=False,
                          cwd=code_dir, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"ok         expect each (3 invokes: cold), {key}, environments, cold_starts" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("PASSED ")


def test_a_scenario_with_snapstart_and_provisioned_on_the_command_line_exits_2() -> None:
    done = run_cli("replay", "--provisioned", "1", str(SNAPSTART_SAMPLE / "handler.py"),
                   str(SNAPSTART_SAMPLE / "scenarios" / "shared.toml"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the scenario's snapstart = true cannot be used with --provisioned 1" in done.stderr
