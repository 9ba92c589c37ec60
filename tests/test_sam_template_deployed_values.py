"""Values a real template holds that CloudFormation fills in from other services when it deploys the stack (an SSM
parameter type, a `{{resolve:...}}` dynamic reference): named and left out, never passed on as the text written.
Real files in `code_dir`."""

from __future__ import annotations

import platform
import textwrap
from pathlib import Path

from lambdatui.sam_template.reader import read_function
from lambdatui.sam_template.resources import architecture_note

DEPLOYED = """\
Parameters:
  DbUrl:
    Type: AWS::SSM::Parameter::Value<String>
    Default: /myapp/db-url
  Stage:
    Type: String
    Default: dev
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: app.handler
      Runtime: python3.12
      Environment:
        Variables:
          DB_URL: !Ref DbUrl
          DB_HOST: !Sub "${DbUrl}:5432"
          SECRET: !Sub "{{resolve:secretsmanager:${Stage}/db:SecretString:password}}"
          TOKEN: "{{resolve:ssm-secure:/myapp/token}}"
          STAGE: !Ref Stage
"""


def test_ssm_parameters_and_dynamic_references_are_named_not_passed_on_as_written(code_dir: Path):
    path = code_dir / "template.yaml"
    path.write_text(textwrap.dedent(DEPLOYED))
    fn = read_function(path, None, "template.yaml")
    # CloudFormation gives the function what SSM and Secrets Manager hold, never the parameter's name or the
    # reference's text: a local run with those would fail later, somewhere far from the template.
    assert fn.env == {"STAGE": "dev"}
    assert fn.unresolved_env["DB_URL"] == "!Ref DbUrl (the value CloudFormation reads from SSM parameter /myapp/db-url)"
    assert fn.unresolved_env["DB_HOST"].startswith("!Ref DbUrl (the value CloudFormation reads from SSM parameter")
    assert fn.unresolved_env["SECRET"] == ("{{resolve:secretsmanager:dev/db:SecretString:password}} "
                                           "(a dynamic reference, read by CloudFormation when deployed)")
    assert fn.unresolved_env["TOKEN"].startswith("{{resolve:ssm-secure:/myapp/token}} (a dynamic reference")


GENERATED = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Other:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: app.handler
      Runtime: python3.12
      AutoPublishAlias: live
      FunctionUrlConfig: {AuthType: NONE}
      Events:
        Api: {Type: Api, Properties: {Path: /, Method: get}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: app.handler
      Runtime: python3.12
      Environment:
        Variables:
          ALIAS: !Ref Other.Alias
          ROLE: !GetAtt OtherRole.Arn
          URL: !GetAtt OtherUrl.FunctionUrl
          API: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod"
          ROLE_TOO: !Sub "${OtherRole.Arn}"
          PLAIN: plain
"""


def test_resources_the_sam_transform_generates_are_named_not_refused(code_dir: Path):
    """`MyFn.Alias`, `MyFnRole`, `MyFnUrl`, `ServerlessRestApi` are in every deployed SAM stack (CloudFormation sees
    the transformed template): a template naming them deploys, so a local run leaves them out, saying so."""
    path = code_dir / "template.yaml"
    path.write_text(GENERATED)
    fn = read_function(path, "Fn", "template.yaml")
    assert fn.env == {"PLAIN": "plain"}
    assert fn.unresolved_env == {
        "ALIAS": "!Ref Other.Alias (a resource SAM generates for Other: it exists once deployed)",
        "ROLE": "!GetAtt OtherRole.Arn (a resource SAM generates for Other: it exists once deployed)",
        "URL": "!GetAtt OtherUrl.FunctionUrl (a resource SAM generates for Other: it exists once deployed)",
        "API": "!Ref ServerlessRestApi (a resource SAM generates for the functions' Api or HttpApi events: it exists once deployed)",
        "ROLE_TOO": "!Sub ${OtherRole.Arn} (a resource SAM generates for Other: it exists once deployed)",
    }


def test_a_code_uri_only_a_deployment_knows_says_which_folder_runs_instead(code_dir: Path):
    path = code_dir / "template.yaml"
    path.write_text("Parameters:\n  CodeDir: {Type: String}\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
                    "    Properties: {CodeUri: !Ref CodeDir, Handler: app.handler, Runtime: python3.12}\n")
    fn = read_function(path, None, "template.yaml")
    assert fn.code_dir == code_dir.resolve()
    assert fn.notes == ("template.yaml: Fn: CodeUri is !Ref CodeDir (a parameter with no Default: "
                        "--parameter-overrides CodeDir=VALUE), which only CloudFormation can resolve: the template's "
                        "folder is run instead, as sam local runs it",)


def test_an_architecture_other_than_this_machines_is_said(code_dir: Path):
    here = platform.machine().lower()
    other = "x86_64" if here in ("aarch64", "arm64") else "arm64"
    path = code_dir / "template.yaml"
    path.write_text("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
                    f"    Properties: {{CodeUri: ., Handler: app.handler, Architectures: [{other}]}}\n")
    notes = read_function(path, None, "template.yaml").notes
    assert [n for n in notes if "Architectures" in n] == [
        f"template.yaml: Fn: Architectures {other}: the function runs on this machine's "
        f"{'arm64' if other == 'x86_64' else 'x86_64'}; compiled dependencies built for {other} do not load here"]
    assert architecture_note(["x86_64"], "x86_64") is None and architecture_note(["arm64"], "aarch64") is None
