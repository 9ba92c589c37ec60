"""Parsing scenario files: every key, and every malformed case with the line it is reported at."""

from __future__ import annotations

import json
import signal
import textwrap
from pathlib import Path

import pytest

from lambdatui.json_text import MAX_DEPTH
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import ALL_BOUNDARIES, Boundary
from lambdatui.scenario.model import (
    FaultAction,
    FunctionSettings,
    InvokeAction,
    NewEnvironmentAction,
    PauseAction,
    ShutdownAction,
)
from lambdatui.scenario.parse import ScenarioError, check_targets, load_scenario, parse_scenario, parse_signal
from lambdatui.scenario.values import MAX_VALUE_DEPTH


def parse(text: str, path: Path = Path("s.toml")):
    return parse_scenario(textwrap.dedent(text), path)


def error_of(text: str, path: Path = Path("s.toml")) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse(text, path)
    return caught.value


# ---------------------------------------------------------------------- [function]


def test_function_table_every_key() -> None:
    scenario = parse("""
        [function]
        timeout = 7
        memory = 512
        handler = "app.main"
        env = { AA = "1", BB = "two" }

        [[step]]
        invoke = {}
    """)
    assert scenario.function == FunctionSettings(7, 512, "app.main", {"AA": "1", "BB": "two"})


def test_function_env_as_a_sub_table() -> None:
    scenario = parse("""
        [function.env]
        GREETING = "hello"

        [[step]]
        invoke = {}
    """)
    assert scenario.function.env == {"GREETING": "hello"}
    assert scenario.function.timeout is None and scenario.function.memory is None


def test_no_function_table_means_nothing_is_set() -> None:
    assert parse("[[step]]\ninvoke = {}\n").function == FunctionSettings()


# ---------------------------------------------------------------------- actions


def test_invoke_table_becomes_the_json_event() -> None:
    step = parse("""
        [[step]]
        invoke = { name = "x", list = [1, 2.5, true], nested = { deep = "y" } }
    """).steps[0]
    assert isinstance(step.action, InvokeAction)
    assert json.loads(step.action.event) == {"name": "x", "list": [1, 2.5, True], "nested": {"deep": "y"}}


def test_invoke_json_text_is_kept_as_written() -> None:
    step = parse("""
        [[step]]
        invoke = '{"a": null,  "b": [1]}'
    """).steps[0]
    assert step.action == InvokeAction(b'{"a": null,  "b": [1]}')


def test_invoke_array_is_a_json_array_event() -> None:
    assert parse("[[step]]\ninvoke = [1, 2]\n").steps[0].action == InvokeAction(b"[1, 2]")


def test_event_file_is_read_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "x.json").write_text('{\n  "from": "file"\n}\n')
    scenario = parse("[[step]]\nevent_file = \"events/x.json\"\n", tmp_path / "s.toml")
    assert json.loads(scenario.steps[0].action.event) == {"from": "file"}


def test_an_event_file_with_a_byte_order_mark_is_taken_and_sent_as_it_is(tmp_path: Path) -> None:
    # As `invoke --event FILE` and the Invoke API take it: Lambda's front end skips the mark ("Unexpected UTF-8 BOM").
    (tmp_path / "x.json").write_bytes(b'\xef\xbb\xbf{"from": "file"}')
    scenario = parse("[[step]]\nevent_file = \"x.json\"\n", tmp_path / "s.toml")
    assert scenario.steps[0].action.event == b'\xef\xbb\xbf{"from": "file"}'


