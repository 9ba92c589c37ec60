"""Review of 4960ece..29a6089: a folder's name made a function name, credentials variables passed through, the
caller's trace header and the Runtime API's address in recordings, EphemeralStorage in a template.

Real processes only (`lambdatui invoke`, `serve --record`, `replay`) and real HTTP. Each strict xfail is a bug the
review found; the passing tests pin what it checked and found right where a later change could break it. Code is
written under `code_dir` (outside /tmp), recordings beside it; every process is stopped by its context manager.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tomllib
from pathlib import Path

import pytest

from e2e_support import ServeProcess, lambdatui_argv, run_cli, write_file

# What the function sees of the caller's header and of its Runtime API, and an address-like text of its own.
TRACE_HANDLER = '''import os
def handler(event, context):
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID"), "api": os.environ["AWS_LAMBDA_RUNTIME_API"],
            "other": "127.0.0.1:9001", "db": "10.0.0.7:5432", "name": context.function_name}
'''


def _raw_invoke(served: ServeProcess, trace: bytes) -> dict:
    """One invoke with X-Amzn-Trace-Id given as raw bytes (httpx and urllib refuse some of them)."""
    host, port = served.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /2015-03-31/functions/fn/invocations HTTP/1.1\r\nHost: lambda\r\nConnection: close\r\n"
                     b"Content-Length: 2\r\nX-Amzn-Trace-Id: " + trace + b"\r\n\r\n{}")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), data
    return json.loads(body)


def _invoke_stdout(handler: Path, env: dict[str, str], cwd: Path) -> tuple[str, str]:
    result = subprocess.run([*lambdatui_argv(), "invoke", str(handler)], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, result.stderr


# ---------------------------------------------------------------------- findings


def test_a_folder_name_lambda_allows_is_kept_as_it_is(code_dir: Path) -> None:
    # lambda_limits.FUNCTION_NAME (CreateFunction's pattern, hyphens anywhere) takes "-fn-"; config.py renames only
    # "a folder's name Lambda refuses", and says so. Here a name Lambda takes is changed, and the note is untrue.
    handler = write_file(code_dir / "-fn-" / "handler.py", TRACE_HANDLER)
    result = run_cli("invoke", str(handler))
    assert result.returncode == 0, result.stderr
    assert "is not one Lambda allows" not in result.stderr, result.stderr
    assert json.loads(result.stdout)["name"] == "-fn-"


def test_a_relative_credentials_file_from_the_shell_is_found_by_the_function(code_dir: Path) -> None:
    # README: the function sees "the AWS SDKs' credentials (AWS_PROFILE and the files it is read from,
    # AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE)", so that "their tools and credentials still work locally".
    # The same shell's `python -c 'boto3.Session().get_credentials()'` finds ./aws/credentials from the project's
    # folder; the function, whose cwd is LAMBDA_TASK_ROOT, looks for it under the code's folder and does not.
    project = code_dir / "project"
    write_file(project / "aws" / "credentials",
               "[s57]\naws_access_key_id = AKIAS57EXAMPLE\naws_secret_access_key = s\n")
    handler = write_file(project / "fn" / "handler.py", '''import os
def handler(event, context):
    import botocore.session
    try:
        credentials = botocore.session.get_session().get_credentials()
    except Exception as exc:
        return {"error": "%s: %s" % (type(exc).__name__, exc)}
    return {"access_key": credentials and credentials.access_key}
''')
    shell = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    shell.update(AWS_PROFILE="s57", AWS_SHARED_CREDENTIALS_FILE="aws/credentials",
                 AWS_CONFIG_FILE=str(project / "aws" / "none"))
    out, _ = _invoke_stdout(handler, shell, project)
    assert json.loads(out) == {"access_key": "AKIAS57EXAMPLE"}, out


# ---------------------------------------------------------------------- what holds, and could break


ODD_TRACES = {
    "utf8": b"Root=1-\xc3\xa9;Sampled=1",  # UTF-8 bytes: the function sees "é" (as under awslambdaric)
    "latin1": b"Root=\xff\xfe;Sampled=1",  # not UTF-8: the function sees the bytes as latin-1
    "quotes-tab": b"Root=1-a'b\"c\\d\te;Sampled=1",  # a quote, a double quote, a backslash, a tab inside: TOML escapes
}


def test_a_callers_odd_trace_header_replays_as_the_function_saw_it(code_dir: Path) -> None:
    """Each odd header is one invoke of one recording (a step each, checked by its name), replayed as a whole."""
    handler = write_file(code_dir / "fn" / "handler.py", TRACE_HANDLER)
    scenario = code_dir / "traced.toml"
    with ServeProcess(handler, "--record", str(scenario)) as served:
        seen = {name: _raw_invoke(served, trace)["trace"] for name, trace in ODD_TRACES.items()}
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0, served.output()
    text = scenario.read_text()
    steps = tomllib.loads(text)["step"]
    assert len(steps) == len(ODD_TRACES), text
    assert "Runtime API's address" in text, text
    for (name, trace), step in zip(ODD_TRACES.items(), steps):
        assert step["trace_header"].encode("latin-1") == trace, (name, text)  # the header's bytes, one character each
        # The recorded response compares what the function saw of the header; the Runtime API's address is left out
        # (a note), an address-like text of the function's own is not.
        response = json.loads(step["expect"]["response"])
        assert "api" not in response, (name, text)
        assert response["other"] == "127.0.0.1:9001" and response["db"] == "10.0.0.7:5432", (name, text)
        assert response["trace"] == seen[name], (name, text)
    replayed = run_cli("replay", str(handler), str(scenario))
    assert replayed.returncode == 0, text + replayed.stdout[-2000:]


def test_a_parallel_steps_trace_headers_go_to_their_own_invokes(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", TRACE_HANDLER)
    scenario = write_file(code_dir / "parallel.toml", """\
