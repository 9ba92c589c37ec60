"""A custom runtime that asks for its next event late, as awslambdaric does (only once its response's 202 is read),
and after its first invoke only once the test makes the file `go` beside it: until then, its environment has answered
that invoke and is finishing it, which is when the fleet offers the next invoke to it (core/offer_rules.py)."""

from __future__ import annotations

import sys
from pathlib import Path

_RUNTIME = """#!{python}
import http.client, json, os, tempfile, time
CRASH = {crash}
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
go = os.path.join(os.path.dirname(os.path.abspath(__file__)), "go")
crashed = os.path.join(tempfile.gettempdir(), "crashed")  # the environment's /tmp, kept by a reset
conn = http.client.HTTPConnection(api)
n = 0
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = conn.getresponse()
    body = answer.read()
    rid = answer.getheader("Lambda-Runtime-Aws-Request-Id")
    n += 1
    print("ran", rid, body.decode(), "n=%d" % n, flush=True)
    result = {{"n": n, "after_crash": os.path.exists(crashed)}} if CRASH else {{"n": n}}
    conn.request("POST", "/2018-06-01/runtime/invocation/" + rid + "/response", body=json.dumps(result))
    conn.getresponse().read()
    if n == 1 and not os.path.exists(crashed):
        while not os.path.exists(go):
            time.sleep(0.001)
        if CRASH:  # exits (code 3) between its answer and its next /next
            open(crashed, "w").close()
            os._exit(3)
"""


def late_next_bootstrap(code_dir: Path, crash: bool = False) -> Path:
    """The runtime as `code_dir`'s bootstrap; `code_dir / "go"` lets it ask for its second event. `crash`: instead,
    its first process exits (code 3) then, once, and each answer says whether that crash happened."""
    path = code_dir / "bootstrap"
    path.write_text(_RUNTIME.format(python=sys.executable, crash=crash))
    path.chmod(0o755)
    return path
