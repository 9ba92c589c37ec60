"""Values a real template holds that CloudFormation fills in from other services when it deploys the stack (an SSM
parameter type, a `{{resolve:...}}` dynamic reference): named and left out, never passed on as the text written.
Real files in `code_dir`."""

from __future__ import annotations

import textwrap
from pathlib import Path

from lambdatui.sam_template.reader import read_function

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
