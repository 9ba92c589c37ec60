"""`Fn::ForEach` (the AWS::LanguageExtensions transform), which `sam local` expands: each copy of the loop's
fragment is a function to choose and run. Real files in `code_dir`."""

from __future__ import annotations

from pathlib import Path

from lambdatui.sam_template.reader import SamTemplate

LOOPS = """\
Transform:
  - AWS::LanguageExtensions
  - AWS::Serverless-2016-10-31
Parameters:
  Names:
    Type: CommaDelimitedList
    Default: alpha,beta
Globals:
  Function:
    Runtime: python3.12
Resources:
  Fn::ForEach::Functions:
    - Name
    - !Ref Names
    - ${Name}Function:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: ${Name}/
          Handler: main.handler
          FunctionName: !Sub "${Name}-handler"
          Environment:
            Variables:
              WHO: ${Name}
  Fn::ForEach::Outer:
    - Region
    - [eu-west-1]
    - Fn::ForEach::Inner:
        - Size
        - [small]
        - '&{Region}${Size}Function':
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: alpha/
              Handler: main.handler
              Environment:
                Variables:
                  WHERE: ${Region}/${Size}
"""


def test_for_each_loops_are_expanded_into_functions(code_dir: Path):
    for name in ("alpha", "beta"):
        (code_dir / name).mkdir()
        (code_dir / name / "main.py").write_text("def handler(event, context):\n    return 1\n")
    path = code_dir / "template.yaml"
    path.write_text(LOOPS)
    template = SamTemplate(path, "template.yaml")
    assert template.function_ids == ["alphaFunction", "betaFunction", "euwest1smallFunction"]
    beta = template.function("betaFunction")
    assert (beta.name, beta.code_dir, beta.runtime, dict(beta.env)) == \
        ("beta-handler", (code_dir / "beta").resolve(), "python3.12", {"WHO": "beta"})
    assert dict(template.function("euwest1smallFunction").env) == {"WHERE": "eu-west-1/small"}
