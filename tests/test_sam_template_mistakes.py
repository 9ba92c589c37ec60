"""Templates CloudFormation would refuse, or read differently than a naive reader does: each is one line naming the
file and the resource (or a value as SAM means it), never a traceback or a hang. Real files in `code_dir`."""

from __future__ import annotations

import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from lambdatui.config import resolve_function
from lambdatui.config_error import ConfigError
from lambdatui.sam_template.intrinsics import Invalid, Resolver
from lambdatui.sam_template.reader import read_function
from lambdatui.sam_template.yaml_tags import parse_template_text

FUNCTION = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Runtime: python3.12
"""


def write_project(folder: Path, text: str, name: str = "template.yaml") -> Path:
    (folder / "code").mkdir(exist_ok=True)
    (folder / "code" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def refusal(path: Path, function: str | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        read_function(path, function, path.name)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def test_an_alias_that_holds_itself_is_one_line_naming_where(code_dir: Path):
    path = write_project(code_dir, """\
        Resources:
          Fn: &fn
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: code
              Handler: app.handler
              Environment:
                Variables:
                  SELF: *fn
    """)
    assert refusal(path) == ("template.yaml:9:11: Resources.Fn.Properties.Environment.Variables.SELF: a YAML alias to "
                             "a node that contains it (anchored on line 2): the template would be infinite")


def test_an_alias_bomb_is_refused_at_once(code_dir: Path):
    levels = ["  L0: &l0 [" + ", ".join(["a"] * 10) + "]"]
    levels += [f"  L{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = write_project(code_dir, "x-laughs:\n" + "\n".join(levels) + "\n" + FUNCTION
                         + "      Description: !Join ['', *l8]\n")
    started = time.monotonic()
    message = refusal(path)
    assert time.monotonic() - started < 5  # bounded: it took minutes and gigabytes before
    assert message == ("template.yaml: x-laughs.L6: its YAML aliases expand to over 4,000,000 characters "
                       "(CloudFormation takes a template of at most 1 MB): refused")


def test_aliases_a_real_template_uses_still_read(code_dir: Path):
    path = write_project(code_dir, FUNCTION.replace("      Runtime: python3.12\n", """\
      Runtime: python3.12
      Environment:
        Variables: &vars
          STAGE: dev
          LIST: !Join [",", &items [a, b]]
          AGAIN: !Join ["-", *items]
  Other:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: code, Handler: app.handler, Environment: {Variables: *vars}}
"""))
    assert read_function(path, "Other").env == {"STAGE": "dev", "LIST": "a,b", "AGAIN": "a-b"}


def test_an_unquoted_date_is_the_text_written(code_dir: Path):
    path = write_project(code_dir, FUNCTION + textwrap.indent(textwrap.dedent("""\
        Environment:
          Variables: {DATE: 2024-01-01, WHEN: 2024-01-01T10:00:00Z, QUOTED: "2024-01-01"}
    """), "      "))
    assert read_function(path, None).env == {"DATE": "2024-01-01", "WHEN": "2024-01-01T10:00:00Z",
                                             "QUOTED": "2024-01-01"}


CONDITIONAL_LAYERS = """\
Parameters:
  Stage: {Type: String, Default: dev}
Conditions:
  IsDev: !Equals [!Ref Stage, dev]
Resources:
  L1:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: l1}
  L2:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: l2}
  InList:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Layers: [!If [IsDev, !Ref L1, !Ref AWS::NoValue], !If [IsDev, !Ref AWS::NoValue, !Ref L2]]
  Whole:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Layers: !If [IsDev, [!Ref L2], []]
  Selected:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Layers: [!Select [1, [!Ref L1, !Ref L2]]]
