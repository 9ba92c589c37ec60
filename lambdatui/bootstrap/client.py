"""Runtime API calls over one keep-alive HTTP/1.1 connection to the host (and lambdatui's private calls over a
second one where the Runtime API is a proxy: RuntimeClient).

awslambdaric talks through a C++ curl client with TCP_NODELAY and no read timeout;
this is the same on a raw socket (http_wire.py: http.client was most of the runtime's
CPU per invoke and ~40 ms of its start-up). The warm-invoke path is two requests
(`/next`, `/response`), so the connection is reused and Nagle is off: otherwise delayed
ACKs add ~40 ms per request on loopback.
"""

from __future__ import annotations

import json
import time
from collections import namedtuple

from . import logs
from .http_wire import Connection, RemoteDisconnected, Response
from .signal_wait import SignalWait

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    import socket
    from typing import Callable, Dict, Optional, Tuple

RUNTIME_PREFIX = "/2018-06-01/runtime"
PRIVATE_PREFIX = "/lambdatui/v1"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
RAISE_HEADER = "Lambdatui-Raise"
CONNECT_TIMEOUT_S = 1.0  # as awslambdaric's curl client; reads never time out
NEXT_PATH = RUNTIME_PREFIX + "/invocation/next"
# A response this small goes out with the next /next behind it (RuntimeClient.post_response); a larger one may be
# refused before it is read whole (413), and the connection closed with the /next unread.
PIPELINE_MAX_BODY = 64 * 1024

# Statuses after which one of several workers (Managed Instances) carries on with the invocation lost (the host
# refused the body: too large, unknown/expired request id, wrong state, or 410: the invoke timed out while its
# handler ran on), as awslambdaric's multi-concurrent client does. A single runtime ends (_check_result).
_REFUSED_STATUSES = (400, 403, 410, 413)

