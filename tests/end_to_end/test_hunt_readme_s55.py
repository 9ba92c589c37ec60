"""README hunt (s55): the parts of README.md changed this round, followed as a new user would.

Pinned here: the one-line LoggingConfig notice says the runtime gets `AWS_LAMBDA_LOG_LEVEL=INFO` when `--env`
gave it another level (the variable the user names wins, as README says; the notice does not know it). Also kept:
a printed line over 256 KB goes on in the next record (README, "Function logs"), at the byte the README names.

Everything lives in `tmp_path`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e_support import run_cli, write_file

BIG_PRINT = """def handler(event, context):
    print("m" * event["n"])
    return "ok"
"""

LOG_APP = """import logging
import os


def handler(event, context):
    logging.getLogger().debug("debug-record")
    return os.environ.get("AWS_LAMBDA_LOG_LEVEL")
"""

LOG_TEMPLATE = """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  LogFn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.12
      CodeUri: fn/
      LoggingConfig:
        LogFormat: JSON
"""


def test_a_printed_line_over_256_kb_goes_on_in_the_next_record(tmp_path: Path) -> None:
    handler = write_file(tmp_path / "big" / "app.py", BIG_PRINT)
    done = run_cli("invoke", str(handler), "-e", json.dumps({"n": 262_145}))
    assert done.returncode == 0, done.stderr
    rows = [line[len("[function]   "):] for line in done.stderr.splitlines() if line.startswith("[function]")]
    assert [len(row) for row in rows] == [262_144, 1]
    assert done.stdout == '"ok"\n'


def test_the_logging_config_notice_names_the_level_the_runtime_gets(tmp_path: Path) -> None:
    write_file(tmp_path / "fn" / "app.py", LOG_APP)
    template = write_file(tmp_path / "template.yaml", LOG_TEMPLATE)
    done = run_cli("invoke", str(template), "--function", "LogFn", "--env", "AWS_LAMBDA_LOG_LEVEL=DEBUG", "-e", "{}")
    assert done.returncode == 0, done.stderr
    assert done.stdout == '"DEBUG"\n'  # the user's level wins, as README says
    assert '"debug-record"' in done.stderr
    assert "AWS_LAMBDA_LOG_LEVEL=INFO" not in done.stderr