"""


@pytest.mark.parametrize("function, layers", [("InList", ["l1"]), ("Whole", ["l2"]), ("Selected", ["l2"])])
def test_layers_chosen_by_a_condition_are_attached(code_dir: Path, function: str, layers: list[str]):
    for name in ("l1", "l2"):
        (code_dir / name / "python").mkdir(parents=True)
    path = write_project(code_dir, CONDITIONAL_LAYERS)
    fn = read_function(path, function)
    assert fn.layers == tuple(code_dir / name for name in layers)
    assert fn.notes == ()


def test_a_layer_zip_that_is_not_a_zip_is_refused_like_the_option_refuses_it(code_dir: Path):
    (code_dir / "bad.zip").write_text("not a zip archive\n")
    with zipfile.ZipFile(code_dir / "good.zip", "w") as archive:
        archive.writestr("python/lib.py", "X = 1\n")
    text = ("Resources:\n  Good: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: good.zip}}\n"
            "  Bad: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: bad.zip}}\n"
            "  Fn:\n    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: code, Handler: app.handler, Layers: [!Ref Good, LAYERS]}\n")
    path = write_project(code_dir, text.replace(", LAYERS", ""))
    assert read_function(path, None).layers == (code_dir / "good.zip",)
    path = write_project(code_dir, text.replace("LAYERS", "!Ref Bad"))
    assert refusal(path) == ("template.yaml: Fn: layer Bad's ContentUri bad.zip: expected a layer folder or a .zip "
                             "archive (this one is named .zip but is not a zip archive)")


REFUSED = " (CloudFormation refuses such a template)"


@pytest.mark.parametrize("value, message", [
    ("!Ref Missing", "Fn: Environment.Variables.X: !Ref Missing: no such parameter or resource"),
    ("!If [Unknown, a, b]", "Fn: Environment.Variables.X: condition Unknown: no such condition"),
    ('!Sub "${Missing}-x"', "Fn: Environment.Variables.X: !Sub ${Missing}: no such parameter or resource"),
    ("!GetAtt Nope.Arn", "Fn: Environment.Variables.X: !GetAtt Nope.Arn: no such resource"),
    ('!Sub "${Nope.Arn}"', "Fn: Environment.Variables.X: !Sub ${Nope.Arn}: no such resource"),
])
def test_a_typo_cloudformation_refuses_is_one_line_naming_the_resource(code_dir: Path, value: str, message: str):
    path = write_project(code_dir, FUNCTION + f"      Environment:\n        Variables:\n          X: {value}\n")
    assert refusal(path) == f"template.yaml: {message}{REFUSED}"


def test_what_only_a_deployment_knows_is_still_left_out(code_dir: Path):
    path = write_project(code_dir, "Parameters:\n  NoDefault: {Type: String}\n" + FUNCTION + textwrap.indent(
        "Environment:\n  Variables:\n    A1: !Ref NoDefault\n    B1: !GetAtt Fn.Arn\n    C1: !Ref Fn\n", "      "))
    fn = read_function(path, None)
    assert sorted(fn.unresolved_env) == ["A1", "B1", "C1"]


def test_the_pseudo_parameter_only_a_deployment_sets_is_left_out_not_refused(code_dir: Path):
    """AWS::NotificationARNs is CloudFormation's own (the stack's SNS topics, given at deploy time): a template that
    uses it is valid, and the variable is left out and named, as a !GetAtt is."""
    path = write_project(code_dir, FUNCTION + textwrap.indent(
        'Environment:\n  Variables:\n    TOPICS: !Join [",", !Ref AWS::NotificationARNs]\n', "      "))
    fn = read_function(path, None)
    assert fn.unresolved_env == {"TOPICS": "!Ref AWS::NotificationARNs (the stack's notification topics, given when "
                                           "it is deployed)"}


def test_circular_conditions_are_refused_even_unused(code_dir: Path):
    path = write_project(code_dir, "Conditions:\n  C1: !Condition C2\n  C2: !Not [!Condition C1]\n" + FUNCTION)
    assert refusal(path) == f"template.yaml: Conditions: condition C1 depends on itself (C1 -> C2 -> C1){REFUSED}"


def test_the_resolver_raises_invalid_for_what_cloudformation_refuses():
    resolver = Resolver({"Conditions": {"A": {"Condition": "A"}}, "Resources": {"T": {}}})
    for value in ({"Ref": "Elsewhere"}, {"Fn::If": ["Missing", 1, 2]}, {"Fn::If": ["A", 1, 2]}):
        with pytest.raises(Invalid):
            resolver.resolve(value)


@pytest.mark.parametrize("line, message", [
    ("MemorySize: 256.7", "Fn: MemorySize 256.7: expected a whole number of MB"),
    ("Timeout: 3.9", "Fn: Timeout 3.9: expected a whole number of seconds"),
    ("Timeout: '3.9'", "Fn: Timeout '3.9': expected a whole number of seconds"),
])
def test_a_fraction_where_cloudformation_wants_an_integer_is_refused(code_dir: Path, line: str, message: str):
    path = write_project(code_dir, FUNCTION + f"      {line}\n")
    assert refusal(path) == f"template.yaml: {message}"


def test_a_string_integer_still_reads(code_dir: Path):
    path = write_project(code_dir, FUNCTION + "      Timeout: '30'\n      MemorySize: 256\n")
    fn = read_function(path, None)
    assert (fn.timeout_s, fn.memory_mb) == (30, 256)


def test_a_deep_yaml_template_and_a_broken_json_one_say_what_they_are(code_dir: Path):
    deep = "Resources:\n  X: " + '!Join ["", [' * 200 + "]]" * 200 + "\n"
    with pytest.raises(ConfigError, match=r"^t\.yaml: nested too deeply for the YAML parser"):
        parse_template_text(deep, "t.yaml")
    path = write_project(code_dir, '{"Resources": {"Fn": {"Type": "AWS::Serverless::Function",,}}}\n',
                         "template.json")
    assert refusal(path) == "template.json:1:59: not valid JSON: Expecting property name enclosed in double quotes"
    # JSON that is YAML too still reads (SAM CLI falls back to YAML the same way).
    path = write_project(code_dir, '{"Resources": {"Fn": {"Type": "AWS::Serverless::Function", '
                                   '"Properties": {"CodeUri": "code", "Handler": "app.handler"}}}}\n', "template.json")
    assert read_function(path, None).handler == "app.handler"


def test_what_changes_how_the_function_is_served_is_said_not_applied(code_dir: Path):
    """A template's concurrency, provisioned environments, SnapStart and function URL are lambdatui's options: a
    template that sets a reserved concurrency of 0 ran with 100 environments, without a word (a bug hunt)."""
    path = write_project(code_dir, FUNCTION + textwrap.indent(
        "ReservedConcurrentExecutions: 0\nProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 2}\n"
        "SnapStart: {ApplyOn: PublishedVersions}\nFunctionUrlConfig: {AuthType: NONE}\n"
        "EventInvokeConfig: {MaximumRetryAttempts: 0}\n", "      "))
    notes = read_function(path, None).notes
    assert [n.replace(f"{path}:", "template.yaml:") for n in notes if "not applied" in n] == [
        "template.yaml: Fn: ReservedConcurrentExecutions is 0, not applied from the template: Lambda throttles every "
        "invoke of this function (429 TooManyRequestsException), where lambdatui runs it, in one environment at least",
        "template.yaml: Fn: ProvisionedConcurrencyConfig is not applied from the template: lambdatui's --provisioned N "
        "sets it",
        "template.yaml: Fn: SnapStart is not applied from the template: lambdatui's --snapstart turns it on",
        "template.yaml: Fn: FunctionUrlConfig is not applied from the template: lambdatui's --url-port PORT serves a "
        "function URL (serve and the debugger)",
        "template.yaml: Fn: EventInvokeConfig is not applied from the template: lambdatui's --maximum-retry-attempts N "
        "and --maximum-event-age SECONDS set it"]
    # 0 is no --concurrency lambdatui takes: what Lambda does with it is said instead (lambda-spec §11.1), in one line.
    assert len([n for n in notes if "ReservedConcurrentExecutions" in n]) == 1


@pytest.mark.parametrize("value", ["1", "!If [IsProd, 0, 5]"])
def test_a_reserved_concurrency_other_than_0_is_not_said_to_throttle(code_dir: Path, value: str):
    path = write_project(code_dir, "Conditions:\n  IsProd: !Equals [a, b]\n" + FUNCTION + textwrap.indent(
        f"ReservedConcurrentExecutions: {value}\n", "      "))
    notes = read_function(path, None).notes
    assert [n for n in notes if "ReservedConcurrentExecutions" in n] == [
        f"{path}: Fn: ReservedConcurrentExecutions is not applied from the template: lambdatui's --concurrency N sets it"]



def test_snapstart_turned_off_in_the_template_is_not_said_to_need_snapstart(code_dir: Path):
    """`ApplyOn: None` is SnapStart off, as CloudFormation reads it: no note telling the user to give --snapstart."""
    path = write_project(code_dir, FUNCTION + "      SnapStart:\n        ApplyOn: None\n")
    notes = read_function(path, None).notes
    assert not [n for n in notes if "SnapStart" in n], notes

@pytest.mark.parametrize("offset, said", [(0, False), (1, True)])
def test_a_declared_python_other_than_the_one_that_runs_it_is_said(code_dir: Path, offset: int, said: bool):
    """A layer laid out for the declared version (python/lib/python3.X/site-packages) is not on another version's
    sys.path, and the code may use what the interpreter lacks: the mismatch was silent (a bug hunt)."""
    declared = f"python{sys.version_info.major}.{sys.version_info.minor + offset}"
    path = write_project(code_dir, FUNCTION.replace("python3.12", declared))
    notes = resolve_function(str(path), python=sys.executable).notes  # said at start-up, in every mode
    mismatch = [n for n in notes if "but the function runs in Python" in n]
    expected = (f"template.yaml: Fn: Runtime {declared}, but the function runs in Python "
                f"{sys.version_info.major}.{sys.version_info.minor} ({sys.executable}, --python): --python chooses "
                "another")
    assert [n.replace(str(path), "template.yaml") for n in mismatch] == ([expected] if said else [])


def test_a_python_function_without_a_handler_is_refused_not_guessed(code_dir: Path):
    """CloudFormation refuses a .zip function without Handler; lambdatui served it as `app.handler`, guessed from
    the files in CodeUri, and the invokes failed at Init (Runtime.HandlerNotFound) instead."""
    path = write_project(code_dir, FUNCTION.replace("      Handler: app.handler\n", ""))
    with pytest.raises(ConfigError) as caught:
        resolve_function(str(path), python=sys.executable)
    assert str(caught.value) == (f"{path}: Fn: no Handler: a .zip function needs one (CloudFormation refuses it "
                                 "without); set Handler: module.function, or pass --handler module.function")
    given = resolve_function(str(path), python=sys.executable, handler="app.handler")
    assert given.handler == "app.handler"
