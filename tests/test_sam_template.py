"""The SAM template reader (lambda-spec §10.5) and SAM's --env-vars file: parsing, resolving, Globals, choosing.

Real files in `code_dir`; the CLI's use of them, with real invokes, is in end_to_end/test_templates.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lambdatui.config import resolve_function
from lambdatui.config_error import ConfigError
from lambdatui.env_vars import load_env_vars
from lambdatui.sam_template.intrinsics import OMITTED, Invalid, Resolver, Unresolved
from lambdatui.sam_template.reader import ChooseFunction, SamTemplate, read_function
from lambdatui.sam_template.resources import merge_globals
from lambdatui.sam_template.yaml_tags import parse_template_text

TAGS = """\
Refs:
  a: !Ref Stage
  b: !Sub "${AWS::Region}-${Stage}"
  c: !GetAtt Table.Arn
  d: !If [IsProd, x, y]
  e: !Join ["-", [a, b]]
  f: !Select [0, [p, q]]
  g: !FindInMap [Sizes, dev, Memory]
  h: !ImportValue shared-vpc
  i: !Base64 hi
  j: !Equals [a, b]
  k: !Not [!Condition IsProd]
  l: !And [!Condition IsProd, !Condition IsProd]
  m: !Or [!Condition IsProd, !Condition IsProd]
  n: !Condition IsProd
  o: !GetAZs us-east-1
  p: !Split [",", "a,b"]
  q: !Transform {Name: AWS::Include, Parameters: {Location: s3://b/k}}
  r: !GetAtt [Table, StreamArn]
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_every_short_tag_parses_into_its_long_form():
    data = parse_template_text(TAGS, "t.yaml")["Refs"]
    assert data["a"] == {"Ref": "Stage"}
    assert data["b"] == {"Fn::Sub": "${AWS::Region}-${Stage}"}
    assert data["c"] == {"Fn::GetAtt": ["Table", "Arn"]}
    assert data["r"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert data["d"] == {"Fn::If": ["IsProd", "x", "y"]}
    assert data["k"] == {"Fn::Not": [{"Condition": "IsProd"}]}
    assert data["n"] == {"Condition": "IsProd"}
    assert data["q"] == {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}}
    expected = {"e": "Fn::Join", "f": "Fn::Select", "g": "Fn::FindInMap", "h": "Fn::ImportValue", "i": "Fn::Base64",
                "j": "Fn::Equals", "l": "Fn::And", "m": "Fn::Or", "o": "Fn::GetAZs", "p": "Fn::Split"}
    for key, long_name in expected.items():
        assert list(data[key]) == [long_name], key


def test_an_unknown_tag_and_broken_yaml_are_one_line_with_the_place():
    with pytest.raises(ConfigError, match=r"^t\.yaml:1:4: not valid YAML: could not determine a constructor .*!Nope"):
        parse_template_text("a: !Nope x\n", "t.yaml")
    with pytest.raises(ConfigError) as caught:
        parse_template_text("Resources:\n  Fn:\n    Type: [unclosed\n", "t.yaml")
    assert str(caught.value).startswith("t.yaml:4:1: not valid YAML: ")
    assert "\n" not in str(caught.value)


RESOLVABLE = {
    "Parameters": {"Stage": {"Type": "String", "Default": "dev"}, "Names": {"Type": "CommaDelimitedList",
                                                                        "Default": "a, b,c"},
                   "NoDefault": {"Type": "String"}},
    "Mappings": {"Sizes": {"dev": {"Memory": 256}}},
    "Conditions": {"IsDev": {"Fn::Equals": [{"Ref": "Stage"}, "dev"]},
                   "NotDev": {"Fn::Not": [{"Condition": "IsDev"}]},
                   "Both": {"Fn::And": [{"Condition": "IsDev"}, {"Fn::Or": [{"Condition": "NotDev"}, True]}]}},
    "Resources": {"Table": {"Type": "AWS::DynamoDB::Table"}},
}


@pytest.mark.parametrize("value, expected", [
    ({"Ref": "Stage"}, "dev"),
    ({"Ref": "AWS::Region"}, "us-east-1"),
    ({"Ref": "AWS::AccountId"}, "123456789012"),
    ({"Ref": "Names"}, ["a", "b", "c"]),
    ({"Ref": "AWS::NoValue"}, OMITTED),
    ({"Fn::Sub": "arn:${AWS::Partition}:s3:::${Stage}-bucket-${!Literal}"}, "arn:aws:s3:::dev-bucket-${Literal}"),
    ({"Fn::Sub": ["${Prefix}-${Stage}", {"Prefix": {"Ref": "AWS::Region"}}]}, "us-east-1-dev"),
    ({"Fn::Join": ["/", ["a", {"Ref": "Stage"}, 3]]}, "a/dev/3"),
    ({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}, "y"),
    ({"Fn::Select": ["2", {"Ref": "Names"}]}, "c"),
    # Only the item picked is evaluated: one only CloudFormation knows elsewhere in the list made the whole unknown.
    ({"Fn::Select": [0, ["known", {"Fn::GetAtt": ["Table", "Arn"]}]]}, "known"),
    ({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]}, 256),
    ({"Fn::If": ["IsDev", "debug", "info"]}, "debug"),
    ({"Fn::If": ["NotDev", "debug", "info"]}, "info"),
    ({"Fn::If": ["Both", 1, 2]}, 1),
    ({"Fn::Base64": {"Ref": "Stage"}}, "ZGV2"),
    ({"list": [1, {"Ref": "AWS::NoValue"}, 2], "gone": {"Ref": "AWS::NoValue"}}, {"list": [1, 2]}),
])
def test_what_is_known_before_a_deployment_resolves(value, expected):
    assert Resolver(RESOLVABLE).resolve(value) == expected


@pytest.mark.parametrize("value, named", [
    ({"Fn::GetAtt": ["Table", "Arn"]}, "!GetAtt Table.Arn"),
    ({"Ref": "Table"}, "!Ref Table (a resource"),
    ({"Ref": "NoDefault"}, "!Ref NoDefault (a parameter with no Default: --parameter-overrides NoDefault=VALUE)"),
    ({"Fn::ImportValue": "shared-vpc"}, "!ImportValue shared-vpc"),
    ({"Fn::Sub": "${Table.Arn}/index"}, "!Sub ${Table.Arn}"),
    ({"Fn::Join": ["", ["x", {"Fn::GetAtt": ["Table", "Arn"]}]]}, "!GetAtt Table.Arn"),
    ({"Fn::GetAZs": ""}, "!GetAZs"),
    ({"Fn::Transform": {"Name": "x"}}, "!Transform"),
])
def test_what_only_cloudformation_knows_is_named(value, named):
    with pytest.raises(Unresolved) as caught:
        Resolver(RESOLVABLE).resolve(value)
    assert str(caught.value).startswith(named)


@pytest.mark.parametrize("value, why", [
    # CloudFormation counts from 0 up only: Python's -1 would have picked the last item.
    ({"Fn::Select": [-1, ["a", "b"]]}, "the index must be a whole number from 0 up, not -1"),
    ({"Fn::Select": ["x", ["a", "b"]]}, "the index must be a whole number from 0 up, not 'x'"),
    ({"Fn::Select": ["²", ["a", "b"]]}, "the index must be a whole number from 0 up, not '²'"),  # isdigit() took it
    ({"Fn::Select": [5, ["a", "b"]]}, "no item 5 in a list of 2"),
    ({"Fn::FindInMap": ["Sizes", "prod", "Memory"]}, "no such entry in the template's Mappings"),
])
def test_what_cloudformation_refuses_in_any_deployment_is_a_mistake(value, why):
    with pytest.raises(Invalid) as caught:
        Resolver(RESOLVABLE).resolve(value)
    assert str(caught.value).endswith(why)


@pytest.mark.parametrize("value, why", [
    # The list a parameter gives, and the keys a parameter or a pseudo parameter names, may be other in a deployment
    # (a RegionMap without the region a local run says it is in).
    ({"Fn::Select": [3, {"Ref": "Names"}]}, "(no item 3 in the list it gives here, of 3)"),
    ({"Fn::FindInMap": ["Sizes", {"Ref": "AWS::Region"}, "Memory"]}, "(no such entry for the values used here)"),
])
def test_what_another_deployment_may_resolve_is_left_to_cloudformation(value, why):
    with pytest.raises(Unresolved) as caught:
        Resolver(RESOLVABLE).resolve(value)
    assert str(caught.value).endswith(why)


def test_globals_merge_as_sam_merges_them():
    globals_ = {"Timeout": 5, "Runtime": "python3.12", "Layers": ["A"],
                "Environment": {"Variables": {"STAGE": "dev", "LEVEL": "info"}}, "Tags": {"Ref": "T"}}
    own = {"Timeout": 9, "Layers": ["B"], "Environment": {"Variables": {"LEVEL": "debug"}}, "Tags": {"team": "x"}}
    assert merge_globals(globals_, own) == {
        "Timeout": 9, "Runtime": "python3.12", "Layers": ["A", "B"],
        "Environment": {"Variables": {"STAGE": "dev", "LEVEL": "debug"}},
        "Tags": {"team": "x"},  # an intrinsic is a value: the function's own wins whole
    }


TWO_FUNCTIONS = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 7
    Layers: [!Ref Shared]
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/shared}
  Table:
    Type: AWS::DynamoDB::Table
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: orders/
      Handler: app.handler
      MemorySize: 512
      Layers: [arn:aws:lambda:us-east-1:123456789012:layer:far:1]
      Environment:
        Variables:
          TABLE: !GetAtt Table.Arn
          STAGE: !Sub "${Stage}-orders"
          DEBUG: true
  Reports:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: reports
      Handler: report.main
      Runtime: python3.11
