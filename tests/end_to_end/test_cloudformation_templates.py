"""Templates `sam local invoke` runs that are not pure SAM, through the real CLI and real processes: CloudFormation's
own `AWS::Lambda::Function` (hand-written, or what `cdk synth` writes, whose code is an asset folder named in the
resource's Metadata), and a SAM function whose Metadata names its code (SAM CLI's asset rule)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from e2e_support import run_cli, write_file

CDK_SYNTH = """\
Globals:
  Function:
    Timeout: 9
Parameters:
  AssetBucket:
    Type: String
Resources:
  SharedLayer0A1B2C3D:
    Type: AWS::Lambda::LayerVersion
    Properties:
      Content:
        S3Bucket: !Ref AssetBucket
        S3Key: layer.zip
    Metadata:
      aws:asset:path: asset.layer
      aws:asset:property: Content
  OrdersFunction1A2B3C4D:
    Type: AWS::Lambda::Function
    Properties:
      Code:
        S3Bucket: !Ref AssetBucket
        S3Key: 0123abcd.zip
      Handler: app.handler
      Runtime: python3.12
      MemorySize: 256
      Layers:
        - !Ref SharedLayer0A1B2C3D
      Environment:
        Variables:
          STAGE: cdk
    Metadata:
      aws:cdk:path: Stack/Orders/Resource
      aws:asset:path: asset.orders
      aws:asset:property: Code
  PlainFunction:
    Type: AWS::Lambda::Function
    Properties:
      Code: plain/
      Handler: plain.handler
      Runtime: python3.12
  SamWithAsset:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.12
      Layers:
        - !Ref SharedLayer0A1B2C3D
    Metadata:
      aws:asset:path: asset.orders
      aws:asset:property: CodeUri
"""

ORDERS = """\
import os
import shared


def handler(event, context):
    return {"stage": os.environ.get("STAGE"), "shared": shared.VALUE,
            "memory": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
            "timeout_s": round(context.get_remaining_time_in_millis() / 1000)}
"""


def cdk_project(code_dir: Path) -> Path:
    write_file(code_dir / "asset.orders" / "app.py", ORDERS)
    write_file(code_dir / "asset.layer" / "python" / "shared.py", "VALUE = 'from the layer'\n")
    write_file(code_dir / "plain" / "plain.py", "def handler(event, context):\n    return 'plain'\n")
    # cdk synth leaves the template's own folder without the function's code: a run from it finds no handler
    return write_file(code_dir / "Stack.template.yaml", CDK_SYNTH)


def test_a_cdk_synth_function_runs_its_asset_folder_with_its_asset_layer(code_dir: Path) -> None:
    template = cdk_project(code_dir)
    done = run_cli("invoke", str(template), "--function", "OrdersFunction1A2B3C4D")
    assert done.returncode == 0, done.stderr
    # Globals are the SAM transform's: CloudFormation's own function keeps Lambda's default timeout of 3 s
    assert json.loads(done.stdout) == {"stage": "cdk", "shared": "from the layer", "memory": "256", "timeout_s": 3}


def test_a_cloudformation_function_with_a_local_code_path_runs(code_dir: Path) -> None:
    template = cdk_project(code_dir)
    done = run_cli("invoke", str(template), "--function", "PlainFunction")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == "plain"


def test_a_sam_function_whose_metadata_names_its_code_runs_that_folder(code_dir: Path) -> None:
    template = cdk_project(code_dir)
    done = run_cli("invoke", str(template), "--function", "SamWithAsset")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["timeout_s"] == 9  # and Globals apply to a SAM function


def test_cdk_synths_json_template_is_a_template(code_dir: Path) -> None:
    """`cdk synth` writes cdk.out/<Stack>.template.json, the file `sam local invoke -t` is given."""
    cdk_project(code_dir)
    text = CDK_SYNTH.replace("!Ref AssetBucket", "{Ref: AssetBucket}").replace("!Ref SharedLayer0A1B2C3D",
                                                                              "{Ref: SharedLayer0A1B2C3D}")
    template = write_file(code_dir / "Stack.template.json", json.dumps(yaml.safe_load(text)))
    done = run_cli("invoke", str(template), "--function", "PlainFunction")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == "plain"


def test_a_template_sam_build_wrote_runs_the_built_folder_not_the_asset(code_dir: Path) -> None:
    """`sam build` on a cdk synth template points Code at the build and marks the resource SamNormalized; the
    asset path left in its Metadata is the unbuilt source."""
    write_file(code_dir / "asset.orders" / "plain.py", "def handler(event, context):\n    return 'unbuilt'\n")
    write_file(code_dir / "Built" / "plain.py", "def handler(event, context):\n    return 'built'\n")
    template = write_file(code_dir / "template.yaml", """\