@pytest.mark.parametrize("text, fault", [
    ('fault = "crash"', flt.Crash("runtime")),
    ('fault = "crash"\nsignal = "SIGTERM"', flt.Crash("runtime", signal=int(signal.SIGTERM))),
    ('fault = "crash"\nsignal = "KILL"', flt.Crash("runtime", signal=int(signal.SIGKILL))),
    ('fault = "crash"\nsignal = 11', flt.Crash("runtime", signal=11)),
    ('fault = "crash"\nexit_code = 3', flt.Crash("runtime", exit_code=3)),
    ('fault = "crash"\ntarget = "audit"\nsignal = "sigsegv"', flt.Crash("audit", signal=int(signal.SIGSEGV))),
    ('fault = "crash"\nat = "invoke.start"', flt.Crash("runtime", at=Boundary.INVOKE_START)),
    ('fault = "freeze"', flt.Freeze("runtime")),
    ('fault = "freeze"\ntarget = "audit"\nat = "init.done"', flt.Freeze("audit", Boundary.INIT_DONE)),
    ('fault = "thaw"\ntarget = "audit"', flt.Thaw("audit")),
    ('fault = "timeout"', flt.ForceTimeout()),
    ('fault = "timeout"\nat = "init.function"', flt.ForceTimeout(Boundary.INIT_FUNCTION)),
    ('fault = "raise"', flt.RaiseInHandler()),
    ('fault = "raise"\nexception = "KeyError"\nmessage = "gone"', flt.RaiseInHandler("KeyError", "gone")),
    ('fault = "init-error"\ntarget = "audit"', flt.ExtensionInitError("audit")),
    ('fault = "init-error"\ntarget = "audit"\nat = "init.extensions"',
     flt.ExtensionInitError("audit", Boundary.INIT_EXTENSIONS)),
])
def test_every_fault_and_option(text: str, fault: flt.Fault) -> None:
    action = parse("[[step]]\n" + text + "\n").steps[0].action
    assert isinstance(action, FaultAction)
    assert action.fault == fault


def test_every_boundary_can_arm_a_fault() -> None:
    for boundary in ALL_BOUNDARIES:
        action = parse(f'[[step]]\nfault = "crash"\nat = "{boundary.value}"\n').steps[0].action
        assert action.fault.at is boundary


def test_new_environment_shutdown_and_pause() -> None:
    scenario = parse("""
        [[step]]
        new_environment = true
        [[step]]
        shutdown = true
        [[step]]
        pause = 1
        [[step]]
        pause = 0.25
    """)
    assert [s.action for s in scenario.steps] == [
        NewEnvironmentAction(), ShutdownAction(), PauseAction(1.0), PauseAction(0.25)]
    assert [s.number for s in scenario.steps] == [1, 2, 3, 4]


def test_steps_remember_their_header_lines() -> None:
    scenario = parse("""\
        # a comment
        [function]
        timeout = 2

        [[step]]
        invoke = {}

        [[step]]
        pause = 1
    """)
    assert [s.line for s in scenario.steps] == [5, 8]


@pytest.mark.parametrize("value, number", [("SIGKILL", 9), ("kill", 9), ("9", 9), (15, 15), ("SIGUSR1", 10)])
def test_signal_names_and_numbers(value: object, number: int) -> None:
    assert parse_signal(value) == number


# ---------------------------------------------------------------------- expect


def test_every_expect_key_on_an_invoke() -> None:
    expect = parse("""
        [[step]]
        invoke = {}
        expect.response = { invocations = 1, ok = true, items = [1, "a"] }
        expect.error_type = "Sandbox.Timedout"
        expect.cold = true
        expect.globals = { invocations = "1", NAME = "'x'" }
        expect.tmp = ["/tmp/counter.txt", "/tmp/dir/"]
        expect.tmp_absent = ["/tmp/gone"]
        expect.shutdown_reason = "timeout"
        expect.phases = ["invoke.start", "invoke.response", "invoke.done"]
    """).steps[0].expect
    assert expect.response == {"invocations": 1, "ok": True, "items": [1, "a"]}
    assert expect.error_type == "Sandbox.Timedout"
    assert expect.cold is True
    assert expect.globals == {"invocations": "1", "NAME": "'x'"}
    assert expect.tmp == ("/tmp/counter.txt", "/tmp/dir")
    assert expect.tmp_absent == ("/tmp/gone",)
    assert expect.shutdown_reason == "timeout"
    assert expect.phases == (Boundary.INVOKE_START, Boundary.INVOKE_RESPONSE, Boundary.INVOKE_DONE)
    assert expect.keys() == ("response", "error_type", "cold", "globals", "tmp", "tmp_absent",
                             "shutdown_reason", "phases")


