"""Probe: the runtime bootstrap no longer imports the IDNA codec at start (bootstrap/http_wire.py connects with an
ASCII host as bytes), and encodes results as awslambdaric does. (It had also stopped importing `decimal`, looking
it up in sys.modules: two of these tests showed what that changed, and it imports decimal at start-up again, as
awslambdaric does.)

Results are compared byte for byte with awslambdaric's own marshaller (installed in the venv, the reference the
codec's docstring names), under the AWS_EXECUTION_ENV lambdatui gives the runtime. Real runtimes: through
`lambdatui serve`/`invoke`, and the real bootstrap run against a minimal Runtime API on an IPv6 / `localhost`
address (lambdatui's own sandbox API listens on 127.0.0.1 only, so those spellings need a server of the test's).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
from e2e_support import ServeProcess, run_cli, write_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BOUND = 60
marshaller = pytest.importorskip("awslambdaric.lambda_runtime_marshaller")

VALUES_HANDLER = r'''
import _pydecimal, decimal, os, sys
from decimal import Decimal


class Money(Decimal):
    pass


CASES = {
    "plain": lambda: {"price": Decimal("19.99"), "qty": Decimal("3"), "zero": Decimal("-0"), "exp": Decimal("1E+3"),
                      "tiny": Decimal("1.000E-30"), "inf": Decimal("Infinity"), "ninf": Decimal("-Infinity"),
                      "big": Decimal("123456789012345678901234567890.000000001")},
    "nans": lambda: [Decimal("NaN"), Decimal("-NaN"), Decimal("sNaN"), float("nan"), float("inf"), -float("inf")],
    "nested": lambda: [[Decimal("1.1"), {"d": Decimal("2.2"), "e": [Decimal("3.30")]}], (Decimal("4"),), {}],
    "top": lambda: Decimal("42.0"),
    "subclass": lambda: {"m": Money("5.00"), "l": [Money("-1.5E-7")]},
    "bytes": lambda: {"b": b"caf\xc3\xa9", "l": [b"x", b""], "s": "\u00e9\u2713"},
    "mixed": lambda: {"d": Decimal("0.1"), "f": 0.1, "i": 10, "b": b"ok", "n": None, "t": True},
    "pydecimal": lambda: {"p": _pydecimal.Decimal("1.5")},
    "env": lambda: os.environ.get("AWS_EXECUTION_ENV"),
}


def handler(event, context):
    return CASES[event["case"]]()
'''


def expected_cases() -> dict:
    import _pydecimal

    class Money(Decimal):
        pass

    return {
        "plain": {"price": Decimal("19.99"), "qty": Decimal("3"), "zero": Decimal("-0"), "exp": Decimal("1E+3"),
                  "tiny": Decimal("1.000E-30"), "inf": Decimal("Infinity"), "ninf": Decimal("-Infinity"),
                  "big": Decimal("123456789012345678901234567890.000000001")},
        "nans": [Decimal("NaN"), Decimal("-NaN"), Decimal("sNaN"), float("nan"), float("inf"), -float("inf")],
        "nested": [[Decimal("1.1"), {"d": Decimal("2.2"), "e": [Decimal("3.30")]}], (Decimal("4"),), {}],
        "top": Decimal("42.0"),
        "subclass": {"m": Money("5.00"), "l": [Money("-1.5E-7")]},
        "bytes": {"b": b"caf\xc3\xa9", "l": [b"x", b""], "s": "\u00e9\u2713"},
        "mixed": {"d": Decimal("0.1"), "f": 0.1, "i": 10, "b": b"ok", "n": None, "t": True},
        "pydecimal": {"p": _pydecimal.Decimal("1.5")},
    }


def awslambdaric_encoding(value: object, execution_env: str | None, monkeypatch: pytest.MonkeyPatch) -> bytes | str:
    """awslambdaric's bytes for `value`, or the errorType it would report."""
    if execution_env is None:
        monkeypatch.delenv("AWS_EXECUTION_ENV", raising=False)
    else:
        monkeypatch.setenv("AWS_EXECUTION_ENV", execution_env)
    try:
        body, _ = marshaller.LambdaMarshaller().marshal_response(value)
    except Exception:
        return "Runtime.MarshalError"
    return body.encode() if isinstance(body, str) else body