"""


@pytest.fixture
def project(code_dir: Path) -> Path:
    write(code_dir, "orders/app.py", "def handler(event, context):\n    return 1\n")
    write(code_dir, "reports/report.py", "def main(event, context):\n    return 2\n")
    (code_dir / "layers" / "shared" / "python").mkdir(parents=True)
    return write(code_dir, "template.yaml", TWO_FUNCTIONS)


def test_a_function_reads_with_globals_first_and_its_own_values_over_them(project: Path):
    fn = read_function(project, "Orders")
    assert (fn.logical_id, fn.name, fn.handler, fn.runtime) == ("Orders", "Orders", "app.handler", "python3.12")
    assert (fn.timeout_s, fn.memory_mb) == (7, 512)
    assert fn.code_dir == project.parent / "orders"
    assert fn.env == {"STAGE": "dev-orders", "DEBUG": "true"}
    assert fn.unresolved_env == {"TABLE": "!GetAtt Table.Arn"}
    assert fn.layers == (project.parent / "layers" / "shared",)
    assert len(fn.notes) == 1 and "layer arn:aws:lambda:us-east-1:123456789012:layer:far:1 is in AWS" in fn.notes[0]


def test_the_other_functions_are_known_by_logical_id_and_by_the_name_their_function_name_resolves_to(code_dir: Path):
    # A caller naming one of them means another function (serve answers 404): `!Sub users-${Stage}` is users-dev.
    write(code_dir, "fn/app.py", "def handler(event, context):\n    return 1\n")
    path = write(code_dir, "template.yaml", """\