@pytest.mark.parametrize("text, value", [
    ("""response = '{"a": null}'""", {"a": None}),
    ("""response = 'null'""", None),
    ("""response = '"just text"'""", "just text"),
    ("""response = [1, 2]""", [1, 2]),
    ("""response = 42""", 42),
    ("""response = false""", False),
])
def test_response_is_json_text_or_a_toml_value(text: str, value: object) -> None:
    expect = parse(f"[[step]]\ninvoke = {{}}\nexpect.{text}\n").steps[0].expect
    assert expect.has_response and expect.response == value


def test_no_expect_checks_nothing() -> None:
    expect = parse("[[step]]\ninvoke = {}\n").steps[0].expect
    assert not expect.has_response and expect.keys() == ()


@pytest.mark.parametrize("action", ['fault = "crash"', "new_environment = true", "shutdown = true"])
def test_lifecycle_expectations_after_resets_and_shutdowns(action: str) -> None:
    expect = parse(f"""
        [[step]]
        {action}
        expect = {{ tmp = ["/tmp/a"], tmp_absent = ["/tmp/b"], shutdown_reason = "spindown", phases = [] }}
    """).steps[0].expect
    assert expect.keys() == ("tmp", "tmp_absent", "shutdown_reason", "phases")


# ---------------------------------------------------------------------- malformed: FILE:LINE: message