Resources:
  Built:
    Type: AWS::Lambda::Function
    Properties: {Code: Built, Handler: plain.handler, Runtime: python3.12}
    Metadata: {aws:asset:path: asset.orders, aws:asset:property: Code, SamResourceId: Built, SamNormalized: true}
""")
    done = run_cli("invoke", str(template))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == "built"


SOURCE = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.12}
"""
BUILT = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: Fn, Handler: app.handler, Runtime: python3.12}
    Metadata: {SamResourceId: Fn}
"""
APP = "import dep\n\n\ndef handler(event, context):\n    return dep.VALUE\n"


def test_a_project_folder_runs_what_sam_build_wrote_as_sam_local_does(code_dir: Path) -> None:
    """`sam build && sam local invoke`: the built template (the dependencies vendored beside the code) runs."""
    write_file(code_dir / "src" / "app.py", APP)
    write_file(code_dir / "src" / "requirements.txt", "dep\n")
    write_file(code_dir / "template.yaml", SOURCE)
    write_file(code_dir / ".aws-sam" / "build" / "Fn" / "app.py", APP)
    write_file(code_dir / ".aws-sam" / "build" / "Fn" / "dep.py", "VALUE = 'vendored by sam build'\n")
    built = write_file(code_dir / ".aws-sam" / "build" / "template.yaml", BUILT)

    done = run_cli("invoke", str(code_dir))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == "vendored by sam build"
    assert f"{built} runs: what 'sam build' wrote, as sam local runs it" in done.stderr

    source = run_cli("invoke", str(code_dir / "template.yaml"))  # the source, as asked, and a line saying so
    assert "No module named 'dep'" in source.stdout, source.stdout
    assert f"'sam build' wrote {built}, with its dependencies" in source.stderr, source.stderr


PARAMETERS = """\
Parameters:
  Stage: {Type: String}
  Memory: {Type: Number, Default: 128}
  DbUrl: {Type: "AWS::SSM::Parameter::Value<String>", Default: /app/db}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: !Sub "${Stage}/"
      Handler: probe.handler
      Runtime: python3.12
      MemorySize: !Ref Memory
      Environment:
        Variables: {STAGE: !Ref Stage, DB_URL: !Ref DbUrl}
"""
PROBE = """\
import os


def handler(event, context):
    return [os.environ.get(k) for k in ("STAGE", "DB_URL", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")]
"""


def test_parameter_overrides_give_the_parameters_values_as_sam_local_does(code_dir: Path) -> None:
    write_file(code_dir / "prod" / "probe.py", PROBE)
    template = write_file(code_dir / "template.yaml", PARAMETERS)
    record = code_dir / "session.toml"
    done = run_cli("invoke", str(template), "--parameter-overrides", "Stage=prod Memory=256",
                   "--parameter-overrides", "ParameterKey=DbUrl,ParameterValue=postgres://local", "--record", str(record))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["prod", "postgres://local", "256"]
    assert "left out" not in done.stderr, done.stderr
    # the replay the recording names runs the same function: the overrides are part of its command
    assert "--parameter-overrides 'Stage=prod Memory=256'" in record.read_text()

    unknown = run_cli("invoke", str(template), "--parameter-overrides", "Stag=prod")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (f"lambdatui: --parameter-overrides Stag: no such parameter in {template} "
                                      "(its Parameters: Stage, Memory, DbUrl)")