Parameters:
  Stage: {Type: String, Default: dev}
Resources:
  Orders: {Type: AWS::Serverless::Function, Properties: {CodeUri: fn, Handler: app.handler, Runtime: python3.12}}
  Users:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: fn, Handler: app.handler, Runtime: python3.12, FunctionName: !Sub "users-${Stage}"}
  Reports:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: fn, Handler: app.handler, Runtime: python3.12, FunctionName: reports-fn}
  Deployed:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: fn, Handler: app.handler, Runtime: python3.12, FunctionName: !GetAtt Table.Arn}
  Table: {Type: AWS::DynamoDB::Table}
""")
    assert tuple(read_function(path, "Orders").siblings) == ("Users", "users-dev", "Reports", "reports-fn", "Deployed")
    assert tuple(read_function(path, "Orders", overrides={"Stage": "prod"}).siblings)[:2] == ("Users", "users-prod")


def test_several_functions_and_none_chosen_lists_them(project: Path):
    with pytest.raises(ChooseFunction) as caught:
        read_function(project, None, "template.yaml")
    lines = str(caught.value).splitlines()
    assert lines[0] == "template.yaml holds 2 functions: choose one with --function LOGICAL_ID"
    assert lines[1].split() == ["Orders", "app.handler", "python3.12"]
    assert lines[2].split() == ["Reports", "report.main", "python3.11"]
    assert [c.logical_id for c in caught.value.choices] == ["Orders", "Reports"]


@pytest.mark.parametrize("text, message", [
    ("[1, 2]\n", "not a SAM template (it has no Resources section)"),
    ("Resources:\n  Bucket: {Type: AWS::S3::Bucket}\n", "no AWS::Serverless::Function or AWS::Lambda::Function in its Resources"),
    ("Resources:\n  Sub: {Type: AWS::Serverless::Application, Properties: {Location: ./child.yaml}}\n",
     "no AWS::Serverless::Function or AWS::Lambda::Function in its Resources; its functions are in nested stacks, "
     "run lambdatui on one's template: Sub (Location ./child.yaml)"),
    ("Resources:\n  Fn: {Type: AWS::Lambda::Function, Properties: {Code: {S3Bucket: b, S3Key: k.zip}}}\n",
     "Fn: Code (S3Bucket/S3Key) is in S3"),
    ("Resources:\n  Fn: {Type: AWS::Lambda::Function, Properties: {Code: {ZipFile: 'def h(e, c): pass'}}}\n",
     "Fn: Code.ZipFile: put the code in a file and set Code to its folder"),
    ("Resources:\n  Fn: {Type: AWS::Serverless::Function, Properties: {CodeUri: nowhere}}\n",
     "Fn: CodeUri nowhere: no such folder (relative to the template's folder)"),
    ("Resources:\n  Fn: {Type: AWS::Serverless::Function, Properties: {CodeUri: s3://b/k.zip}}\n",
     "Fn: CodeUri s3://b/k.zip is in S3"),
    ("Resources:\n  Fn: {Type: AWS::Serverless::Function, Properties: {Timeout: 901}}\n",
     "Fn: Timeout 901: Lambda allows 1 to 900 seconds"),
    ("Resources:\n  Fn: {Type: AWS::Serverless::Function, Properties: {PackageType: Image}}\n",
     "Fn: a container image function"),
    ("Resources:\n  L: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: template.yaml}}\n"
     "  Fn: {Type: AWS::Serverless::Function, Properties: {Layers: [!Ref L]}}\n",
     "Fn: layer L's ContentUri template.yaml: expected a layer folder or a .zip archive"),
])
def test_a_template_that_cannot_run_is_one_line(code_dir: Path, text: str, message: str):
    path = write(code_dir, "template.yaml", text)
    with pytest.raises(ConfigError) as caught:
        read_function(path, None, "template.yaml")
    assert str(caught.value) == f"template.yaml: {message}" or str(caught.value).startswith(f"template.yaml: {message}")
    assert "\n" not in str(caught.value)


def test_an_unknown_function_names_the_ones_there_are(project: Path):
    with pytest.raises(ConfigError, match=r"^--function Nope: no such function in t.yaml \(its functions: Orders, "
                                          r"Reports\)$"):
        SamTemplate(project, "t.yaml").choose("Nope")


def test_env_vars_parameters_then_the_functions_block(code_dir: Path):
    # As SAM CLI passes them on: a boolean as true/false, null as an empty string.
    path = write(code_dir, "env.json", '{"Parameters": {"A": "p", "B": 1, "D": null}, "Orders": {"A": "o", "C": true}}')
    env_vars = load_env_vars(str(path))
    assert env_vars.for_function("Orders") == {"A": "o", "B": "1", "C": "true", "D": ""}
    assert env_vars.for_function("Reports") == {"A": "p", "B": "1", "D": ""}


@pytest.mark.parametrize("text, message", [
    ("[]", "expected SAM's shape"),
    ('{"Orders": "x"}', "'Orders' must be an object of variables"),
    ('{"Orders": {"A": [1]}}', "Orders.A: values must be strings"),
    ("{", "not valid JSON"),
])
def test_a_bad_env_vars_file_is_one_line(code_dir: Path, text: str, message: str):
    path = write(code_dir, "env.json", text)
    with pytest.raises(ConfigError) as caught:
        load_env_vars(str(path))
    assert str(caught.value).startswith(f"--env-vars {path}: {message}")


def test_the_template_becomes_the_same_function_config_the_options_build(project: Path):
    """Template, then --env-vars, then --env; the options win over the template's Timeout and MemorySize."""
    env_file = write(project.parent, "env.json", '{"Parameters": {"STAGE": "local"}, "Orders": {"TABLE": "t"}}')
    told: list[str] = []
    config = resolve_function(str(project), function="Orders", env_vars=str(env_file), env_pairs=["DEBUG=no"],
                              timeout_s=20, report=told.append)
    assert (config.name, config.handler, config.timeout_s, config.memory_mb) == ("Orders", "app.handler", 20, 512)
    assert config.runtime.ours and config.code_dir == project.parent / "orders"
    assert dict(config.env) == {"STAGE": "local", "DEBUG": "no", "TABLE": "t"}
    assert config.layers == (project.parent / "layers" / "shared",)
    # TABLE was given, so it is not reported as left out; the layer's ARN is.
    assert not any("TABLE" in line for line in told), told
    assert sum("layer:far:1" in line for line in told) == 1, told