MALFORMED = [
    # (scenario text, line reported, fragment of the message)
    ("[[step]]\ninvoke = {\n", 2, "TOML syntax"),
    ("[[step]]\ninvoke = '{}'\n\n[[step]\n", 4, "TOML syntax"),
    ("title = 'x'\n[[step]]\ninvoke = {}\n", 1, "unknown key 'title'"),
    ("# nothing\n", 1, "no [[step]] tables"),
    ("step = 3\n", 1, "array of tables"),
    ("step = []\n", 1, "no steps"),
    ("[function]\ntimeout = 0\n[[step]]\ninvoke = {}\n", 1, "timeout = 0"),
    ("\n[function]\ntimeout = 1.5\n[[step]]\ninvoke = {}\n", 2, "whole seconds"),
    ("[function]\nmemory = 64\n[[step]]\ninvoke = {}\n", 1, "128 to 10240 MB"),
    ("[function]\nhandler = 'nodot'\n[[step]]\ninvoke = {}\n", 1, "module.function"),
    ("[function]\nenv = { A = 1 }\n[[step]]\ninvoke = {}\n", 1, "env.A must be a string"),
    ("[function]\nenv = 'A=1'\n[[step]]\ninvoke = {}\n", 1, "table of strings"),
    ("[function]\ntimout = 1\n[[step]]\ninvoke = {}\n", 1, "did you mean 'timeout'"),
    ("[[step]]\ninvoke = {}\n\n[[step]]\ninvok = {}\n", 4, "unknown key 'invok' (did you mean 'invoke'?)"),
    ("[[step]]\ninvoke = {}\nfault = 'crash'\n", 1, "exactly one thing, this one has invoke and fault"),
    ("[[step]]\nshutdown = true\npause = 1\n", 1, "this one has shutdown and pause"),
    ("[[step]]\nexpect = { cold = true }\n", 1, "nothing to do"),
    ("[[step]]\ninvoke = {}\n[[step]]\nfault = 'explode'\n", 3, "unknown fault 'explode' (one of: crash, freeze"),
    ("[[step]]\nfault = 'crsh'\n", 1, "did you mean 'crash'"),
    ("[[step]]\nfault = 1\n", 1, "unknown fault an integer"),
    ("[[step]]\nfault = 'crash'\nat = 'invoke.begin'\n", 1,
     "at = 'invoke.begin' is not a boundary (one of: init.extensions, init.runtime"),
    ("[[step]]\nfault = 'crash'\nat = 3\n", 1, "must be a boundary name"),
    ("[[step]]\nfault = 'freeze'\nsignal = 'KILL'\n", 1, "fault = 'freeze' takes no 'signal'"),
    ("[[step]]\nfault = 'timeout'\ntarget = 'runtime'\n", 1, "fault = 'timeout' takes no 'target'"),
    ("[[step]]\nfault = 'crash'\nmessage = 'x'\n", 1, "takes no 'message'"),
    ("[[step]]\nfault = 'crash'\nsignal = 'SIGNOPE'\n", 1, "not a signal name"),
    ("[[step]]\nfault = 'crash'\nsignal = 0\n", 1, "not a signal number"),
    ("[[step]]\nfault = 'crash'\nsignal = 9\nexit_code = 1\n", 1, "not both"),
    ("[[step]]\nfault = 'crash'\nexit_code = 256\n", 1, "0 to 255"),
    ("[[step]]\nfault = 'crash'\ntarget = 'audit'\nexit_code = 1\n", 1, "exit_code only works on the runtime"),
    ("[[step]]\nfault = 'init-error'\n", 1, "needs target"),
    ("[[step]]\nfault = 'raise'\nexception = 'not a name'\n", 1, "exception class name"),
    ("[[step]]\ninvoke = {}\ntarget = 'runtime'\n", 1, "'target' only goes with fault"),
    ("[[step]]\ninvoke = '{not json'\n", 1, "invoke is not valid JSON"),
    ("[[step]]\ninvoke = ''\n", 1, "invoke is empty"),
    ("[[step]]\ninvoke = 42\n", 1, "invoke takes a table"),
    ("[[step]]\ninvoke = { when = 1979-05-27 }\n", 1, "date/time"),
    ("[[step]]\nevent_file = 'missing.json'\n", 1, "no such file"),
    ("[[step]]\nnew_environment = false\n", 1, "write new_environment = true"),
    ("[[step]]\nshutdown = 'yes'\n", 1, "write shutdown = true"),
    ("[[step]]\npause = 0\n", 1, "more than 0 and at most 60"),
    ("[[step]]\npause = 61\n", 1, "at most 60"),
    ("[[step]]\npause = true\n", 1, "takes seconds"),
    ("[[step]]\ninvoke = {}\nexpect = 'cold'\n", 1, "expect must be a table"),
    ("[[step]]\ninvoke = {}\nexpect.colt = true\n", 1, "unknown key expect.colt (did you mean 'cold'?)"),
    ("[[step]]\ninvoke = {}\nexpect.cold = 'yes'\n", 1, "true or false"),
    ("[[step]]\ninvoke = {}\nexpect.response = '{bad'\n", 1, "expect.response is not valid JSON"),
    ("[[step]]\ninvoke = {}\nexpect.globals = { n = 1 }\n", 1, "repr as a string, e.g. n = \"1\""),
    ("[[step]]\ninvoke = {}\nexpect.tmp = ['counter.txt']\n", 1, "under /tmp/"),
    ("[[step]]\ninvoke = {}\nexpect.tmp_absent = '/tmp/x'\n", 1, "array of paths"),
    ("[[step]]\ninvoke = {}\nexpect.shutdown_reason = 'crash'\n", 1, "one of: spindown, timeout, failure"),
    ("[[step]]\ninvoke = {}\nexpect.phases = ['invoke.begin']\n", 1, "expect.phases[0] = 'invoke.begin' is not a boundary"),
    ("[[step]]\ninvoke = {}\nexpect.error_type = 3\n", 1, "error_type must be a string"),
    ("[[step]]\npause = 1\nexpect.cold = true\n", 1, "during a pause the function runs nothing"),
    ("[[step]]\nfault = 'crash'\nexpect.response = {}\n", 1, "expect.response makes no sense here"),
    ("[[step]]\nshutdown = true\nexpect.cold = true\n", 1, "follow an invoke"),
    ("[[step]]\nnew_environment = true\nexpect.globals = {}\n", 1, "follow an invoke"),
    ("[[step]]\nfault = 'crash'\nat = 'invoke.start'\nexpect.phases = []\n", 1, "only armed here"),
    ("[[step]]\nfault = 'raise'\nexpect.tmp = []\n", 1, "at a later step"),
]


@pytest.mark.parametrize("text, line, fragment", MALFORMED)
def test_malformed_scenarios_name_file_line_and_problem(text: str, line: int, fragment: str) -> None:
    error = error_of(text)
    assert error.line == line, str(error)
    assert fragment in error.message, str(error)
    assert str(error).startswith(f"s.toml:{line}: ")