[[step]]
parallel = ['{"n": 1}', '{"n": 2}', '{"n": 3}']
trace_headers = ["Root=one;Sampled=1", "", "Root=three;Sampled=0"]
expect.each = [
  { response = '{"trace": "Root=one;Sampled=1"}' },
  { succeeded = true },
  { response = '{"trace": "Root=three;Sampled=0"}' },
]
""")
    replayed = run_cli("replay", str(handler), str(scenario))
    assert replayed.returncode == 0, replayed.stdout[-2000:]


def _template(code_dir: Path, text: str) -> Path:
    write_file(code_dir / "src" / "app.py", "def handler(event, context):\n    return 'ok'\n")
    return write_file(code_dir / "template.yaml", "Transform: AWS::Serverless-2016-10-31\n" + text)


def test_ephemeral_storage_from_globals_is_checked(code_dir: Path) -> None:
    template = _template(code_dir, """\
Globals:
  Function:
    EphemeralStorage:
      Size: 20000
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Handler: app.handler, Runtime: python3.12}
""")
    result = run_cli("invoke", str(template))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().endswith("EphemeralStorage Size 20000: Lambda allows 512 to 10240 MB"), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize("storage", [
    "{Size: !Ref Tmp}",  # a Number parameter's Default, a string in the template
    "!If [IsBig, {Size: 4096}, !Ref AWS::NoValue]",  # left out by its condition
    '{Size: "1024"}',  # CloudFormation takes an Integer as a string
], ids=["ref-number-parameter", "if-novalue", "string"])
def test_ephemeral_storage_lambda_takes_still_runs(code_dir: Path, storage: str) -> None:
    template = _template(code_dir, f"""\
Parameters:
  Tmp: {{Type: Number, Default: "2048"}}
  Big: {{Type: String, Default: "no"}}
Conditions:
  IsBig: !Equals [!Ref Big, "yes"]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {{CodeUri: src, Handler: app.handler, Runtime: python3.12, EphemeralStorage: {storage}}}
""")
    result = run_cli("invoke", str(template))
    assert result.returncode == 0 and json.loads(result.stdout) == "ok", result.stderr