def test_layers_from_the_template_and_the_option_count_together(project: Path, code_dir: Path):
    extra = [str(code_dir / f"extra{i}") for i in range(5)]
    for folder in extra:
        Path(folder).mkdir()
    config = resolve_function(str(project), function="Reports", layers=extra[:4])
    assert config.layers == (project.parent / "layers" / "shared", *map(Path, extra[:4]))
    with pytest.raises(ConfigError, match=r"^1 layer\(s\) from the template and 5 from --layer: Lambda attaches"):
        resolve_function(str(project), function="Reports", layers=extra)


def test_a_layer_listed_in_globals_and_again_by_the_function_is_one_line(code_dir: Path):
    # SAM adds the lists up, so the layer is attached twice: Lambda refuses that, and an overlay of one folder twice
    # fails to mount (found by a helper's bug hunt: /var/task and /opt were then not laid out, with a mount error).
    (code_dir / "src").mkdir()
    (code_dir / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (code_dir / "layer").mkdir()
    template = write(code_dir, "template.yaml", """\
        Globals:
          Function:
            Layers: [!Ref Shared]
        Resources:
          Shared:
            Type: AWS::Serverless::LayerVersion
            Properties: {ContentUri: layer}
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src, Handler: app.handler, Runtime: python3.12, Layers: [!Ref Shared]}
        """)
    with pytest.raises(ConfigError, match=r"^layer .*layer is attached twice"):
        resolve_function(str(template))
    with pytest.raises(ConfigError, match=r"attached twice"):
        resolve_function(str(code_dir / "src" / "app.py"), layers=[str(code_dir / "layer")] * 2)