def test_semantic_errors_point_at_their_own_step_header() -> None:
    text = textwrap.dedent("""\
        [[step]]
        invoke = {}

        [[step]]
        fault = "raise"
        message = '''
        [[step]] inside a multi-line string is not a header
        '''

        [[step]]
        fault = "nope"
    """)
    error = error_of(text)
    assert error.line == 10  # the string's [[step]] line is not counted as step 3's header
    assert "step 3: unknown fault 'nope'" in error.message
    error = error_of(text.replace('fault = "raise"', 'fault = "raised"'))
    assert error.line == 4 and "step 2: unknown fault 'raised' (did you mean 'raise'?)" in error.message


def test_inline_steps_point_at_the_step_key() -> None:
    error = error_of("# x\nstep = [{ invoke = {} }, { pause = 0 }]\n")
    assert error.line == 2 and "step 2" in error.message


def test_unreadable_scenario_has_no_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "missing.toml")
    assert str(caught.value) == f"{tmp_path / 'missing.toml'}: cannot read the scenario: No such file or directory"


def test_bad_event_file_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "e.json").write_text("{oops")
    error = error_of("[[step]]\nevent_file = 'e.json'\n", tmp_path / "s.toml")
    assert "event_file e.json is not valid JSON" in error.message


DEEP = "[" * 3000 + "]" * 3000  # past tomllib's recursion on every Python, and past json's up to 3.12
# The deepest Lambda's front end takes (json_text.MAX_DEPTH), past json's on every Python from 3.10 to 3.13: an event
# as deep is taken, as `invoke` takes it; one nested deeper is not.
DEEPEST_LAMBDA_TAKES = "[" * MAX_DEPTH + "]" * MAX_DEPTH
DEEPER_THAN_LAMBDA = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
# A value a scenario compares (an expected response), nested one level past what a scenario holds.
DEEPER_THAN_COMPARED = "[" * (MAX_VALUE_DEPTH + 1) + "]" * (MAX_VALUE_DEPTH + 1)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param(f"[[step]]\ninvoke = '{DEEPER_THAN_LAMBDA}'\n", 1,
                     "step 1: invoke is not valid JSON: nested deeper than 10,000 levels", id="invoke-json-text"),
        pytest.param(f"[[step]]\ninvoke = {{}}\nexpect.response = '{DEEPER_THAN_COMPARED}'\n", 1,
                     "expect.response is nested too deeply: more than 200 levels", id="expect-response-json-text"),
        pytest.param(f"[[step]]\ninvoke = {{}}\nexpect.response = '{DEEPEST_LAMBDA_TAKES}'\n", 1,
                     "expect.response is nested too deeply: more than 200 levels", id="expect-response-past-json"),
        pytest.param(f"[[step]]\ninvoke = {DEEP}\n", None, "arrays or tables nested too deeply", id="toml-array"),
        pytest.param("[[step]]\ninvoke = " + "{a = " * 3000 + "}" * 3000 + "\n", None,
                     "arrays or tables nested too deeply", id="toml-inline-table"),
    ],
)
def test_too_deep_nesting_is_a_scenario_error(text: str, line, fragment: str) -> None:
    error = error_of(text)
    assert error.line == line and fragment in error.message, str(error)


def test_too_deep_event_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "e.json").write_text(DEEPER_THAN_LAMBDA)
    error = error_of("[[step]]\nevent_file = 'e.json'\n", tmp_path / "s.toml")
    assert "event_file e.json is not valid JSON: nested deeper than 10,000 levels" in error.message


def test_an_event_nested_deeper_than_python_parses_is_taken_as_invoke_takes_it(tmp_path: Path) -> None:
    # Lambda's front end takes it; a Python runtime then fails the invoke (Runtime.UnmarshalError): a replay of it
    # must reach that outcome, as `invoke` and `serve` do.
    (tmp_path / "e.json").write_text(DEEPEST_LAMBDA_TAKES)
    scenario = parse_scenario(f"[[step]]\ninvoke = '{DEEPEST_LAMBDA_TAKES}'\n[[step]]\nevent_file = 'e.json'\n",
                              tmp_path / "s.toml")
    assert len(scenario.steps) == 2