# Errors meaning "the server closed the kept-alive connection before answering".
_STALE_CONNECTION_ERRORS = (
    RemoteDisconnected,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


class RuntimeApiError(Exception):
    """The API answered with a status the runtime cannot go on from (it exits)."""

    def __init__(self, endpoint: str, status: int, body: bytes) -> None:
        super().__init__(
            "Request to Lambda Runtime '%s' endpoint failed. Reason: '%s'. Response body: '%r'"
            % (endpoint, status, body[:500])
        )
        self.endpoint = endpoint
        self.status = status
        self.body = body


class Invocation(namedtuple("Invocation", "request_id deadline_ms function_arn trace_id client_context "
                                         "cognito_identity tenant_id content_type body injected_raise")):
    """One event from GET /runtime/invocation/next."""

    __slots__ = ()
    request_id: str
    deadline_ms: int
    function_arn: Optional[str]
    trace_id: Optional[str]
    client_context: Optional[str]
    cognito_identity: Optional[str]
    tenant_id: Optional[str]
    content_type: str
    body: bytes
    injected_raise: Optional[str]  # Lambdatui-Raise header (private channel only)


class RuntimeClient(object):
    """Runtime API calls (and, when enabled, lambdatui's private calls)."""

    def __init__(self, address: str, private: bool = False, one_of_workers: bool = False,
                 sandbox_api: Optional[str] = None) -> None:
        """`address`: AWS_LAMBDA_RUNTIME_API as the runtime sees it; `sandbox_api`: the host's own server (None: the
        same). They differ where an exec wrapper points the runtime at a Runtime API proxy (an extension forwarding
        each call to Lambda's). Then the private calls go to the host itself, never through the proxy (it would see,
        log or refuse calls Lambda's runtime never makes), and no request is pipelined: a proxy may handle requests
        read together at once and forward a /next before the /response ahead of it (Node's HTTP server runs a
        bodiless GET's handler first), so that the host hands out the invoke in flight again. awslambdaric sends
        each call once the previous one is answered; so does this client, through a proxy."""
        self._conn = Connection(address, CONNECT_TIMEOUT_S)
        if sandbox_api is None or sandbox_api == address:
            self._private_conn, self._pipelined = self._conn, True
        else:
            self._private_conn, self._pipelined = Connection(sandbox_api, CONNECT_TIMEOUT_S), False
        self.private = private
        self.one_of_workers = one_of_workers  # Managed Instances: a refused answer is not fatal (_check_result)
        self._next_sent = False  # a /next went out behind the last response: its answer is still to be read
        # The waits the host may never answer (a /next at shutdown) run the function's signal handlers.
        self._signals = SignalWait()
        self._until_answered = self._signals.until_readable

    def close(self) -> None:
        self._conn.close()
        self._private_conn.close()
        self._signals.close()

    def _round_trip(
        self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None,
        wait: Optional[Callable[[socket.socket], None]] = None, conn: Optional[Connection] = None,
    ) -> Response:
        """One request/response on `conn` (the Runtime API's by default); reconnect once if a reused connection had
        gone stale. `wait`: as read_response's."""
        if conn is None:
            conn = self._conn
        for attempt in (0, 1):
            reused = conn.sock is not None
            try:
                try:
                    conn.send_request(method, path, body, headers or {})
                except (BrokenPipeError, ConnectionResetError):
                    # The server may have answered early (e.g. 413 on a large body) and
                    # stopped reading: its answer can still be waiting in our socket.
                    # If it is not, read_response() raises and we land below.
                    pass
                return conn.read_response(wait)
            except _STALE_CONNECTION_ERRORS:
                conn.close()
                if attempt or not reused:
                    raise
            except BaseException:
                # Leave no half-used connection behind: the next call starts clean.
                conn.close()
                raise
        raise AssertionError("unreachable")

    # -- Runtime API -----------------------------------------------------------------

    def next_invocation(self) -> Invocation:
        """Block (no timeout) until the host delivers the next event."""
        path = NEXT_PATH
        if self._next_sent:
            self._next_sent = False
            try:
                resp = self._conn.read_response(self._until_answered)
            except _STALE_CONNECTION_ERRORS:
                self._conn.close()  # closed before it read our /next: ask again, on a new connection
                resp = self._round_trip("GET", path, wait=self._until_answered)
            except BaseException:
                self._conn.close()
                raise
        else:
            resp = self._round_trip("GET", path, wait=self._until_answered)
        if resp.status != 200:
            raise RuntimeApiError(path, resp.status, resp.body)
        h = resp.headers  # names lower-cased
        request_id = h.get("lambda-runtime-aws-request-id")
        if not request_id:
            # awslambdaric's C++ client treats this as a failed /next.
            raise RuntimeApiError(path, resp.status, b"missing Lambda-Runtime-Aws-Request-Id")
        try:
            deadline_ms = int(h.get("lambda-runtime-deadline-ms") or 0)
        except ValueError:
            deadline_ms = 0
        return Invocation(
            request_id=request_id,
            deadline_ms=deadline_ms,
            function_arn=_utf8(h.get("lambda-runtime-invoked-function-arn")),
            trace_id=_utf8(h.get("lambda-runtime-trace-id")),
            client_context=_utf8(h.get("lambda-runtime-client-context")),
            cognito_identity=_utf8(h.get("lambda-runtime-cognito-identity")),
            tenant_id=_utf8(h.get("lambda-runtime-aws-tenant-id")),
            content_type=h.get("content-type") or "application/json",
            body=resp.body,
            injected_raise=h.get(RAISE_HEADER.lower()) if self.private else None,
        )

    def post_response(self, request_id: str, body: bytes, content_type: str, then_next: bool = False) -> None:
        """`then_next`: the caller's next call is next_invocation, and a small response takes its /next along
        (HTTP/1.1 pipelining, RFC 9112 §9.3.2): the host reads both at once, and the runtime does not wait
        for the 202 before asking (a warm invoke's round trip shorter by one of the host's scheduling rounds).
        The host answers them in order, the response's first, as it would two calls one after the other. Never
        through a Runtime API proxy (__init__)."""
        path = "%s/invocation/%s/response" % (RUNTIME_PREFIX, quote(request_id))
        headers = {"Content-Type": content_type}
        if not (then_next and self._pipelined and len(body) <= PIPELINE_MAX_BODY and self._conn.sock is not None):
            self._post_invocation_result(path, body, headers)
            return
        try:
            self._conn.send_with_next("POST", path, body, headers, NEXT_PATH)
            resp = self._conn.read_response()
        except _STALE_CONNECTION_ERRORS:
            self._conn.close()  # gone stale while the handler ran: both again, one at a time on a new connection
            self._post_invocation_result(path, body, headers)
            return
        except BaseException:
            self._conn.close()
            raise
        self._next_sent = self._conn.sock is not None  # an answer that closed the connection left the /next unread
        self._check_result(path, resp)

    def post_error(self, request_id: str, body: bytes, error_type: str) -> None:
        path = "%s/invocation/%s/error" % (RUNTIME_PREFIX, quote(request_id))
        headers = {"Content-Type": "application/json", ERROR_TYPE_HEADER: header_safe(error_type)}
        self._post_invocation_result(path, body, headers)

    def _post_invocation_result(self, path: str, body: bytes, headers: Dict[str, str]) -> None:
        self._check_result(path, self._round_trip("POST", path, body, headers))

    def _check_result(self, path: str, resp: Response) -> None:
        if resp.status == 202:
            return
        if not self.one_of_workers:
            # awslambdaric's C++ client: this line (the same words for /response and /error), then a RuntimeError
            # that ends the runtime, so Lambda gives the next invoke a fresh environment.
            logs.client_error("[ERROR] [%d] LAMBDA_RUNTIME Failed to post handler success response. Http response code: "
                              "%d. %s" % (int(time.time() * 1000), resp.status, resp.body.decode("utf-8", "replace")))
            raise RuntimeError("Failed to post invocation %s" % ("error" if path.endswith("/error") else "response"))
        if resp.status in _REFUSED_STATUSES:
            logs.warn(
                "POST %s answered %d: %s"
                % (path, resp.status, resp.body[:300].decode("utf-8", "replace"))
            )
            return
        raise RuntimeApiError(path, resp.status, resp.body)

    def post_init_error(self, body: bytes, error_type: str, quiet: Tuple[int, ...] = ()) -> int:
        """Report a fatal init failure; the caller exits afterwards whatever the answer (`quiet`: answers not
        worth a warning)."""
        path = RUNTIME_PREFIX + "/init/error"
        headers = {"Content-Type": "application/json", ERROR_TYPE_HEADER: header_safe(error_type)}
        resp = self._round_trip("POST", path, body, headers)
        if resp.status != 202 and resp.status not in quiet:
            logs.warn("POST %s answered %d" % (path, resp.status))
        return resp.status

    # -- SnapStart (spec §1.7) ---------------------------------------------------------

    def restore_next(self) -> None:
        """Block (no timeout) until the environment is restored: 200 with an empty body."""
        path = RUNTIME_PREFIX + "/restore/next"
        resp = self._round_trip("GET", path, wait=self._until_answered)
        if resp.status != 200:
            raise RuntimeApiError(path, resp.status, resp.body)

    def send_restore_next(self) -> None:
        """The snapshot template's half of restore_next: the request goes out, its answer is never read.

        Lambda snapshots the VM while this call is pending; here the held process is the snapshot, so the call
        stays pending for good. On a fresh connection: a kept-alive one the host had closed would take the
        request without an error, and nothing would ever read the answer that tells.
        """
        self._conn.close()
        self._conn.send_request("GET", RUNTIME_PREFIX + "/restore/next", None, {})

    def post_restore_error(self, body: bytes, error_type: str) -> int:
        """Report failed after-restore hooks; the caller exits afterwards whatever the answer (202 expected)."""
        path = RUNTIME_PREFIX + "/restore/error"
        headers = {"Content-Type": "application/json", ERROR_TYPE_HEADER: header_safe(error_type)}
        resp = self._round_trip("POST", path, body, headers)
        if resp.status != 202:
            logs.warn("POST %s answered %d" % (path, resp.status))
        return resp.status

    # -- lambdatui private channel ---------------------------------------------------

    def wait_function_init(self) -> None:
        """Block until the host lets Function init run (its debugger may hold it here).

        200 and 404 (a host without the private routes) both mean "go on".
        """
        path = PRIVATE_PREFIX + "/function-init"
        resp = self._round_trip("GET", path, conn=self._private_conn)
        if resp.status not in (200, 404):
            logs.warn("GET %s answered %d; continuing" % (path, resp.status))

    def start_inspection(self) -> None:
        """Tell the host a globals report is being written: its time must not count against any deadline."""
        path = PRIVATE_PREFIX + "/inspection"
        resp = self._round_trip("POST", path, b"", {"Content-Type": "application/json"}, conn=self._private_conn)
        if resp.status >= 300 and resp.status != 404:
            logs.warn("POST %s answered %d" % (path, resp.status))

    def report_worker_exit(self, pid: int, code: Optional[int], signal_number: Optional[int],
                           request_id: Optional[str]) -> None:
        """Managed Instances: one of our workers ended (Lambda never hears of it; the debugger shows it)."""
        path = PRIVATE_PREFIX + "/worker-exited"
        body = json.dumps({"pid": pid, "code": code, "signal": signal_number, "requestId": request_id}).encode()
        resp = self._round_trip("POST", path, body, {"Content-Type": "application/json"}, conn=self._private_conn)
        if resp.status >= 300 and resp.status != 404:
            logs.warn("POST %s answered %d" % (path, resp.status))

    def post_globals(self, body: bytes) -> None:
        """Send a globals/threads report; 404 (older host) is silently fine."""
        path = PRIVATE_PREFIX + "/globals"
        resp = self._round_trip("POST", path, body, {"Content-Type": "application/json"}, conn=self._private_conn)
        if resp.status >= 300 and resp.status != 404:
            logs.warn("POST %s answered %d" % (path, resp.status))

    def report_state(self, build: Callable[[], bytes], then_next: bool = False) -> None:
        """`start_inspection`, `build()` the report, `post_globals` it, pipelined (RFC 9112 §9.3.2): /inspection
        leaves at once (its arrival, stamped by the host's kernel, stops the function's deadlines), the report is
        built meanwhile, then /globals leaves with (`then_next`: the caller's next call is next_invocation, and the
        report is small) the /next behind it, and the answers are read in order. Between its response and its /next
        the runtime waits for none of the host's answers: the debugger's host shares its thread with the UI, whose
        repaint after a result held each of them up to ~10 ms, and the invoke's REPORT waited for all three."""
        json_type = {"Content-Type": "application/json"}
        inspection, report = PRIVATE_PREFIX + "/inspection", PRIVATE_PREFIX + "/globals"
        conn = self._private_conn  # the host's own: these two are pipelined even where the Runtime API is a proxy
        along = False
        try:
            conn.send_request("POST", inspection, b"", json_type)
            body = build()
            along = then_next and self._pipelined and len(body) <= PIPELINE_MAX_BODY
            try:
                if along:
                    conn.send_with_next("POST", report, body, json_type, NEXT_PATH)
                else:
                    conn.send_request("POST", report, body, json_type)
            except (BrokenPipeError, ConnectionResetError):
                pass  # answered early (413), no longer read: the answers still wait to be read (as in _round_trip)
            answers = [(inspection, conn.read_response()), (report, conn.read_response())]
        except _STALE_CONNECTION_ERRORS:
            conn.close()  # closed by the host since its last answer: one at a time on a new connection
            self._report_one_by_one(build)
            return
        except BaseException:
            conn.close()  # no half-used connection left behind: the next call starts clean
            raise
        self._next_sent = along and conn.sock is not None
        for path, resp in answers:
            if resp.status >= 300 and resp.status != 404:
                logs.warn("POST %s answered %d" % (path, resp.status))

    def _report_one_by_one(self, build: Callable[[], bytes]) -> None:
        self.start_inspection()
        self.post_globals(build())


_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def quote(text: str) -> str:
    """urllib.parse.quote(text, safe=""), without urllib.parse's ~2 ms import."""
    if not text.strip(_UNRESERVED):  # request ids are UUIDs: nothing to escape
        return text
    return "".join(chr(b) if chr(b) in _UNRESERVED else "%%%02X" % b for b in text.encode("utf-8"))


def header_safe(value: str) -> str:
    """Header values must be printable ASCII (CR/LF would end the field; http_wire refuses them)."""
    return "".join(c if " " <= c <= "~" else "?" for c in value)


def _utf8(value: Optional[str]) -> Optional[str]:
    """A header the function sees (the context's, the trace id): its bytes are taken as UTF-8, as awslambdaric decodes
    them (a caller's X-Amzn-Trace-Id is passed on as sent); the head was read as latin-1, one character a byte."""
    if value is None or value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value
