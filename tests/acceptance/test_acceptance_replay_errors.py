"""Item 7: `lambdatui replay` shows a handled function error (the handler raised) as an error, not success.

README: each invoke ends with an `outcome` line: `success`, or `ERROR`/`TIMEOUT` with the error type, a
handler's raised exception included.
"""

from __future__ import annotations

import json
import re
import sys

from acceptance_support import cli, outcomes, write

HANDLER = """\
    class PaymentDeclined(Exception):
        pass

    def handler(event, context):
        kind = event.get("kind")
        if kind == "value":
            raise ValueError("bad value")
        if kind == "custom":
            raise PaymentDeclined("card 4242 declined")
        if kind == "empty":
            raise RuntimeError()
        if kind == "looks-like-error":
            return {"errorType": "NotReally", "errorMessage": "a returned dict is a success"}
        return {"ok": True}
    """


def replay(code_dir, scenario: str, *extra: str):
    write(code_dir / "handler.py", HANDLER)
    write(code_dir / "s.toml", scenario, dedent=False)
    return cli("replay", code_dir / "handler.py", code_dir / "s.toml", *extra)


SCENARIO = """\
[[step]]
invoke = { kind = "value" }

[[step]]
invoke = {}

[[step]]
invoke = { kind = "custom" }

[[step]]
invoke = { kind = "empty" }

[[step]]
invoke = { kind = "looks-like-error" }
"""


def check(result) -> None:
    got = outcomes(result.stdout)
    assert len(got) == 5, result.stdout
    assert got[0].startswith("ERROR") and "ValueError" in got[0], got
    assert got[1] == "success", got
    assert got[2].startswith("ERROR") and "PaymentDeclined" in got[2], got
    assert got[3].startswith("ERROR") and "RuntimeError" in got[3], got
    assert got[4] == "success", got
    assert "2 invokes succeeded, 3 failed" in result.stdout, result.stdout.splitlines()[-1]


def test_raised_errors_are_errors_and_a_returned_error_shaped_dict_is_success(code_dir):
    result = replay(code_dir, SCENARIO)
    assert result.returncode == 0, result.stdout + result.stderr  # no expectations: nothing failed to hold
    check(result)


def test_verbose_replay_agrees(code_dir):
    result = replay(code_dir, SCENARIO, "--verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    check(result)
    assert "card 4242 declined" in result.stdout  # the function's own traceback is in the timeline


def test_error_expectations(code_dir):
    ok = replay(code_dir, '[[step]]\ninvoke = { kind = "custom" }\nexpect = { error_type = "PaymentDeclined" }\n')
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong_type = replay(code_dir, '[[step]]\ninvoke = { kind = "custom" }\nexpect = { error_type = "ValueError" }\n')
    assert wrong_type.returncode == 1, wrong_type.stdout
    assert "PaymentDeclined" in wrong_type.stdout
    expected_success = replay(code_dir, '[[step]]\ninvoke = { kind = "value" }\nexpect = { response = { ok = true } }\n')
    assert expected_success.returncode == 1, expected_success.stdout
    assert not re.search(r'File ".*/lambdatui/', expected_success.stdout + expected_success.stderr)  # no crash of ours
    assert any(l.strip().startswith("FAILED") for l in expected_success.stdout.splitlines()), expected_success.stdout
    # An error invoke's response is the error document: a subset of it can be expected.
    document = replay(code_dir, '[[step]]\ninvoke = { kind = "custom" }\n'
                      'expect = { response = { errorType = "PaymentDeclined", errorMessage = "card 4242 declined" } }\n')
    assert document.returncode == 0, document.stdout


CUSTOM_RUNTIME = f"""#!{sys.executable}
import http.client, json, os
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
while True:
    api.request("GET", "/2018-06-01/runtime/invocation/next")
    response = api.getresponse()
    event = json.loads(response.read())
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    if event.get("fail"):
        api.request("POST", f"/2018-06-01/runtime/invocation/{{request_id}}/error",
                    body=json.dumps({{"errorType": "Custom.Declined", "errorMessage": "nope"}}),
                    headers={{"Lambda-Runtime-Function-Error-Type": "Custom.Declined"}})
    else:
        api.request("POST", f"/2018-06-01/runtime/invocation/{{request_id}}/response", body=b'{{"ok": true}}')
    api.getresponse().read()
"""


def test_a_custom_runtimes_posted_error_is_an_error(code_dir):
    bootstrap = write(code_dir / "bootstrap", CUSTOM_RUNTIME, executable=True, dedent=False)
    write(code_dir / "s.toml", "[[step]]\ninvoke = { fail = true }\n\n[[step]]\ninvoke = {}\n", dedent=False)
    result = cli("replay", bootstrap, code_dir / "s.toml")
    got = outcomes(result.stdout)
    assert len(got) == 2 and got[0].startswith("ERROR") and "Custom.Declined" in got[0], result.stdout
    assert got[1] == "success"


def test_invoke_cli_agrees_a_raise_is_an_error(code_dir):
    write(code_dir / "handler.py", HANDLER)
    raised = cli("invoke", code_dir / "handler.py", "-e", json.dumps({"kind": "custom"}))
    assert raised.returncode == 1 and json.loads(raised.stdout)["errorType"] == "PaymentDeclined"
    returned = cli("invoke", code_dir / "handler.py", "-e", json.dumps({"kind": "looks-like-error"}))
    assert returned.returncode == 0, returned.stdout
