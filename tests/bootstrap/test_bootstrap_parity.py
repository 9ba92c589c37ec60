"""Differential test: the bootstrap posts what awslambdaric itself posts.

Both runtimes run as real processes against the same scripted Runtime API; the bodies
they POST (and the error records they log) must be identical. Known, intended header
differences (our Error-Type header on /error, Content-Type on /init/error) are not
compared here; the other tests pin those.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from bootstrap_harness import WAIT_S, Event, FakeRuntimeApi, bootstrap_env, BOOTSTRAP_DIR, write

pytest.importorskip("awslambdaric")

MODULES = {
    "ok.py": """
        from decimal import Decimal
        def handler(event, context):
            return {"event": event, "d": Decimal("3.140"), "n": None, "f": 1.5, "u": "\\u00e9"}
        def raw(event, context):
            return b"\\x01bytes"
        def nothing(event, context):
            return None
        def unserializable(event, context):
            return {"s": {1}}
        def with_bytes(event, context):
            return {"b": b"caf\\xc3\\xa9", "bad": b"\\xff" if event == b"raw body" else b""}
        def bytes_keys(event, context):
            return {b"k": {b"caf\\xc3\\xa9": [{b"n": 1}]}, 1: (2, {b"t": None})}
        def undecodable_key(event, context):
            return {"a": [{b"\\xff": 1}]}
        def decimal_key(event, context):
            return {Decimal("1.5"): 1}
    """,
    "fails.py": """
        class CustomError(Exception):
            pass
        def deep():
            raise CustomError("custom failure")
        def handler(event, context):
            deep()
    """,
    "syntax_bad.py": "def handler(event, context)\n    return 1\n",
    "import_raises.py": "import json\nraise LookupError('at import')\n",
    "import_missing.py": "import not_a_real_module_abc\n",
}

EVENTS = [
    Event(b'{"a": [1, 2.5, "x"]}', "r1"),
    Event(b"{broken", "r2"),
    Event(b"raw body", "r3", content_type="application/octet-stream"),
    Event(b"{}", "r4", headers={"Lambda-Runtime-Client-Context": "not json"}),
]

HANDLERS = [
    "ok.handler", "ok.raw", "ok.nothing", "ok.unserializable", "ok.with_bytes", "ok.bytes_keys", "ok.undecodable_key",
    "ok.decimal_key",
    "fails.handler",
    "syntax_bad.handler", "import_raises.handler", "import_missing.handler",
    "ok.missing", "ok", "sys.handler", "nope.handler",
]


def _normalise(text: str) -> str:
    """Hide JSON-parser wording: awslambdaric parses with simplejson, we with json."""
    return re.sub(r"(Unable to unmarshal input: |JSON: )[^\"]*", r"\1<parser message>", text)


def _run(which: str, code_dir: Path, handler: str) -> Tuple[List[Tuple[str, bytes]], List[str]]:
    api = FakeRuntimeApi().start()
    try:
        api.events.extend(Event(e.body, e.request_id, e.content_type, None, dict(e.headers)) for e in EVENTS)
        env = bootstrap_env(api, code_dir, handler)
        if which == "ours":
            cmd = [sys.executable, str(BOOTSTRAP_DIR)]
        else:
            cmd = [sys.executable, "-m", "awslambdaric", handler]
        out = subprocess.run(cmd, cwd=str(code_dir), env=env, capture_output=True, timeout=WAIT_S)
        posts = [(r.path, _normalise(r.body.decode())) for r in api.requests if r.method == "POST"]
        error_records = [
            _normalise(line) for line in out.stdout.decode().splitlines() if line.startswith("[ERROR]")
        ]
        return posts, error_records
    finally:
        api.stop()


@pytest.fixture(scope="module")
def parity_code_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("parity")
    for name, source in MODULES.items():
        write(d, name, source)
    return d


@pytest.mark.parametrize("handler", HANDLERS)
def test_same_posts_and_error_records_as_awslambdaric(parity_code_dir, handler):
    ours = _run("ours", parity_code_dir, handler)
    theirs = _run("awslambdaric", parity_code_dir, handler)
    assert theirs[0], "awslambdaric posted nothing: the oracle did not run"
    assert ours == theirs


# JSON that parses but is not an object. awslambdaric reads fields with `.get` and so fails the invocation with an
# AttributeError (a function error: the runtime lives on and takes the next event); we must do the same.
NOT_AN_OBJECT = [
    ("Lambda-Runtime-Client-Context", "[1,2]"),
    ("Lambda-Runtime-Client-Context", '"text"'),
    ("Lambda-Runtime-Client-Context", "42"),
    ("Lambda-Runtime-Client-Context", "false"),
    ("Lambda-Runtime-Client-Context", "null"),
    ("Lambda-Runtime-Client-Context", '{"client": [1]}'),
    ("Lambda-Runtime-Client-Context", '{"w3c": [1], "custom": {"k": 1}}'),
    ("Lambda-Runtime-Cognito-Identity", "[1]"),
    ("Lambda-Runtime-Cognito-Identity", "null"),
]


def _outcomes(which: str, code_dir: Path, header: str, value: str) -> List[Tuple[str, object]]:
    api = FakeRuntimeApi().start()
    try:
        api.events.extend([Event(b"{}", "odd", headers={header: value}), Event(b"{}", "after")])
        env = bootstrap_env(api, code_dir, "context_probe.handler")
        cmd = [sys.executable, str(BOOTSTRAP_DIR)] if which == "ours" else [
            sys.executable, "-m", "awslambdaric", "context_probe.handler"]
        subprocess.run(cmd, cwd=str(code_dir), env=env, capture_output=True, timeout=WAIT_S)
        outcomes: List[Tuple[str, object]] = []
        for r in api.requests:
            if r.method != "POST":
                continue
            body = r.json()
            if isinstance(body, dict) and "errorType" in body:
                body = {"errorType": body["errorType"], "errorMessage": body["errorMessage"]}  # stacks differ by design
            outcomes.append((r.path, body))
        return outcomes
    finally:
        api.stop()


@pytest.mark.parametrize(("header", "value"), NOT_AN_OBJECT, ids=[f"{h.split('-')[-2]}-{v}" for h, v in NOT_AN_OBJECT])
def test_context_headers_that_are_not_objects_end_as_in_awslambdaric(parity_code_dir, header, value):
    write(parity_code_dir, "context_probe.py", """
        def handler(event, context):
            cc = context.client_context
            return {"client_context": None if cc is None else [cc.custom, cc.env, repr(cc.client)],
                    "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id]}
    """)
    ours = _outcomes("ours", parity_code_dir, header, value)
    theirs = _outcomes("awslambdaric", parity_code_dir, header, value)
    assert len(theirs) == 2, theirs  # the odd invocation, then the next one: the runtime did not die
    assert ours == theirs


# An exception whose __str__ raises: awslambdaric calls str() on it while building the error, the new exception
# escapes its loop and the runtime dies (Lambda: Runtime.ExitError, a fresh environment next). Ours must not turn
# it into a tidy function error that Lambda would never return.
STR_RAISES = """
    class Broken(Exception):
        def __str__(self):
            raise RuntimeError("no text for you")
"""


@pytest.mark.parametrize("module", ["at_invoke", "at_init"])
def test_exception_whose_str_raises_ends_the_runtime_as_in_awslambdaric(parity_code_dir, module):
    write(parity_code_dir, "str_raises_at_invoke.py", STR_RAISES + """
    def handler(event, context):
        raise Broken()
    """)
    write(parity_code_dir, "str_raises_at_init.py", STR_RAISES + """
    raise Broken()
    def handler(event, context):
        return 1
    """)
    handler = "str_raises_%s.handler" % module
    outcomes = []
    for which in ("ours", "awslambdaric"):
        api = FakeRuntimeApi().start()
        try:
            api.events.extend([Event(b"{}", "r1"), Event(b"{}", "r2")])
            cmd = [sys.executable, str(BOOTSTRAP_DIR)] if which == "ours" else [
                sys.executable, "-m", "awslambdaric", handler]
            out = subprocess.run(cmd, cwd=str(parity_code_dir), env=bootstrap_env(api, parity_code_dir, handler),
                                 capture_output=True, timeout=WAIT_S)
            posts = [r.path for r in api.requests if r.method == "POST"]
            last_line = out.stderr.decode().strip().splitlines()[-1]
            outcomes.append((out.returncode, posts, last_line))
        finally:
            api.stop()
    assert outcomes[1] == (1, [], "RuntimeError: no text for you")  # the oracle: nothing posted, the runtime died
    assert outcomes[0] == outcomes[1]


# A /response or /error the API refuses (413: larger than 6 MB): awslambdaric's C++ client logs it and raises, and
# the runtime exits: in Lambda the caller gets Function.ResponseSizeTooLarge and the next invoke a fresh environment.
# Ours must not carry on warm (only Managed Instances' workers carry on: test_managed_workers).
@pytest.mark.parametrize("handler", ["ok.handler", "fails.handler"])
def test_a_refused_answer_ends_the_runtime_as_in_awslambdaric(parity_code_dir, handler):
    outcomes = []
    for which in ("ours", "awslambdaric"):
        api = FakeRuntimeApi().start()
        try:
            api.events.extend([Event(b"{}", "r1"), Event(b"{}", "r2")])
            for kind in ("response", "error"):
                api.statuses["/2018-06-01/runtime/invocation/r1/%s" % kind] = 413
            cmd = [sys.executable, str(BOOTSTRAP_DIR)] if which == "ours" else [
                sys.executable, "-m", "awslambdaric", handler]
            out = subprocess.run(cmd, cwd=str(parity_code_dir), env=bootstrap_env(api, parity_code_dir, handler),
                                 capture_output=True, timeout=WAIT_S)
            requests = [r.path for r in api.requests if r.method == "POST"]
            stderr = out.stderr.decode().strip().splitlines()
            logged = [re.sub(r"\[\d+\]", "[<ms>]", line) for line in out.stdout.decode().splitlines()
                      if "LAMBDA_RUNTIME" in line]
            outcomes.append((out.returncode, requests, logged, stderr[-1]))
        finally:
            api.stop()
    assert outcomes[1][0] == 1 and len(outcomes[1][1]) == 1 and outcomes[1][2]  # the oracle: the refused answer
    # (logged), and the end
    assert outcomes[0] == outcomes[1]


# A handler that cannot be called with (event, context): no frame of the trace is the user's, and awslambdaric then
# keeps its own frame, the call (`response = request_handler(event, lambda_context)`). An empty trace would leave
# the user without the line that failed.
@pytest.mark.parametrize("handler", ["uncallable.one_argument", "uncallable.not_a_function"])
def test_a_handler_that_cannot_be_called_shows_the_call_as_awslambdaric_does(parity_code_dir, handler):
    write(parity_code_dir, "uncallable.py", """
        def one_argument(event):
            return 1
        not_a_function = 5
    """)
    outcomes = []
    for which in ("ours", "awslambdaric"):
        api = FakeRuntimeApi().start()
        try:
            api.events.append(Event(b"{}", "r1"))
            cmd = [sys.executable, str(BOOTSTRAP_DIR)] if which == "ours" else [
                sys.executable, "-m", "awslambdaric", handler]
            out = subprocess.run(cmd, cwd=str(parity_code_dir), env=bootstrap_env(api, parity_code_dir, handler),
                                 capture_output=True, timeout=WAIT_S)
            body = api.one("/2018-06-01/runtime/invocation/r1/error").json()
            frames = [re.sub(r'File ".*", line \d+, in \w+', "File <runtime>", frame) for frame in body.pop("stackTrace")]
            logged = [line.count("\r") for line in out.stdout.decode().split("\n") if line.startswith("[ERROR]")]
            outcomes.append((body, [re.sub(r"\w+ = |return ", "", f) for f in frames], logged))
        finally:
            api.stop()
    assert len(outcomes[1][1]) == 1, outcomes[1]  # the oracle: one frame, the runtime's call of the handler
    assert outcomes[0] == outcomes[1]
