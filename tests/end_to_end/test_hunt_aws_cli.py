"""`lambdatui serve` as the real AWS CLI (v1, `python -m awscli` from this interpreter) calls it: `aws lambda invoke`
and its options, `invoke-async`, the management commands a user may try, and the CLI's endpoint options.

One template with two functions is served for the whole module (`--function First --timeout 1`): its sibling `Second`
is the function a caller may name by mistake. The CLI gets dummy credentials and region through its environment,
and HOME / AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE inside the module's tmp folder, so no real configuration is
read or written. The module's `serve` is stopped by its fixture.

The CLI's commands run one after another in one interpreter the module starts (CLI_WORKER), each as
`python -m awscli ARGS` runs it (`awscli.clidriver.main()` with ARGS in sys.argv: a driver and a botocore session of
its own), its stdout, stderr and exit status taken apart: importing awscli and botocore anew for every command was
most of this module's CPU.
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional

import pytest

pytest.importorskip("awscli")  # not (yet) among the project's test dependencies

from e2e_support import ServeProcess, write_file  # noqa: E402

HANDLER = '''import json
import sys
import time


def handler(event, context):
    mode = event.get("mode") if isinstance(event, dict) else None
    print("handler saw", json.dumps(event)[:200], flush=True)
    if mode == "raise":
        raise ValueError("boom from the handler")
    if mode == "sleep":
        time.sleep(event["s"])
        return "slept"
    if mode == "set":
        return {1, 2}
    if mode == "big":
        return "x" * event["n"]
    cc = context.client_context
    return {
        "event": event,
        "arn": context.invoked_function_arn,
        "custom": None if cc is None else cc.custom,
        "env": None if cc is None else cc.env,
        "installation_id": None if cc is None or cc.client is None else cc.client.installation_id,
    }
'''

TEMPLATE = '''AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  First:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: handler.handler
      Runtime: python3.12
  Second:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: second-fn
      CodeUri: src/
      Handler: handler.handler
      Runtime: python3.12
'''

CLI_BOUND = 60  # seconds for one CLI run: each takes well under 2 s here


class Cli(NamedTuple):
    rc: int
    stdout: str
    stderr: str
    out: Path  # the outfile `invoke` writes

    def printed(self) -> dict:
        assert self.rc == 0, self
        return json.loads(self.stdout)

    def out_json(self) -> object:
        return json.loads(self.out.read_bytes())


@pytest.fixture(scope="module")
def served(module_code_dir: Path) -> Iterator[ServeProcess]:
    write_file(module_code_dir / "src" / "handler.py", HANDLER)
    template = write_file(module_code_dir / "template.yaml", TEMPLATE)
    with ServeProcess(template, "--function", "First", "--timeout", "1") as server:
        yield server


# Runs CLI commands sent as JSON lines ({"args", "cwd"}) and answers each with a JSON line ({"rc", "stdout", "stderr"})
# on the descriptor it was given. Between commands, what awscli sets process-wide (its loggers' handlers and levels,
# `--debug`'s above all, and warning filters) is put back as it was, so each command starts as in a fresh `aws`,
# and its connections are closed, as they were at its process's end.
CLI_WORKER = r'''
import gc, io, json, logging, os, sys, traceback, warnings

import awscli.clidriver

requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
answers = os.fdopen(int(sys.argv[1]), "w", encoding="utf-8")
null = os.open(os.devnull, os.O_RDONLY)
os.dup2(null, 0)  # stdin=DEVNULL, as each `aws` run had
os.close(null)
sys.stdin = open(os.devnull, encoding="utf-8")


def loggers():
    return [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                    if isinstance(logger, logging.Logger)]


saved_loggers = {id(logger): (list(logger.handlers), logger.level) for logger in loggers()}
saved_filters = list(warnings.filters)

for request in requests:
    request = json.loads(request)
    os.chdir(request["cwd"])
    out, err = (io.TextIOWrapper(io.BytesIO(), encoding="utf-8") for _ in range(2))
    sys.stdout, sys.stderr, sys.argv = out, err, ["aws", *request["args"]]
    try:
        rc = awscli.clidriver.main()  # `python -m awscli`: sys.exit(main())
        rc = 0 if rc is None else rc
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=err)
    except BaseException:
        traceback.print_exc(file=err)
        rc = 1
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    for logger in loggers():
        handlers, level = saved_loggers.get(id(logger), ([], logging.NOTSET))
        logger.handlers[:] = handlers
        logger.setLevel(level)
    warnings.filters[:] = saved_filters
    warnings._filters_mutated()
    gc.collect()  # the command's client and its connections to `serve` go, as at the end of its process
    out.flush()
    err.flush()
    answers.write(json.dumps({"rc": rc, "stdout": out.buffer.getvalue().decode("utf-8"),
                              "stderr": err.buffer.getvalue().decode("utf-8")}) + "\n")
    answers.flush()
'''


class CliWorker:
    """The interpreter running CLI_WORKER; started again after a command that ran past CLI_BOUND."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: Optional[subprocess.Popen[str]] = None
        self.answers: Optional[int] = None

    def _start(self) -> None:
        read_end, write_end = os.pipe()
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", CLI_WORKER, str(write_end)], env=self.env,
                                         stdin=subprocess.PIPE, stdout=log, stderr=log, text=True,
                                         pass_fds=(write_end,))
        os.close(write_end)
        self.answers = read_end

    def run(self, args: list[str], cwd: Path) -> tuple[int, str, str]:
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self._start()
        assert self.proc is not None and self.proc.stdin is not None and self.answers is not None
        self.proc.stdin.write(json.dumps({"args": args, "cwd": str(cwd)}) + "\n")
        self.proc.stdin.flush()
        answer = b""
        while not answer.endswith(b"\n"):
            ready, _, _ = select.select([self.answers], [], [], CLI_BOUND)
            chunk = os.read(self.answers, 1 << 20) if ready else b""
            if not chunk:
                self.stop()
                raise AssertionError(f"no answer to `aws {' '.join(args)}` within {CLI_BOUND} s (or the CLI's "
                                     f"interpreter ended):\n{self.log.read_text()[-3000:]}")
            answer += chunk
        done = json.loads(answer)
        return done["rc"], done["stdout"], done["stderr"]

    def stop(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
            except OSError:
                pass  # gone already
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None
        if self.answers is not None:
            os.close(self.answers)
            self.answers = None


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("aws_cli_home")


@pytest.fixture(scope="module")
def cli_worker(cli_home: Path) -> Iterator[CliWorker]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(HOME=str(cli_home), AWS_CONFIG_FILE=str(cli_home / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(cli_home / "credentials"), AWS_ACCESS_KEY_ID="x",
               AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
    worker = CliWorker(env, cli_home / "worker.log")
    yield worker
    worker.stop()


@pytest.fixture
def aws(served: ServeProcess, cli_worker: CliWorker, tmp_path: Path) -> Callable[..., Cli]:
    """`aws ARGS...` (the venv's CLI) against the served endpoint unless ARGS name their own; cwd is tmp_path."""

    def run(*args: str, endpoint: str | None = None) -> Cli:
        out = tmp_path / "out.json"
        out.unlink(missing_ok=True)
        argv = [*args, "--endpoint-url", endpoint or served.base_url]
        if args[1] == "invoke":
            argv.append(str(out))
        rc, stdout, stderr = cli_worker.run(argv, tmp_path)
        return Cli(rc, stdout, stderr, out)

    return run


def decoded_tail(printed: dict) -> list[str]:
    return base64.b64decode(printed["LogResult"]).decode("utf-8").splitlines()


# ---------------------------------------------------------------------- findings


@pytest.mark.parametrize("name", ["bad name!", "a" * 65, "First/../x"])
def test_a_function_name_lambda_refuses_is_a_validation_error(aws, name: str) -> None:
    # Lambda validates FunctionName against the pattern (and length) its API model gives, the pattern lambdatui itself
    # quotes when it refuses `fn:a:b`: a name is [a-zA-Z0-9-_.]+, 64 characters at most (the API reference's
    # "If you specify only the function name, it is limited to 64 characters in length").
    done = aws("lambda", "invoke", "--function-name", name)
    assert done.rc == 255, done
    assert "(ValidationException)" in done.stderr and "at 'functionName' failed to satisfy constraint" in done.stderr


@pytest.fixture(scope="module")
def oversize(served: ServeProcess, cli_worker: CliWorker, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """One `aws lambda invoke --log-type Tail` of a 7 MB response, for the two tests below: its log tail and its
    outfile (the tail is a header beside the body, which is the same with it or without)."""
    cwd = tmp_path_factory.mktemp("oversize")
    out = cwd / "out.json"
    rc, stdout, stderr = cli_worker.run(["lambda", "invoke", "--function-name", "First", "--log-type", "Tail",
                                         "--payload", '{"mode": "big", "n": 7000000}', "--endpoint-url",
                                         served.base_url, str(out)], cwd)
    return Cli(rc, stdout, stderr, out)


def test_the_log_tail_of_an_oversize_response_holds_only_the_function_log(oversize: Cli) -> None:
    printed = oversize.printed()
    assert printed["FunctionError"] == "Unhandled"
    tail = decoded_tail(printed)
    assert tail[-1].startswith("REPORT RequestId: "), tail
    assert "Runtime.ExitError" in tail  # the runtime's crash after a 413 from /response, as awslambdaric's
    # ...and nothing lambdatui says of it to its own console (`[lambdatui]  The caller already had its response...`)
    assert not [line for line in tail if "caller already had its response" in line], tail


# ---------------------------------------------------------------------- what works


def test_invoke_payload_forms_and_what_the_cli_prints(aws, tmp_path: Path) -> None:
    # CLI v1 sends --payload as raw text (no --cli-binary-format, a v2 option); file:// and fileb:// as read.
    (tmp_path / "p.json").write_bytes('{"from": "file", "s": "\u00e9\u20ac"}'.encode())
    for payload, event in [('{"a": 1}', {"a": 1}), ('"text"', "text"), ("null", None),
                           ("fileb://p.json", {"from": "file", "s": "\u00e9\u20ac"}),
                           ("file://p.json", {"from": "file", "s": "\u00e9\u20ac"}), ("", {}), (None, {})]:
        done = aws("lambda", "invoke", "--function-name", "First", *(() if payload is None else ("--payload", payload)))
        assert done.printed() == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}, (payload, done)
        assert done.out_json()["event"] == event, payload


def test_a_payload_that_is_not_json_is_the_error_lambda_gives(aws) -> None:
    done = aws("lambda", "invoke", "--function-name", "First", "--payload", "not json")
    assert done.rc == 255, done
    assert ("An error occurred (InvalidRequestContentException) when calling the Invoke operation: "
            "Could not parse request body into json") in done.stderr
    assert not done.out.exists()


def test_event_and_dry_run_invocation_types(aws, served: ServeProcess) -> None:
    start = len(served.lines)
    done = aws("lambda", "invoke", "--function-name", "First", "--invocation-type", "Event",
               "--payload", '{"queued": "marker-7731"}')
    assert done.printed() == {"StatusCode": 202}
    assert done.out.read_bytes() == b""
    served.wait_for_line(r"handler saw \{\"queued\": \"marker-7731\"\}", timeout=15, start=start)

    done = aws("lambda", "invoke", "--function-name", "First", "--invocation-type", "DryRun",
               "--payload", '{"dry": "marker-7732"}')
    assert done.printed() == {"StatusCode": 204}
    assert done.out.read_bytes() == b""
    assert "marker-7732" not in served.output()

    done = aws("lambda", "invoke", "--function-name", "First", "--invocation-type", "Bogus")
    assert done.rc == 255 and "(InvalidParameterValueException)" in done.stderr, done


def test_log_type_tail_is_the_invoke_log(aws) -> None:
    done = aws("lambda", "invoke", "--function-name", "First", "--log-type", "Tail", "--payload", '{"t": 1}')
    printed = done.printed()
    assert printed["StatusCode"] == 200 and "FunctionError" not in printed
    tail = decoded_tail(printed)
    assert tail[0].startswith("START RequestId: ") and tail[0].endswith(" Version: $LATEST"), tail
    request_id = tail[0].split()[2]
    assert 'handler saw {"t": 1}' in tail
    assert f"END RequestId: {request_id}" in tail
    assert tail[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: "), tail


def test_qualifiers(aws) -> None:
    base = "arn:aws:lambda:us-east-1:012345678912:function:First"
    for options, arn in [(("--qualifier", "$LATEST"), base + ":$LATEST"), (("--qualifier", "prod"), base + ":prod"),
                         (("--qualifier", "3"), base + ":3")]:
        done = aws("lambda", "invoke", "--function-name", "First", *options)
        assert done.printed() == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}, done
        assert done.out_json()["arn"] == arn
    done = aws("lambda", "invoke", "--function-name", "First", "--qualifier", "bad qual!")
    assert done.rc == 255 and "(InvalidParameterValueException)" in done.stderr, done
    done = aws("lambda", "invoke", "--function-name", "First:prod", "--qualifier", "other")
    assert done.rc == 255 and "does not match the specified qualifier" in done.stderr, done


def test_client_context_reaches_the_context(aws) -> None:
    document = {"custom": {"k": "v"}, "env": {"e": "1"}, "client": {"installation_id": "i-1", "app_title": "t"}}
    encoded = base64.b64encode(json.dumps(document).encode()).decode()
    done = aws("lambda", "invoke", "--function-name", "First", "--client-context", encoded)
    answer = done.out_json()
    assert (answer["custom"], answer["env"], answer["installation_id"]) == ({"k": "v"}, {"e": "1"}, "i-1")
    done = aws("lambda", "invoke", "--function-name", "First", "--client-context", "not base64!")
    assert done.rc == 255 and "(InvalidRequestContentException)" in done.stderr, done


def test_function_name_forms_and_a_wrong_name(aws) -> None:
    for name in ("arn:aws:lambda:us-east-1:123456789012:function:First", "123456789012:function:First",
                 "arn:aws:lambda:us-east-1:123456789012:function:First:live"):
        done = aws("lambda", "invoke", "--function-name", name, "--payload", '{"n": 1}')
        assert done.printed()["StatusCode"] == 200, done
        assert done.out_json()["event"] == {"n": 1}
    for name in ("Second", "second-fn"):
        done = aws("lambda", "invoke", "--function-name", name)
        assert done.rc == 255, done
        assert ("An error occurred (ResourceNotFoundException) when calling the Invoke operation: "
                "Function not found: arn:aws:lambda:") in done.stderr
        assert not done.out.exists()


def test_function_errors_in_the_outfile(aws) -> None:
    done = aws("lambda", "invoke", "--function-name", "First", "--payload", '{"mode": "raise"}')
    assert done.printed() == {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST"}
    error = done.out_json()
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom from the handler")
    assert 'raise ValueError("boom from the handler")' in error["stackTrace"][-1]

    done = aws("lambda", "invoke", "--function-name", "First", "--payload", '{"mode": "set"}')
    assert done.printed()["FunctionError"] == "Unhandled"
    error = done.out_json()
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"

    done = aws("lambda", "invoke", "--function-name", "First", "--payload", '{"mode": "sleep", "s": 5}')
    assert done.printed()["FunctionError"] == "Unhandled"
    error = done.out_json()
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith(" Error: Task timed out after 1.00 seconds"), error


def test_a_response_over_6_mb(oversize: Cli) -> None:
    assert oversize.printed()["FunctionError"] == "Unhandled"
    assert oversize.out_json() == {"errorMessage": "Response payload size exceeded maximum allowed payload size "
                                                   "(6291556 bytes).", "errorType": "Function.ResponseSizeTooLarge"}


def test_invoke_async(aws, tmp_path: Path) -> None:
    (tmp_path / "args.json").write_text('{"async": 1}')
    done = aws("lambda", "invoke-async", "--function-name", "First", "--invoke-args", "args.json")
    assert done.printed() == {"Status": 202}


def test_management_commands_say_at_once_they_are_not_served(aws) -> None:
    for args in (("lambda", "get-function", "--function-name", "First"), ("lambda", "list-functions"),
                 ("lambda", "get-function-configuration", "--function-name", "First"),
                 ("lambda", "wait", "function-exists", "--function-name", "First")):
        done = aws(*args)
        assert done.rc == 255, done
        assert "(UnknownOperationException)" in done.stderr and "not an operation lambdatui serves" in done.stderr
        assert "Traceback" not in done.stderr and "<html" not in done.stderr.lower()


@pytest.mark.parametrize("shape", ["slash", "localhost", "no-verify-ssl", "no-read-timeout", "debug"])
def test_endpoint_options(aws, served: ServeProcess, shape: str) -> None:
    port = served.address.rsplit(":", 1)[1]
    endpoint, extra, payload = served.base_url, [], '{"e": 1}'
    if shape == "slash":
        endpoint += "/"
    elif shape == "localhost":
        endpoint = f"http://localhost:{port}"
    elif shape == "no-verify-ssl":
        extra = ["--no-verify-ssl"]
    elif shape == "no-read-timeout":
        extra, payload = ["--cli-read-timeout", "0"], '{"mode": "sleep", "s": 0.5}'
    elif shape == "debug":
        extra = ["--debug"]
    done = aws("lambda", "invoke", "--function-name", "First", "--payload", payload, *extra, endpoint=endpoint)
    assert done.printed() == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}, done
    if shape == "no-read-timeout":
        assert done.out_json() == "slept"
    else:
        assert done.out_json()["event"] == {"e": 1}
    if shape == "debug":
        assert "Traceback" not in done.stderr
