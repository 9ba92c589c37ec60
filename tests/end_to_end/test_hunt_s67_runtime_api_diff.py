"""A differential hunt of the Runtime API (lambda-spec §1, §4.5, §4.10): custom runtimes that misuse it one way each,
run under lambdatui and under AWS's Runtime Interface Emulator, their answers compared (the RIE is not run here: it
is not installed in CI; what it did is in the docstrings).

lambdatui agreed with the spec (and mostly with the RIE) on unknown, stale and repeated request ids, a second /next
while an invoke is in flight, /init/error after Init, responses over 6,291,556 bytes, bad methods and paths, malformed
framing (no or a bad Content-Length, chunks, HTTP/0.9 and 2.0, bare LF), hang-ups mid-body and mid-stream.

Found, and fixed in the same session (each test failed before):
* an /init/error body over 1 MiB was answered 202 and then dropped: the caller got `{"errorMessage":"",...}` built
  from the type header (nothing at all without one). The 1 MiB cap is the Managed-Instances RAPID's (§1.5); for an
  ordinary function the posted error is the first invoke's answer, whole (§1.6), as the RIE gives it;
* the Content-Type of an /error was not forwarded to the caller (§1.5: "Forwarded to the caller"): it was always
  application/json, a plain-text body included.

Every bootstrap is generated in `code_dir` (never under /tmp); every process started here is stopped.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest

from e2e_support import ServeProcess, run_cli, write_file

# ---------------------------------------------------------------------------------- /init/error, a large body

# Reports a failed Init with a message of `size` bytes, prints the answer it got, and exits
# at once, as a runtime must after /init/error.
BIG_INIT_ERROR = r'''#!{python}
import http.client, json, os, sys
conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
body = json.dumps({{"errorMessage": "m" * {size}, "errorType": "BigInit"}})
conn.request("POST", "/2018-06-01/runtime/init/error", body,
             {{"Lambda-Runtime-Function-Error-Type": "Runtime.BigInit"}})
answer = conn.getresponse()
print("PROBE", answer.status, answer.read().decode(), file=sys.stderr, flush=True)
sys.exit(1)
'''


@pytest.mark.parametrize("size", [500_000, 1_500_000])
def test_an_init_error_is_the_first_invokes_answer_whole(code_dir: Path, size: int) -> None:
    """lambda-spec §1.6: "The posted error is served as the response to the first invocation", the body as with
    /error (§1.5: any body is forwarded as-is; only Managed-Instances RAPID caps it at 1 MiB). The RIE (classic
    RAPID reads it with io.ReadAll) gives a 2 MiB one whole."""
    bootstrap = write_file(code_dir / "bootstrap", BIG_INIT_ERROR.format(python=sys.executable, size=size),
                           executable=True)
    done = run_cli("invoke", str(bootstrap), "-e", "{}", "--timeout", "5")
    assert done.returncode == 1, done.stderr[-3000:]
    assert "PROBE 202 " in done.stderr, done.stderr[-3000:]
    got = json.loads(done.stdout)
    assert (got["errorType"], len(got["errorMessage"])) == ("BigInit", size), done.stdout[:300]


# ------------------------------------------------------------------------------ /error, its Content-Type

# Answers every event with /error: a plain-text body, said to be plain text.
TEXT_ERROR = r'''#!{python}
import http.client, os, sys
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    conn = http.client.HTTPConnection(api)
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    event = conn.getresponse()
    event.read()
    rid = event.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.request("POST", "/2018-06-01/runtime/invocation/%s/error" % rid, b"disk full, giving up",
                 {{"Content-Type": "text/plain", "Lambda-Runtime-Function-Error-Type": "Function.DiskFull"}})
    answer = conn.getresponse()
    print("PROBE", answer.status, answer.read().decode(), file=sys.stderr, flush=True)
    conn.close()
'''


def test_an_errors_content_type_is_forwarded_to_the_caller(code_dir: Path) -> None:
    """lambda-spec §1.5, /error's `Content-Type`: "Forwarded to the caller" (only the error-cause media type becomes
    application/json). RAPID hands it on with the body (the RIE's own front end then drops every Content-Type)."""
    bootstrap = write_file(code_dir / "bootstrap", TEXT_ERROR.format(python=sys.executable), executable=True)
    with ServeProcess(bootstrap, "--timeout", "5") as serve:
        request = urllib.request.Request(serve.invoke_url("fn"), data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, headers, body = answer.status, answer.headers, answer.read()
        serve.wait_for_line(r"PROBE 202 ", 10)
    assert (status, headers["X-Amz-Function-Error"], body) == (200, "Unhandled", b"disk full, giving up")
    assert headers["Content-Type"] == "text/plain", dict(headers)


# Reports a failed Init in plain text, said to be plain text, and exits at once (every Init, the retried one too).
TEXT_INIT_ERROR = r'''#!{python}
import http.client, os, sys
conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
conn.request("POST", "/2018-06-01/runtime/init/error", b"no config, giving up",
             {{"Content-Type": "text/plain", "Lambda-Runtime-Function-Error-Type": "Runtime.NoConfig"}})
answer = conn.getresponse()
print("PROBE", answer.status, answer.read().decode(), file=sys.stderr, flush=True)
sys.exit(1)
'''


def test_an_init_errors_content_type_goes_with_its_body_to_the_first_invoke(code_dir: Path) -> None:
    """lambda-spec §1.6: /init/error takes "the same headers and body as /error", whose Content-Type is "Forwarded to
    the caller" (§1.5), and the posted error is the first invocation's answer: the plain-text body comes with its
    own Content-Type, not application/json (the first invoke retries Init, which fails the same way)."""
    bootstrap = write_file(code_dir / "bootstrap", TEXT_INIT_ERROR.format(python=sys.executable), executable=True)
    with ServeProcess(bootstrap, "--timeout", "5") as serve:
        serve.wait_for_line(r"PROBE 202 ", 10)
        request = urllib.request.Request(serve.invoke_url("fn"), data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, headers, body = answer.status, answer.headers, answer.read()
    assert (status, headers["X-Amz-Function-Error"], body) == (200, "Unhandled", b"no config, giving up")
    assert headers["Content-Type"] == "text/plain", dict(headers)
