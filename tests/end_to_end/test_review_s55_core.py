"""From a review of this session's lifecycle-core, host, Invoke API and SAM changes: the first fatal error an
extension reports (lambda-spec §2.4) and the line that explains it, the globals report's clock pause that waits for
the extensions to rest, an extension's exit/error in a shutdown meeting the next Init, `--env-vars` blocks left empty,
`IgnoreGlobals` on CloudFormation's own function resource, and the log level a JSON-logging runtime is given on
Managed Instances as LogFormat JSON gives it (Lambda's default application log level, INFO).

The core tests drive `Environment` with tests/core's Driver, as tests/core does; the rest run lambdatui as a user
does. The strict xfails pin what is wrong today, each in one line.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, write_file

CORE_TESTS = str(Path(__file__).resolve().parents[1] / "core")
if CORE_TESTS not in sys.path:
    sys.path.insert(0, CORE_TESTS)
from driver import Driver, ext  # noqa: E402

from lambdatui.config import resolve_function  # noqa: E402
from lambdatui.core.common import INIT_TIMER, INVOKE_TIMER  # noqa: E402
from lambdatui.core.effects import RUNTIME, CancelTimer  # noqa: E402
from lambdatui.core.inputs import InspectionStarted, ShutdownRequested  # noqa: E402
from lambdatui.model.boundaries import EnvState  # noqa: E402

KEEPS = "Lambda keeps that first fatal error as the failure's type"


def kept_lines(d: Driver) -> list[str]:
    return [line for line in d.explanations() if KEEPS in line]


# ---------------------------------------------------------------------- the first fatal error and its line


def test_the_kept_error_line_never_contrasts_a_type_with_itself_during_an_invoke():
    d = Driver(("a", "b"))
    d.cold_start({"a": ("INVOKE",), "b": ("INVOKE",)})
    caller, _ = d.invoke()
    d.ext_exit_error("a", "Extension.A")
    d.ext_exit_error("b", "Extension.B")
    d.exited(ext("b"), code=1)  # the second reporter exits first: the type is the same either way
    assert d.result_for(caller).error_type == "Extension.ExitError"
    assert not any(line.endswith("not Extension.ExitError.") for line in kept_lines(d)), kept_lines(d)


def test_a_kept_error_of_another_type_is_explained_once_with_both_types():
    d = Driver(("a", "b"))
    d.cold_start({"a": ("INVOKE",), "b": ("INVOKE",)})
    caller, _ = d.invoke()
    d.ext_exit_error("a", "Extension.A")
    d.exited(ext("b"), code=1)  # b crashed without reporting: Extension.Crash, were nothing kept
    assert d.result_for(caller).error_type == "Extension.ExitError"
    assert kept_lines(d) == [f"Extension 'a' reported Extension.ExitError before extension 'b' exited: {KEEPS}, "
                             "not Extension.Crash."]


def test_an_exit_error_reported_in_a_shutdown_is_not_the_next_inits_error():
    """exit/error is what an extension reports as it shuts down: the reset's Init starts with nothing kept, and its
    runtime's crash is the runtime's own."""
    d = Driver(("a",))
    d.cold_start({"a": ("INVOKE",)})
    caller, rid = d.invoke()
    d.exited(RUNTIME, code=3)  # the invoke fails: a reset, whose SHUTDOWN goes to a
    assert d.result_for(caller).error_type == "Runtime.ExitError"
    assert d.state is EnvState.RESETTING
    d.ext_next("a")
    d.ext_exit_error("a", "Extension.Flush")
    d.exited(ext("a"), code=1)
    caller2, _ = d.invoke()  # a suppressed Init
    d.register("a")
    d.ext_next("a")
    d.exited(RUNTIME, code=2)
    assert d.result_for(caller2).error_type == "Runtime.ExitError"
    assert kept_lines(d) == []


# ---------------------------------------------------------------------- the report's pause, waiting for extensions


def test_a_report_waiting_for_an_extension_leaves_no_pause_for_the_next_init():
    """The report waits for the flusher to rest; the invoke times out meanwhile, and the environment resets. The
    next Init's extensions resting must not stop its clock for that old report."""
    d = Driver(("flusher",), timeout_ms=1000)
    d.cold_start({"flusher": ("INVOKE",)})
    caller, rid = d.invoke()
    d.advance(100)
    d.respond(rid)
    d.feed(InspectionStarted(d.env.generation))  # the flusher works: the clock runs on
    d.advance(900)
    d.fire(INVOKE_TIMER)  # its caller had the response; the invoke still times out
    assert [report.status for report in d.reports()] == ["timeout"]
    d.exited(RUNTIME, code=None, description="signal: killed")
    d.exited(ext("flusher"), code=None, description="signal: killed")
    caller2, rid2 = d.invoke()  # the suppressed Init
    d.register("flusher", ("INVOKE",))
    m = d.mark()
    d.ext_next("flusher")  # it rests: nothing was waiting to pause
    assert not d.env.pauses and CancelTimer(INVOKE_TIMER) not in d.effects(since=m)
    assert not d.env.inspection_waiting