def test_an_expected_response_nested_as_deep_as_a_scenario_compares_is_taken() -> None:
    """The same bound on every host (json.loads alone gave up ~1,000 levels deep to 3.11, ~10,000 on 3.13), with
    brackets inside strings counting for nothing."""
    deepest = "[" * MAX_VALUE_DEPTH + '"]]]"' + "]" * MAX_VALUE_DEPTH
    expect = parse(f"[[step]]\ninvoke = {{}}\nexpect.response = '{deepest}'\n").steps[0].expect
    assert expect.has_response and json.dumps(expect.response) == deepest


def _json_of_size(size: int) -> str:
    """A JSON object of exactly `size` bytes."""
    return json.dumps({"a": "x" * (size - len('{"a": ""}'))})


@pytest.mark.parametrize(
    ("step", "size", "fragment"),
    [
        pytest.param("event_file = 'e.json'", 6 * 1024 * 1024 + 1, "step 1: event_file is 6,291,457 bytes, over "
                     "Lambda's limit for a synchronous invoke's payload (6,291,456 bytes)", id="sync-event-file"),
        pytest.param("event_file = 'e.json'\ninvocation_type = 'Event'", 1_048_577, "step 1: event_file is 1,048,577 "
                     "bytes, over Lambda's limit for an Event (asynchronous) invoke's payload", id="async-event-file"),
        pytest.param("parallel = [{}, '@']\ninvocation_types = ['RequestResponse', 'Event']", 1_048_577,
                     "step 1: parallel[1] is 1,048,577 bytes", id="async-parallel"),
    ],
)
def test_an_event_lambda_would_refuse_as_too_large_is_a_scenario_error(tmp_path: Path, step: str, size: int,
                                                                         fragment: str) -> None:
    """Lambda refuses such an invoke (413 RequestEntityTooLargeException) before any function runs, as `serve` does:
    a replay must not run it."""
    event = _json_of_size(size)
    (tmp_path / "e.json").write_text(event)
    error = error_of("[[step]]\n" + step.replace("'@'", repr(event)) + "\n", tmp_path / "s.toml")
    assert error.line == 1 and fragment in error.message, str(error)
    assert "RequestEntityTooLargeException" in error.message


def test_an_event_at_lambdas_limit_is_taken(tmp_path: Path) -> None:
    (tmp_path / "e.json").write_text(_json_of_size(6 * 1024 * 1024))
    (tmp_path / "a.json").write_text(_json_of_size(1_048_576))
    scenario = parse("[[step]]\nevent_file = 'e.json'\n[[step]]\nevent_file = 'a.json'\ninvocation_type = 'Event'\n",
                     tmp_path / "s.toml")
    assert [len(step.action.event) for step in scenario.steps] == [6 * 1024 * 1024, 1_048_576]


# ---------------------------------------------------------------------- targets against the function


def test_fault_targets_must_be_participants() -> None:
    scenario = parse("""
        [[step]]
        fault = "crash"
        target = "runtime"
        [[step]]
        fault = "freeze"
        target = "audit"
        [[step]]
        fault = "init-error"
        target = "logger"
    """)
    with pytest.raises(ScenarioError) as caught:
        check_targets(scenario, ())
    assert caught.value.line == 5
    assert "target = 'audit' is not a participant of this function" in str(caught.value)
    assert "extensions: none" in str(caught.value)
    with pytest.raises(ScenarioError) as caught:
        check_targets(scenario, ("audit",))
    assert caught.value.line == 8 and "extensions: audit" in str(caught.value)
    check_targets(scenario, ("audit", "logger"))


def test_after_retries_goes_with_an_invoke_step_and_counts_from_zero() -> None:
    steps = parse("""
        [[step]]
        invoke = {}
        after_retries = 2

        [[step]]
        parallel = [{}, {}]
        after_retries = 3
    """).steps
    assert steps[0].action == InvokeAction(b"{}", after_retries=2)
    assert steps[1].action.after_retries == 3
    assert "after_retries = N goes with an invoke's step, not with fault" in str(error_of("""
        [[step]]
        fault = "crash"
        after_retries = 1
    """))
    assert "after_retries = -1: the retries of failed Event invokes" in str(error_of("""
        [[step]]
        invoke = {}
        after_retries = -1
    """))