def test_results_are_encoded_as_awslambdaric_encodes_them(code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_file(code_dir / "handler.py", VALUES_HANDLER)
    with ServeProcess(code_dir / "handler.py", "--timeout", "30") as server:
        import httpx

        with httpx.Client(timeout=BOUND) as client:
            def invoke(case: str) -> httpx.Response:
                return client.post(server.invoke_url(), content=json.dumps({"case": case}))

            execution_env = invoke("env").json()
            got = {case: invoke(case) for case in expected_cases()}
    for case, value in expected_cases().items():
        want = awslambdaric_encoding(value, execution_env, monkeypatch)
        response = got[case]
        if isinstance(want, str):
            assert response.headers.get("X-Amz-Function-Error") == "Unhandled", (case, response.content)
            assert response.json()["errorType"] == want, (case, response.content)
        else:
            assert response.headers.get("X-Amz-Function-Error") is None, (case, response.content)
            assert response.content == want, case


def test_a_string_that_looks_like_the_codecs_decimal_marker_is_returned_as_it_is(
        code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(Pre-existing, not from the five changes: the marker the codec swaps for a Decimal's digits is matched in
    the whole JSON text, user strings included.) A string equal to the marker plus an index, beside a Decimal."""
    write_file(code_dir / "handler.py", (
        "from decimal import Decimal\n"
        "def handler(event, context):\n"
        "    return {'s': '\\u0000lambdatui-decimal\\u00000', 'd': Decimal('7')}\n"))
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", "{}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"s": "\x00lambdatui-decimal\x000", "d": 7}


def test_a_decimal_made_through_the_c_module_alone_is_still_a_number(code_dir: Path) -> None:
    """`_decimal.Decimal` *is* `decimal.Decimal` (decimal.py re-exports the C module's class): user code that
    makes one without importing `decimal` by that name (the C accelerator directly) gets a JSON number, as with
    awslambdaric, which imports decimal itself. (Refused while the codec looked `decimal` up in sys.modules.)"""
    write_file(code_dir / "handler.py", (
        "import sys, _decimal\n"
        "def handler(event, context):\n"
        "    return {'x': _decimal.Decimal('1.50'), 'n': [_decimal.Decimal('NaN')]}\n"))
    import _decimal

    assert _decimal.Decimal is Decimal
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", "{}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == marshaller.to_json({"x": Decimal("1.50"), "n": [Decimal("NaN")]})


def test_a_users_module_named_decimal_does_not_break_encoding_other_values(code_dir: Path) -> None:
    """A function folder with its own `decimal.py` (no Decimal class in it): the bootstrap imports the standard
    module first (as awslambdaric does), so the function's is shadowed and a result with bytes is encoded. (While
    the codec took sys.modules["decimal"] to be the standard library's, that result failed with
    Runtime.MarshalError.)"""
    write_file(code_dir / "decimal.py", "RATE = 3\n")
    write_file(code_dir / "handler.py", (
        "import decimal\n"
        "def handler(event, context):\n"
        "    return {'b': b'bytes', 'rate': getattr(decimal, 'RATE', None)}\n"))
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", "{}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"b": "bytes", "rate": None}  # the standard decimal, as in Lambda


# --------------------------------------------------------------------------- the API's address, spelled otherwise

ADDRESS_HANDLER = (
    "import sys\n"
    "def handler(event, context):\n"
    "    return {'event': event, 'idna': 'encodings.idna' in sys.modules, 'decimal': 'decimal' in sys.modules}\n")


class MiniRuntimeApi:
    """Just enough of the Runtime API for one invoke: /next answered with an event, /response recorded, the
    second /next left unanswered (the test then ends the runtime)."""

    def __init__(self, family: int, host: str) -> None:
        self.server = socket.create_server((host, 0), family=family)
        self.server.settimeout(BOUND)
        self.port = self.server.getsockname()[1]
        self.requests: list[bytes] = []
        self.response_body = b""
        self.second_next = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read_request(self, conn: socket.socket, buf: bytes) -> tuple[bytes, bytes, bytes]:
        while b"\r\n\r\n" not in buf:
            more = conn.recv(65536)
            if not more:
                raise EOFError(buf)
            buf += more
        head, buf = buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(buf) < length:
            buf += conn.recv(65536)
        self.requests.append(head)
        return head, buf[:length], buf[length:]

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
            with conn:
                conn.settimeout(BOUND)
                head, _, rest = self._read_request(conn, b"")
                assert head.startswith(b"GET /2018-06-01/runtime/invocation/next "), head
                event = b'{"hello": "v6"}'
                deadline = int(time.time() * 1000) + 30000
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Lambda-Runtime-Aws-Request-Id: 11111111-2222-3333-4444-555555555555\r\n"
                             b"Lambda-Runtime-Deadline-Ms: %d\r\n"
                             b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:0:function:f\r\n"
                             b"Content-Length: %d\r\n\r\n" % (deadline, len(event)) + event)
                head, self.response_body, rest = self._read_request(conn, rest)
                assert head.startswith(b"POST /2018-06-01/runtime/invocation/11111111-2222-3333-4444-555555555555"
                                       b"/response "), head
                accepted = b'{"status":"OK"}'
                conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                             b"\r\n" % len(accepted) + accepted)
                head, _, _ = self._read_request(conn, rest)
                self.second_next.set()
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.second_next.set()

    def close(self) -> None:
        self.server.close()


@pytest.mark.parametrize("spelling", ["ipv6", "localhost"])
def test_the_runtime_reaches_an_api_given_as_localhost_or_an_ipv6_literal(tmp_path: Path, spelling: str) -> None:
    if spelling == "ipv6":
        if not socket.has_ipv6:
            pytest.skip("no IPv6 here")
        try:
            api = MiniRuntimeApi(socket.AF_INET6, "::1")
        except OSError as exc:
            pytest.skip(f"no IPv6 loopback: {exc}")
        address = f"[::1]:{api.port}"
    else:
        try:
            family = socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)[0][0]
        except OSError as exc:
            pytest.skip(f"localhost does not resolve: {exc}")
        api = MiniRuntimeApi(family, "::1" if family == socket.AF_INET6 else "127.0.0.1")
        address = f"localhost:{api.port}"
    (tmp_path / "fn.py").write_text(ADDRESS_HANDLER)
    env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": address, "_HANDLER": "fn.handler",
           "LAMBDA_TASK_ROOT": str(tmp_path), "PYTHONPATH": str(REPO)}
    runtime = subprocess.Popen([sys.executable, str(REPO / "lambdatui" / "bootstrap")], cwd=tmp_path, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert api.second_next.wait(BOUND), "the runtime never came back for its next event"
    finally:
        runtime.kill()
        out, err = runtime.communicate(timeout=BOUND)
        api.close()
    assert api.error is None, (api.error, err.decode(errors="replace")[-2000:])
    assert json.loads(api.response_body) == {"event": {"hello": "v6"}, "idna": False, "decimal": True}
    host_lines = [line for line in api.requests[0].split(b"\r\n") if line.lower().startswith(b"host:")]
    assert host_lines == [b"Host: " + address.encode()]