def test_a_report_waiting_for_an_extension_is_dropped_when_the_environment_spins_down():
    d = Driver(("flusher",), timeout_ms=3000)
    d.cold_start({"flusher": ("INVOKE",)})
    caller, rid = d.invoke()
    d.respond(rid)
    d.feed(InspectionStarted(d.env.generation))
    d.exited(ext("flusher"), code=1)  # it crashes while the report waits for it: the invoke fails
    assert [report.status for report in d.reports()] == ["error"]
    assert not d.env.inspection_waiting and not d.env.pauses


def test_an_init_report_waits_for_an_extension_still_in_its_own_init():
    d = Driver(("slow",))
    d.start()
    d.register("slow")  # registered, not yet asked for its first event: its Init goes on
    m = d.mark()
    d.feed(InspectionStarted(d.env.generation))  # the runtime was started: its function Init reports
    assert CancelTimer(INIT_TIMER) not in d.effects(since=m)
    d.advance(200)
    m = d.mark()
    d.ext_next("slow")
    assert CancelTimer(INIT_TIMER) in d.effects(since=m)  # its Init done: the rest of the report is not Lambda's


def test_a_spindown_while_a_report_waits_leaves_no_pause():
    d = Driver(("flusher",), timeout_ms=3000)
    d.cold_start({"flusher": ("INVOKE",)})
    caller, rid = d.invoke()
    d.respond(rid)
    d.feed(InspectionStarted(d.env.generation))
    d.ext_next("flusher")  # rests: the clock stops for the report
    assert d.env.pauses
    d.runtime_next()  # the report ends with the runtime's /next
    d.feed(ShutdownRequested())
    assert not d.env.pauses and not d.env.inspection_waiting


# ---------------------------------------------------------------------- SAM: --env-vars and IgnoreGlobals


TEMPLATE = """\
Globals:
  Function:
    MemorySize: 512
    Environment:
      Variables:
        X_GLOBAL: from-globals
Resources:
  OrdersFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      FunctionName: orders-fn
      Environment:
        Variables:
          X_TABLE: placeholder
  Raw:
    Type: AWS::Lambda::Function
    IgnoreGlobals: [Runtime]
    Properties:
      Code: src/
      Handler: app.handler
      Runtime: python3.12
      Role: arn:aws:iam::123456789012:role/r
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("review_s55_sam")
    write_file(root / "src" / "app.py", "def handler(event, context):\n    return 1\n")
    write_file(root / "template.yaml", TEMPLATE)
    return root


@pytest.mark.parametrize("blocks, expected", [
    # SAM CLI's _make_env_vars: `env.get(logical_id) or env.get(function_id) or env.get(function_name) ...`
    ({"OrdersFunction": {}, "orders-fn": {"X_TABLE": "by-name"}}, "by-name"),
    ({"OrdersFunction": {}, "orders-fn": {}}, "from-parameters"),
    ({"OrdersFunction": {"X_TABLE": "by-id"}, "orders-fn": {"X_TABLE": "by-name"}}, "by-id"),
])
def test_env_vars_blocks_empty_pass_on_as_sam_local_passes_them(project: Path, blocks: dict, expected: str) -> None:
    env_vars = write_file(project / "env.json", json.dumps({"Parameters": {"X_TABLE": "from-parameters"}, **blocks}))
    config = resolve_function(str(project / "template.yaml"), function="OrdersFunction", env_vars=str(env_vars))
    assert config.env["X_TABLE"] == expected
    assert config.env["X_GLOBAL"] == "from-globals"


def test_ignore_globals_on_cloudformations_own_function_is_not_read(project: Path) -> None:
    """SAM's GlobalsPlugin.merge returns a resource type with no Globals unmodified: its IgnoreGlobals is not
    checked, and a name Globals.Function does not set (here Runtime) is no error."""
    config = resolve_function(str(project / "template.yaml"), function="Raw")
    assert config.memory_mb == 128 and "X_GLOBAL" not in config.env


# ---------------------------------------------------------------------- Managed Instances' JSON logs and their level


LOGGING_HANDLER = """\
import logging
import os


def handler(event, context):
    logging.getLogger().info("review-s55-info-record")
    return {"level": os.environ.get("AWS_LAMBDA_LOG_LEVEL"), "format": os.environ.get("AWS_LAMBDA_LOG_FORMAT"),
            "root": logging.getLogger().level}
"""


def test_managed_instances_json_logs_keep_info_records(code_dir: Path) -> None:
    # Lambda's guide: Managed Instances "only support JSON log format ... Lambda automatically configures the log
    # format to JSON"; with JSON, "the default application log level ... is INFO" (as 9340ac9 gives LogFormat JSON).
    handler = write_file(code_dir / "handler.py", LOGGING_HANDLER)
    with ServeProcess(handler, "--max-concurrency", "2", "--idle-shutdown", "off") as serve:
        answer = httpx.post(serve.invoke_url(), content=b"{}", timeout=20).json()
        assert answer["format"] == "JSON", answer
        assert (answer["level"], answer["root"]) == ("INFO", logging.INFO), answer
        serve.wait_for_line(r"review-s55-info-record", timeout=5)
