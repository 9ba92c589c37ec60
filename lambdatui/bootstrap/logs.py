"""Function log output, as awslambdaric writes it.

print() goes to stdout (the host captures the pipe line by line); streams are made unbuffered so a line is in the
pipe the moment it is written. The root logger gets Lambda's text or JSON format and the current request id, and
writes each record (and each error the runtime logs) to the log sink: as one frame on the platform's telemetry log
fd where it gives one (`_LAMBDA_TELEMETRY_LOG_FD`, lambda-spec §6.6), so that a record of many lines stays one log
event, else to stdout, as awslambdaric does under the AWS emulator.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import sys
import threading
import time
import traceback

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, TextIO

TEXT_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
TEXT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
JSON_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ERROR_LINE_TERMINATOR = "\r"  # keeps a multi-line error one CloudWatch event
ERROR_INDENT = "\u00a0"  # NO-BREAK SPACE replaces leading spaces of traceback lines

UNHANDLED_EXCEPTION_WARNING = (
    "LAMBDA_WARNING: "
    "Unhandled exception. "
    "The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, "
    "or can be applied automatically. "
    "To determine if the runtime has been updated, check the runtime version in the INIT_START log entry. "
    "If this error correlates with a change in the runtime version, you may be able to mitigate this "
    "error by temporarily rolling back to the previous runtime version. "
    "For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)

# Record attributes that are not "extra" fields in JSON mode.
_RESERVED_FIELDS = frozenset(
    (
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module",
        "exc_info", "exc_text", "stack_info", "lineno", "funcName", "created", "msecs",
        "relativeCreated", "thread", "threadName", "processName", "process",
        "aws_request_id", "tenant_id", "_frame_type",
    )
)

LOG_FD_ENV = "_LAMBDA_TELEMETRY_LOG_FD"
# A frame's type: 0xA55A, then the format (text 1, JSON 0) and the level's bits; a record without a level the
# default text type (awslambdaric's lambda_runtime_log_utils).
_TEXT_FRAME = 0xA55A0003
_LEVEL_BITS = {0: 0x00, 10: 0x08, 20: 0x0C, 30: 0x10, 40: 0x14, 50: 0x18}
_FRAME_HEADER = struct.Struct(">IIQ")  # type, length, timestamp (µs since the epoch)

# The platform's framed log pipe, where it gave one (take_log_fd). lambdatui's is a second descriptor of stdout's
# pipe (the host reads records and prints in the order written). A pipe keeps a write of up to PIPE_BUF bytes whole,
# but a longer one waits for room in parts, between which another writer's bytes land: frames and prints are
# written under this lock, so that no print of another thread lands inside a record (a print already waiting for
# room when a frame begins would). Re-made in a forked child (a SnapStart copy too), where the thread that held it
# does not exist.
_log_fd = None  # type: Optional[Any]
_log_fd_lock = threading.RLock()  # reentrant: a signal handler that prints may run while its thread writes a frame
# The live threads (threading's own registry, which a thread joins before its first instruction): alone, the thread
# that prints writes no frame meanwhile, and its prints skip the lock (100,000 prints would pay ~15 ms for it).
_THREADS = getattr(threading, "_active", None)


def _new_lock() -> None:
    global _log_fd_lock
    _log_fd_lock = threading.RLock()


os.register_at_fork(after_in_child=_new_lock)
_level_set = False  # AWS_LAMBDA_LOG_LEVEL given: each record's frame says its level (as in JSON mode)

# The invocation the process is serving; the logging filter stamps it on records.
_request_id: Optional[str] = None
_tenant_id: Optional[str] = None
_json_mode = False


class Unbuffered(object):
    """Stream proxy that flushes after every write (awslambdaric's `Unbuffered`)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.stream, attr)

    # `with sys.stdout as out:` works and leaves stdout open, as with awslambdaric's (Python looks these up on the
    # type: __getattr__ cannot lend them).
    def __enter__(self) -> "Unbuffered":
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def write(self, msg: str) -> int:
        if _log_fd is None or (_THREADS is not None and len(_THREADS) < 2):
            written = self.stream.write(msg)
            self.stream.flush()
            return written
        lock = _log_fd_lock  # never inside a record being written; acquired by hand: `with` costs twice as much
        lock.acquire()
        try:
            written = self.stream.write(msg)
            self.stream.flush()
        finally:
            lock.release()
        return written

    def writelines(self, msgs: Any) -> None:
        for msg in msgs:
            self.write(msg)


class WholeLines(Unbuffered):
    """For one of several workers writing to the runtime's pipes: whole lines only, each in one write (a pipe
    keeps a write of up to PIPE_BUF bytes whole), so that two workers' prints never mix within a line. print()
    writes its text and its newline separately: the text waits for its newline, or for the next flush (every
    response flushes, see flush_all)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._partial = ""

    def write(self, msg: str) -> int:
        text = self._partial + msg
        cut = text.rfind("\n") + 1
        self._partial = text[cut:]
        if cut:
            self.stream.write(text[:cut])
            self.stream.flush()
        return len(msg)

    def writelines(self, msgs: Any) -> None:
        for msg in msgs:
            self.write(msg)

    def flush(self) -> None:
        if self._partial:
            self.stream.write(self._partial)
            self._partial = ""
        self.stream.flush()


def install_whole_line_streams() -> None:
    """In a worker process: sys.stdout/sys.stderr write whole lines, as the workers share the runtime's pipes."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, WholeLines):
            setattr(sys, name, WholeLines(stream.stream if isinstance(stream, Unbuffered) else stream))


def install_unbuffered_streams() -> None:
    """Wrap sys.stdout/sys.stderr so user prints reach the pipe immediately."""
    if sys.stdout is not None and not isinstance(sys.stdout, Unbuffered):
        sys.stdout = Unbuffered(sys.stdout)  # type: ignore[assignment]
    if sys.stderr is not None and not isinstance(sys.stderr, Unbuffered):
        sys.stderr = Unbuffered(sys.stderr)  # type: ignore[assignment]


def flush_all() -> None:
    """Push any buffered output into the pipes before the host sees the response."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # a user-replaced stream may be closed or broken
            pass


def take_log_fd(env: Any) -> None:
    """The platform's framed log pipe, where it gives one: its variable is taken out of the environment, as
    awslambdaric takes it, so that the function's own child processes never write to it."""
    global _log_fd
    number = env.pop(LOG_FD_ENV, None)
    if number is None:
        return
    try:
        _log_fd = os.fdopen(int(number), "wb", 0)
    except (ValueError, OSError) as exc:
        warn("%s=%s cannot be used (%s): log records go to stdout" % (LOG_FD_ENV, number, exc))


def replace_log_fd(fd: int) -> None:
    """A SnapStart copy's own log pipe in place of its snapshot's: at the same number, so the sink writes there."""
    if _log_fd is not None:
        os.dup2(fd, _log_fd.fileno())
    os.close(fd)


def _frame_type(levelno: int, json_mode: bool = False) -> int:
    """A record's frame type by its level (custom levels as the standard one below them), text or JSON."""
    return (_TEXT_FRAME - json_mode) | _LEVEL_BITS[min(50, max(0, levelno)) // 10 * 10]


def _write_frame(msg: str, frame_type: int) -> None:
    data = msg.encode("utf-8")  # a lone surrogate raises, as in awslambdaric (it fails the logging call in Lambda)
    frame = memoryview(_FRAME_HEADER.pack(frame_type, len(data), time.time_ns() // 1000) + data)
    with _log_fd_lock:
        # Whole, however it is cut: a stop signal (lambdatui's freeze) ends a write blocked on a full pipe early.
        while frame:
            frame = frame[_log_fd.write(frame) or 0:]  # type: ignore[union-attr]


def write(msg: str, levelno: Optional[int] = None) -> None:
    """The log sink: a frame on the telemetry log fd (awslambdaric's FramedTelemetryLogSink), else stdout (its
    StandardLogSink). `levelno`: the record's level, which a frame tells in JSON mode or with a log level set."""
    if _log_fd is None:
        sys.stdout.write(msg)
    elif levelno is not None and (_json_mode or _level_set):
        _write_frame(msg, _frame_type(levelno, _json_mode))
    else:
        _write_frame(msg, _TEXT_FRAME)


def warn(line: str) -> None:
    """One diagnostic line of our own on stderr (never in the function log format)."""
    try:
        sys.stderr.write("lambdatui-bootstrap: %s\n" % line)
    except Exception:
        pass


def client_error(line: str) -> None:
    """One line as awslambdaric's C++ client logs it: on stdout, in its own format (no request id, no prefix)."""
    try:
        sys.stdout.write(line + "\n")
    except Exception:
        pass


def set_invocation(request_id: Optional[str], tenant_id: Optional[str]) -> None:
    """Record the current invocation for log records (kept until the next one, like awslambdaric)."""
    global _request_id, _tenant_id
    _request_id = request_id
    _tenant_id = tenant_id


class _RequestIdFilter(logging.Filter):
    """Stamps the current request id on every record, for the text format's third field."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id or ""
        record.tenant_id = _tenant_id
        return True


class LambdaLoggerHandler(logging.Handler):
    """Root handler writing formatted records to the log sink, each ending its line: in Lambda a record is a log
    event of its own (a frame on its telemetry fd), where on stdout one without a final newline (a traceback's, as
    logging appends it after the format's newline; a formatter the function set) would take the next one onto its
    last line. (awslambdaric without that fd, as under RIE, writes them as they are.)"""

    def emit(self, record: logging.LogRecord) -> None:
        if _log_fd is not None:
            # A frame is one record as it is. What formatting or encoding raises reaches the logging call, as from
            # awslambdaric's handler (a lone surrogate fails the invoke in Lambda).
            write(self.format(record), record.levelno)
            return
        try:
            text = self.format(record)
            write(text if text.endswith("\n") else text + "\n")
        except Exception:
            self.handleError(record)


def _level_bucket(record: logging.LogRecord) -> int:
    """Custom levels (e.g. 25) are reported as the standard level below them."""
    return min(50, max(0, record.levelno)) // 10 * 10


class JsonFormatter(logging.Formatter):
    """AWS_LAMBDA_LOG_FORMAT=JSON records (awslambdaric's JsonFormatter)."""

    def __init__(self) -> None:
        super().__init__(datefmt=JSON_DATE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.levelno = _level_bucket(record)
        record.levelname = logging.getLevelName(record.levelno)
        exc_info = record.exc_info
        result: Dict[str, Any] = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": (
                record.msg
                if isinstance(record.msg, dict) and not record.args
                else record.getMessage()
            ),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
            "errorType": exc_info[0].__name__ if exc_info and exc_info[0] else None,
            "errorMessage": str(exc_info[1]) if exc_info else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": (
                "%s:%s:%s" % (record.pathname, record.funcName, record.lineno) if exc_info else None
            ),
        }
        tenant_id = getattr(record, "tenant_id", None)
        if tenant_id is not None:
            result["tenantId"] = tenant_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED_FIELDS and key not in result:
                result[key] = value
        result = {k: v for k, v in result.items() if v is not None}
        return json.dumps(result, ensure_ascii=False, default=str) + "\n"


def level_from_env(value: Optional[str]) -> str:
    """AWS_LAMBDA_LOG_LEVEL as awslambdaric reads it ("" when unset, TRACE → DEBUG)."""
    if value is None:
        return ""
    return {"TRACE": "DEBUG"}.get(value, value).upper()


def setup_logging(log_format: Optional[str], log_level: Optional[str]) -> None:
    """Install the root handler; UTC timestamps process-wide, as awslambdaric does."""
    global _json_mode, _level_set
    _json_mode = bool(log_format) and log_format.upper() == "JSON"
    _level_set = bool(level_from_env(log_level))
    logging.Formatter.converter = time.gmtime
    handler = LambdaLoggerHandler()
    if _json_mode:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, TEXT_DATE_FORMAT))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    level = level_from_env(log_level)
    if level and isinstance(logging.getLevelName(level), int):
        root.setLevel(level)
    root.addHandler(handler)


def _replace_indentation(line: str) -> str:
    """Leading spaces → NO-BREAK SPACE, so log viewers keep the traceback's indentation."""
    stripped = line.lstrip(" ")
    return ERROR_INDENT * (len(line) - len(stripped)) + stripped


def log_error(error: Dict[str, Any], to_json: Any) -> None:
    """Write an error body to the function log as one record (text or JSON mode)."""
    if _json_mode:
        stamped = {"timestamp": time.strftime(JSON_DATE_FORMAT, time.gmtime()), "level": "ERROR"}
        stamped.update(error)
        if _log_fd is not None:
            _write_frame(to_json(stamped), _frame_type(logging.ERROR, json_mode=True))
        else:
            write(to_json(stamped) + "\n")
        return
    description = "[ERROR]"
    error_type = error.get("errorType")
    if error_type:
        description += " " + error_type
    message = error.get("errorMessage")
    if message:
        if error_type:
            description += ":"
        description += " " + message
    lines: List[str] = [description]
    stack_trace = error.get("stackTrace")
    if stack_trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            if element == "":
                lines.append("")
            else:
                lines.extend(_replace_indentation(part) for part in element.splitlines())
    if _log_fd is not None:
        _write_frame("\n".join(lines), _frame_type(logging.ERROR))  # one frame keeps it one event
    else:
        write(ERROR_LINE_TERMINATOR.join(lines) + "\n")
