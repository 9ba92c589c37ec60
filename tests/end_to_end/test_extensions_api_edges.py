"""Edges of the Extensions API as a real external extension sees it (lambda-spec §2): how a linked extension is
named, a repeated exit/error, and the register bodies Lambda's decoder takes.

Each test runs `lambdatui invoke` on a small function whose extension (standard library only, written here) makes
the calls under test and prints what it was answered; lambdatui relays an extension's output on stderr, tagged
with its name, which is where the test reads it. Every run is bounded by `run_cli`'s timeout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from e2e_support import run_cli, write_file

HANDLER = "def handler(event, context):\n    return 'ok'\n"


def printed(stderr: str, tag: str) -> list:
    """The JSON an extension printed after `tag ` on its lines of stderr."""
    return [json.loads(line.split(tag + " ", 1)[1]) for line in stderr.splitlines() if (tag + " ") in line]


# --------------------------------------------------------------------------------------------------------------
# A symbolic link in the function's extensions/ folder is launched under the link's name, as Lambda does.

# Registers under the name it was started as (its argv[0]'s file name, as the AWS samples' `basename $0` does) and
# says what that name was; SHUTDOWN only, so it stays parked through the invoke.
LINKED_EXTENSION = '''#!/usr/bin/env python3
import http.client, json, os, sys
name = os.path.basename(sys.argv[0])
print("started-as " + json.dumps(name), flush=True)
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({"events": ["SHUTDOWN"]}),
            headers={"Lambda-Extension-Name": name})
answer = api.getresponse()
answer.read()
ext_id = answer.getheader("Lambda-Extension-Identifier")
api.request("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": ext_id})
api.getresponse().read()
'''


def test_a_symlinked_extension_in_the_functions_folder_is_named_after_the_link(code_dir: Path) -> None:
    """Lambda lists /opt/extensions and launches each entry that is not a directory by its own path there
    (`/opt/extensions/<entry name>`, lambda-spec §2.6; RIE `ListExternalAgentPaths`), so a symbolic link's name is the
    extension's name, as README says of the extensions folder: "its file name is its name". lambdatui did so for a
    layer's extensions/, but resolved a link in the function's own extensions/ folder (`config._discover_extensions`)
    and launched and named the extension after the link's target: an extension that registered under its file name
    ("linked") was taken for an internal one and Init waited its 10 s out. The link is now launched by its own path
    (in the sandbox, /var/task/extensions/linked, which leads to /var/task/bin/real-binary there)."""
    write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "bin" / "real-binary", LINKED_EXTENSION, executable=True)
    (code_dir / "extensions").mkdir()
    os.symlink("../bin/real-binary", code_dir / "extensions" / "linked")
    done = run_cli("invoke", str(code_dir / "handler.py"))
    assert done.returncode == 0, done.stderr
    assert printed(done.stderr, "started-as") == ["linked"], done.stderr
    assert "EXTENSION\tName: linked\tState: Ready\tEvents: [SHUTDOWN]" in done.stderr, done.stderr


# --------------------------------------------------------------------------------------------------------------
# /extension/exit/error repeated: a no-op in Lambda's RAPID, answered 202 again.

EXIT_ERROR_TWICE = '''#!/usr/bin/env python3
import http.client, json, os, sys
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
def call(method, path, headers, body=None):
    api.request(method, path, body=body, headers=headers)
    answer = api.getresponse()
    return answer.status, answer.getheader("Lambda-Extension-Identifier"), answer.read()
_, ext_id, _ = call("POST", "/2020-01-01/extension/register", {"Lambda-Extension-Name": "twice"},
                    json.dumps({"events": ["INVOKE", "SHUTDOWN"]}))
call("GET", "/2020-01-01/extension/event/next", {"Lambda-Extension-Identifier": ext_id})  # the INVOKE
answers = []
for error_type in ("Extension.First", "Extension.Second"):
    status, _, raw = call("POST", "/2020-01-01/extension/exit/error",
                          {"Lambda-Extension-Identifier": ext_id, "Lambda-Extension-Function-Error-Type": error_type})
    answers.append([status, json.loads(raw)])
print("answers " + json.dumps(answers), flush=True)
sys.exit(1)
'''


def test_a_second_exit_error_is_accepted_as_a_no_op(code_dir: Path) -> None:
    """RAPID's ExternalAgentExitErrorState.ExitError: "multiple calls are allowed, but only the first submitted error
    is accepted" (a no-op, so 202 `{"status":"OK"}` again), as its InitErrorState does for a repeated init/error.
    lambdatui followed that for init/error only (core/extension_machine.py) and answered a repeated exit/error 403
    Extension.InvalidExtensionState ("State transition from ExitError to ExitError ... is not allowed"): an
    extension whose shutdown path reported the error again (a retry, or two threads failing) saw a refusal Lambda
    never gives."""
    write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "twice", EXIT_ERROR_TWICE, executable=True)
    done = run_cli("invoke", str(code_dir / "handler.py"))
    answers = printed(done.stderr, "answers")
    assert len(answers) == 1, done.stderr
    assert answers[0] == [[202, {"status": "OK"}], [202, {"status": "OK"}]], done.stderr
    # The first error is the one that counts.
    assert "Error Type: Extension.ExitError" in done.stderr, done.stderr


# --------------------------------------------------------------------------------------------------------------
# Register bodies Lambda's decoder takes: `"events": null` and an empty `configurationKeys`.

# Registers with the body its environment gives for its name, prints the answer's status, then waits for events
# (none: it registered for none).
REGISTER_WITH_BODY = '''#!/usr/bin/env python3
import http.client, json, os, sys
name = os.path.basename(sys.argv[0])
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=os.environ["BODY_" + name.upper()],
            headers={"Lambda-Extension-Name": name})
answer = api.getresponse()
raw = answer.read()
print("registered " + json.dumps([name, answer.status, raw.decode()]), flush=True)
if answer.status != 200:
    sys.exit(1)
api.request("GET", "/2020-01-01/extension/event/next",
            headers={"Lambda-Extension-Identifier": answer.getheader("Lambda-Extension-Identifier")})
api.getresponse().read()
'''


def test_register_bodies_that_lambdas_json_decoder_accepts(code_dir: Path) -> None:
    """RAPID decodes the register body with Go's encoding/json into `struct{Events []core.Event; ConfigurationKeys
    []string}` and refuses it only when that fails or `len(ConfigurationKeys) != 0` (RIE rapi/handler/agentregister.go
    `parseRegister`). So `{"events": null}` (what a Go extension marshals for a nil slice) and a body of `null`
    register for no events, and an empty `"configurationKeys": []` is no reason to refuse. lambdatui answered the
    first two 403 InvalidRequestFormat (api/extension_routes.py `_parse_events`: "'events' must be a list of event
    names", "Register body must be a JSON object") and refused any `configurationKeys` key at all, so the extension
    could not register and Init failed with Extension.Crash."""
    write_file(code_dir / "handler.py", HANDLER)
    for name in ("nullevents", "nullbody", "emptykeys"):
        write_file(code_dir / "extensions" / name, REGISTER_WITH_BODY, executable=True)
    done = run_cli("invoke", str(code_dir / "handler.py"),
                   "--env", 'BODY_NULLEVENTS={"events": null}',
                   "--env", "BODY_NULLBODY=null",
                   "--env", 'BODY_EMPTYKEYS={"events": ["SHUTDOWN"], "configurationKeys": []}')
    answers = {name: status for name, status, _ in printed(done.stderr, "registered")}
    assert answers == {"nullevents": 200, "nullbody": 200, "emptykeys": 200}, done.stderr
    assert done.returncode == 0, done.stderr
    assert "EXTENSION\tName: nullevents\tState: Ready\tEvents: []" in done.stderr, done.stderr
