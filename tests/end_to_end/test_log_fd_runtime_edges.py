"""What a function's runtime writes on `_LAMBDA_TELEMETRY_LOG_FD`, and how the host takes it (lambda-spec §6.6),
with real processes: `lambdatui invoke` as a user runs it, or an environment opened in this process whose facts are
heard as they come. Every wait is on its event and bounded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.runner import open_environment
from e2e_support import LambdatuiProcess, awslambdaric_bootstrap, run_cli, source_lines, write_file

BOUND = 60


class Heard:
    """The host's facts, kept small: the function's lines, cut short, and the freezes counted."""

    def __init__(self) -> None:
        self.frozen = 0
        self.records: list[str] = []  # the function's lines, each cut to 300 characters
        self._changed = trio.Event()

    def __call__(self, fact: object) -> None:
        if type(fact) is f.EnvironmentFrozen:
            self.frozen += 1
        for line in f.log_lines(fact):
            if line.source == f.FUNCTION:
                self.records.append(line.text[:300])
        self._changed.set()
        self._changed = trio.Event()

    async def until(self, predicate) -> None:  # type: ignore[no-untyped-def]
        while not predicate():
            await self._changed.wait()


# ---------------------------------------------------------------------- a frame whose first 64 KB arrive exactly

# A custom runtime that frames its records itself, as a runtime with a buffered writer does (Go's bufio, a Rust
# BufWriter): its frames reach the pipe in one write. The first frame is 65,520 bytes long, so that the host's
# second 64 KiB read ends exactly 64 KiB into the second frame's message.
BUFFERED_FRAMES_RUNTIME = f'''#!{sys.executable}
import http.client, os, struct

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
FD = int(os.environ["_LAMBDA_TELEMETRY_LOG_FD"])


def frame(data):
    return struct.pack(">IIQ", 0xA55A0003, len(data), 0) + data


def call(method, path, body=None):
    c = http.client.HTTPConnection(API, timeout=60)
    c.request(method, path, body=body)
    r = c.getresponse()
    r.read()
    return r


while True:
    request_id = call("GET", "/2018-06-01/runtime/invocation/next").getheader("Lambda-Runtime-Aws-Request-Id")
    os.write(FD, frame(b"a" * (65520 - 16)) + frame(b"b" * 100000) + frame(b"the record after the long one"))
    call("POST", "/2018-06-01/runtime/invocation/%s/response" % request_id, b'"ok"')
'''


def test_a_runtime_writing_its_frames_in_one_buffered_write_is_served(code_dir: Path) -> None:
    """At 021eb9d this made FrameSplitter raise IndexError (exactly a header and 64 KB of a longer frame buffered):
    `lambdatui invoke` hung on an 'unhandled error in a route', or crashed. Fixed in f6c98a7; kept as a check."""
    bootstrap = write_file(code_dir / "bootstrap", BUFFERED_FRAMES_RUNTIME, executable=True)
    with LambdatuiProcess("invoke", str(bootstrap), "--repeat", "2") as proc:
        try:
            code = proc.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            code = None
        output = proc.output()
    assert code == 0 and "IndexError" not in output, output[-3000:]
    assert bytes(proc.stdout).split() == [b'"ok"', b'"ok"']
    assert source_lines(output, "function").count("the record after the long one") == 2, output[-3000:]


# ---------------------------------------------------------------------- fork while another thread logs

FORK_HANDLER = '''import logging
import os
import threading
import time

logger = logging.getLogger()
logger.setLevel(logging.INFO)
BIG = "x" * (2 << 20)  # a record larger than the pipe: its write waits for the host to read
STOP = threading.Event()


def churn():
    while not STOP.is_set():
        logger.info(BIG)


def handler(event, context):
    threads = [threading.Thread(target=churn, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    hung = 0
    for n in range(event["forks"]):
        pid = os.fork()
        if pid == 0:  # what multiprocessing's fork start method does: the child logs, then ends
            logger.info("from child %d", n)
            os._exit(0)
        deadline = time.monotonic() + 2
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                hung += 1
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                break
            time.sleep(0.01)  # polling the child's exit, bounded by the deadline above
    STOP.set()
    for thread in threads:
        thread.join(10)
    return {"hung": hung}
'''


async def _forks_hung(config) -> int:  # type: ignore[no-untyped-def]
    async with open_environment(config) as running:
        with trio.fail_after(BOUND):
            result, _ = await running.host.invoke(json.dumps({"forks": 4}).encode())
    assert not result.function_error, result.payload
    return json.loads(result.payload)["hung"]


@pytest.mark.trio
async def test_a_child_forked_while_a_thread_logs_can_log(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", FORK_HANDLER)
    assert await _forks_hung(resolve_function(str(handler), timeout_s=60)) == 0


# ---------------------------------------------------------------------- a record being written as the freeze comes

FREEZE_HANDLER = '''import logging
import threading

logger = logging.getLogger()
logger.setLevel(logging.INFO)
BIG = "x" * (2 << 20)  # larger than the pipe: its write takes as long as the host takes to read it
STOP = threading.Event()
THREADS = []


def churn(started):
    while not STOP.is_set():
        logger.info("big record %s", BIG)
        started.set()


def handler(event, context):
    if event.get("start"):
        started = threading.Event()
        THREADS.extend(threading.Thread(target=churn, args=(started,), daemon=True) for _ in range(3))
        for thread in THREADS:
            thread.start()
        started.wait(10)
        return "churning"
    if event.get("stop"):
        STOP.set()
        for thread in THREADS:
            thread.join(10)
        logger.info("the last record\\nits second line")
        return "stopped"
    return "still churning"
'''


@pytest.mark.trio
async def test_records_keep_their_framing_across_a_freeze_mid_record(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", FREEZE_HANDLER)
    async with open_environment(resolve_function(str(handler), timeout_s=30)) as running:
        host = running.host
        heard = Heard()
        host.subscribe(heard)
        with trio.fail_after(BOUND):
            for event in ({"start": True}, *[{}] * 24):  # 25 freezes, each a chance to stop a write midway
                frozen = heard.frozen
                result, _ = await host.invoke(json.dumps(event).encode())
                assert not result.function_error, result.payload
                await heard.until(lambda: heard.frozen > frozen)  # frozen, the churn's threads mid-record
            result, _ = await host.invoke(b'{"stop": true}')
    assert result.payload == b'"stopped"'
    assert heard.records[-1].endswith("\tthe last record\nits second line"), heard.records[-5:]
    stray = [r for r in heard.records if not r.startswith("[INFO]\t")]
    assert not stray, (len(stray), stray[:3])


# ---------------------------------------------------------------------- long records

LONG_ERROR_HANDLER = '''def handler(event, context):
    raise ValueError("v" * 100000)
'''


def test_an_unhandled_error_with_a_long_message_keeps_its_traceback_in_the_log(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", LONG_ERROR_HANDLER)
    done = run_cli("invoke", str(handler))
    assert done.returncode == 1, done.stderr[-2000:]
    function = "\n".join(source_lines(done.stderr, "function"))
    assert "[ERROR] ValueError: vvv" in function
    assert "Traceback (most recent call last):" in function and 'raise ValueError("v" * 100000)' in function


def test_an_unhandled_error_with_a_short_message_is_one_record_with_its_traceback(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", LONG_ERROR_HANDLER.replace("100000", "10"))
    done = run_cli("invoke", str(handler))
    assert done.returncode == 1, done.stderr[-2000:]
    lines = source_lines(done.stderr, "function")
    at = lines.index("[ERROR] ValueError: vvvvvvvvvv")
    assert lines[at + 1] == "Traceback (most recent call last):" and 'raise ValueError("v" * 10)' in lines[at + 3]


# ---------------------------------------------------------------------- SnapStart: every restore is a fork

SNAP_THREAD_HANDLER = '''import logging
import threading
import time

logger = logging.getLogger()
logger.setLevel(logging.INFO)
BIG = "x" * 60000  # within the host's 64 KB: written faster than the host reads, each write waits for it


def churn():  # a thread Init starts that logs (a metrics flusher, a heartbeat), here for a bounded while
    end = time.monotonic() + 15
    while time.monotonic() < end:
        logger.info(BIG)


threading.Thread(target=churn, daemon=True).start()


def handler(event, context):
    logger.info("logged in the restored copy")
    return "ok"
'''


def test_a_snapstart_copy_can_log_while_init_s_thread_logs(code_dir: Path) -> None:
    import http.client

    from e2e_support import ServeProcess

    handler = write_file(code_dir / "handler.py", SNAP_THREAD_HANDLER)
    with ServeProcess(handler, "--snapstart", "--timeout", "3") as served:
        connection = http.client.HTTPConnection(served.address, timeout=BOUND)
        connection.request("POST", "/2015-03-31/functions/function/invocations", body=b"{}")
        response = connection.getresponse()
        body = response.read()
        connection.close()
    assert response.getheader("X-Amz-Function-Error") is None and body == b'"ok"', body


# ---------------------------------------------------------------------- stdout and the log fd share a pipe (f6c98a7)

SHARED_PIPE_HANDLER = '''import logging
import threading

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    if event.get("yen"):
        print("price list: \\u00a5Z\\x00\\x03\\x7f\\x7f\\x7f\\x7f01234567 end")
        print("a print after it")
        logger.info("a record after it")
        return "yen"
    stop = threading.Event()
    written = []

    def churn():  # a thread logging records larger than the pipe: each write waits for the host to read
        while not stop.is_set():
            logger.info("big %s", "x" * (3 << 20))
            written.append(1)

    thread = threading.Thread(target=churn)
    thread.start()
    printed = 0
    while len(written) < 3 and printed < 20000:  # printing while the thread writes its first records
        print("print number %d" % printed)
        printed += 1
    stop.set()
    thread.join()
    return printed
'''


def test_prints_from_one_thread_survive_another_thread_logging_big_records(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", SHARED_PIPE_HANDLER)
    done = run_cli("invoke", str(handler), "--timeout", "30")
    assert done.returncode == 0, done.stderr[-2000:]
    printed = int(done.stdout)
    function = source_lines(done.stderr, "function")
    prints = [line for line in function if line.startswith("print number ")]
    assert prints == ["print number %d" % i for i in range(printed)], (printed, len(prints), prints[:3])
    assert all(line.startswith(("print number ", "[INFO]\t")) for line in function), [
        line[:80] for line in function if not line.startswith(("print number ", "[INFO]\t"))][:5]


def test_a_print_with_a_yen_sign_z_and_nul_does_not_swallow_the_rest_of_the_log(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", SHARED_PIPE_HANDLER)
    done = run_cli("invoke", str(handler), "-e", '{"yen": true}')
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("[platform]   END RequestId"))
    before_end = source_lines("\n".join(lines[:end]), "function")
    assert "price list: ¥Z\\x00\\x03\\x7f\\x7f\\x7f\\x7f01234567 end" in before_end, before_end
    assert "a print after it" in before_end, before_end
    assert any(line.startswith("[INFO]\t") and line.endswith("\ta record after it") for line in before_end), before_end


PARTIAL_YEN_HANDLER = '''import sys


def handler(event, context):
    print("first line of the invoke")
    sys.stdout.write("total: 100\\u00a5")  # no newline: the invoke's END delivers it
    return "ok"
'''


def test_a_partial_print_ending_in_a_yen_sign_is_whole_and_the_next_invoke_s_first_line_clean(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", PARTIAL_YEN_HANDLER)
    done = run_cli("invoke", str(handler), "--repeat", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert source_lines(done.stderr, "function") == ["first line of the invoke", "total: 100¥"] * 2, done.stderr


SURROGATE_HANDLER = '''import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    logger.info("a lone surrogate: \\udc80")
    return "logged"
'''


def _surrogate_invoke(path: Path) -> tuple[int, str]:
    done = run_cli("invoke", str(path))
    return done.returncode, done.stdout


def test_logging_a_lone_surrogate_fails_the_invoke_as_in_lambda(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", SURROGATE_HANDLER)
    code, stdout = _surrogate_invoke(handler)
    assert code == 1 and json.loads(stdout)["errorType"] == "UnicodeEncodeError", stdout


def test_under_awslambdaric_logging_a_lone_surrogate_fails_the_invoke(code_dir: Path) -> None:
    pytest.importorskip("awslambdaric")
    write_file(code_dir / "handler.py", SURROGATE_HANDLER)
    code, stdout = _surrogate_invoke(awslambdaric_bootstrap(code_dir))
    assert code == 1 and json.loads(stdout)["errorType"] == "UnicodeEncodeError", stdout
