"""The runtime's telemetry log fd across the lifecycle (lambda-spec §4.5, §5, §6.6), as a user meets it:
`lambdatui serve` called by boto3 with LogType=Tail, crashes and timeouts with their resets, extensions beside the
runtime, wrappers and custom runtimes, many threads logging, and the host's own descriptors across resets."""

from __future__ import annotations

import base64
import http.client
import json
import os
import sys
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.runner import open_environment
from e2e_support import API_CALLS_SOURCE, LogCollector, ServeProcess, run_cli, source_lines, write_file

BOUND = 60


def boto3_client(served: ServeProcess):  # type: ignore[no-untyped-def]
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    return boto3.client("lambda", endpoint_url=served.base_url, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}, read_timeout=BOUND))


def invoke_tail(client, event: dict) -> tuple[dict, str]:  # type: ignore[no-untyped-def]
    response = client.invoke(FunctionName="function", Payload=json.dumps(event).encode(), LogType="Tail")
    return response, base64.b64decode(response["LogResult"]).decode()


ATTRIBUTION_HANDLER = '''import logging
import os
import time

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    logger.info("record of %s\\nsecond line of %s", event["tag"], event["tag"])
    if event.get("crash"):
        os._exit(3)
    if event.get("hang"):
        time.sleep(30)
    return event["tag"]
'''


def test_each_invoke_s_tail_has_its_own_record_across_crash_and_timeout_resets(code_dir: Path) -> None:
    """A record logged just before the runtime dies (exit, timeout) is that invoke's, before its END, whole, in
    X-Amz-Log-Result; the next invoke, in a new runtime with a new pipe, has its own record only."""
    handler = write_file(code_dir / "handler.py", ATTRIBUTION_HANDLER)
    with ServeProcess(handler, "--timeout", "2") as served:
        client = boto3_client(served)
        for event in ({"tag": "a"}, {"tag": "b", "crash": True}, {"tag": "c"}, {"tag": "d", "hang": True},
                      {"tag": "e"}):
            response, tail = invoke_tail(client, event)
            tag = event["tag"]
            failed = bool(event.get("crash") or event.get("hang"))
            assert ("FunctionError" in response) == failed, (event, tail)
            assert f"\trecord of {tag}\nsecond line of {tag}\n" in tail, (event, tail)
            assert tail.index(f"record of {tag}") < tail.index("END RequestId"), tail
            others = [t for t in "abcde" if t != tag and f"record of {t}" in tail]
            assert not others, (event, tail)


FD_LEAK_HANDLER = '''import logging
import os

logger = logging.getLogger()


def handler(event, context):
    logger.warning("about to %s\\n(two lines)", "crash" if event.get("crash") else "answer")
    if event.get("crash"):
        os._exit(1)
    return "ok"
'''


def _pipes_of(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:")
        except OSError:
            pass
    return count


def _post(served: ServeProcess, event: dict) -> int:
    connection = http.client.HTTPConnection(served.address, timeout=BOUND)
    try:
        connection.request("POST", "/2015-03-31/functions/function/invocations", body=json.dumps(event))
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_the_host_keeps_no_pipe_of_a_dead_runtime_across_many_resets(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", FD_LEAK_HANDLER)
    with ServeProcess(handler) as served:
        counts = []
        for rounds in (2, 10):
            for _ in range(rounds):
                assert _post(served, {"crash": True}) == 200
                assert _post(served, {}) == 200  # a new runtime, its Init and invoke done
            counts.append(_pipes_of(served.proc.pid))
        assert counts[0] == counts[1], counts
        assert len(served.wait_for_lines(r"\[function\]\s+\[WARNING\]\t\S+\t\S+\tabout to crash$", 12)) == 12


# ---------------------------------------------------------------------- extensions

PROBE_EXTENSION = "#!" + sys.executable + "\nimport http.client, json, os, sys\n" + API_CALLS_SOURCE + '''
def pipes():
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target.startswith("pipe:"):
            found.add(target)
    return sorted(found)

LIFE = os.urandom(8).hex()  # this process's, told apart from the one after the reset
st, body, h = call("POST", "/2020-01-01/extension/register", json.dumps({"events": ["INVOKE"]}),
                   {"Lambda-Extension-Name": "fdprobe"})
eid = h["Lambda-Extension-Identifier"]
while True:
    call("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": eid})
    log("extension", LIFE, os.environ.get("_LAMBDA_TELEMETRY_LOG_FD"), pipes())
'''

EXTENSION_HANDLER = '''import os
import sys


def handler(event, context):
    logs = [m for name, m in sys.modules.items() if name.endswith("logs") and hasattr(m, "_log_fd")]
    fd = logs[0]._log_fd.fileno()
    if event.get("crash"):
        os._exit(1)
    return os.readlink("/proc/self/fd/%d" % fd)
'''


def test_extensions_never_get_the_variable_nor_the_runtime_s_log_pipe_even_after_a_reset(code_dir: Path) -> None:
    """[RIE]: an extension's environment is without every `_` variable, `_LAMBDA_TELEMETRY_LOG_FD` named; nor does it
    hold the pipe (its processes are started before the runtime, and again at each reset)."""
    handler = write_file(code_dir / "handler.py", EXTENSION_HANDLER)
    write_file(code_dir / "extensions" / "fdprobe", PROBE_EXTENSION, executable=True)
    with ServeProcess(handler) as served:
        pipes = []
        for event in ({}, {"crash": True}, {}):
            connection = http.client.HTTPConnection(served.address, timeout=BOUND)
            connection.request("POST", "/2015-03-31/functions/function/invocations", body=json.dumps(event))
            body = connection.getresponse().read()
            connection.close()
            if not event:
                pipes.append(json.loads(body))
        first = served.wait_for_line(r'PROBE (\["extension".*)$')
        life = json.loads(first.group(1))[1]
        after_reset = served.wait_for_line(r'PROBE (\["extension", (?!"%s").*)$' % life)  # the next extension's
    assert all(p.startswith("pipe:") for p in pipes) and pipes[0] != pipes[1], pipes
    for match in (first, after_reset):
        _, _, variable, held = json.loads(match.group(1))
        assert variable is None and not set(held) & set(pipes), (match.group(0), pipes)


# ---------------------------------------------------------------------- wrappers, custom runtimes

MULTI_LINE_HANDLER = '''import logging
import os

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    logger.info("one record\\nof two lines")
    return os.environ.get("_LAMBDA_TELEMETRY_LOG_FD")
'''


@pytest.mark.trio
async def test_through_an_exec_wrapper_a_record_of_two_lines_is_still_one_record(code_dir: Path) -> None:
    """AWS_LAMBDA_EXEC_WRAPPER: the wrapper gets the variable and the fd and execs the runtime, which takes them."""
    handler = write_file(code_dir / "handler.py", MULTI_LINE_HANDLER)
    wrapper = write_file(code_dir / "wrapper.sh", '#!/bin/sh\necho "wrapper sees fd=$_LAMBDA_TELEMETRY_LOG_FD"\n'
                         'exec "$@"\n', executable=True)
    config = resolve_function(str(handler), env_pairs=[f"AWS_LAMBDA_EXEC_WRAPPER={wrapper}"])
    async with open_environment(config) as running:
        log = LogCollector()
        running.host.subscribe(log)
        with trio.fail_after(BOUND):
            result, _ = await running.host.invoke(b"{}")
            await log.wait_for_text(r"one record\nof two lines$", f.FUNCTION)
    assert result.payload == b"null"
    records = [line for line in log.lines if line.source == f.FUNCTION and "one record" in line.text]
    assert len(records) == 1 and records[0].text.startswith("[INFO]\t"), records
    assert any(t.startswith("wrapper sees fd=") and t != "wrapper sees fd=" for t in log.texts(f.FUNCTION))


SHELL_RUNTIME = '''#!/bin/bash
# A custom runtime in shell: its log lines written as plain text on the fd it was given.
set -eu
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while true; do
  HEADERS="$(mktemp)"
  curl -sS -D "$HEADERS" -o /dev/null "$API/next"
  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$HEADERS" | tr -d '\\r' | cut -d' ' -f2)
  rm -f "$HEADERS"
  echo "plain text written on the telemetry fd" >&"$_LAMBDA_TELEMETRY_LOG_FD"
  echo "a line on stdout"
  curl -sS -o /dev/null -X POST -d '"ok"' "$API/$ID/response"
done
'''


def test_a_shell_custom_runtime_gets_the_fd_and_its_plain_text_there_is_kept(code_dir: Path) -> None:
    """Lambda gives every runtime the variable (custom runtimes included); text that is no frame is kept as lines."""
    if not any(os.access(os.path.join(p, "curl"), os.X_OK) for p in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.skip("no curl here for the shell runtime")
    bootstrap = write_file(code_dir / "bootstrap", SHELL_RUNTIME, executable=True)
    done = run_cli("invoke", str(bootstrap), "--repeat", "2")
    assert done.returncode == 0 and done.stdout == '"ok"\n"ok"\n', done.stderr
    function = source_lines(done.stderr, "function")
    assert function.count("plain text written on the telemetry fd") == 2, function
    assert function.count("a line on stdout") == 2, function


# ---------------------------------------------------------------------- threads

THREADS_HANDLER = '''import logging
import threading

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def work(n):
    for i in range(200):
        logger.info("thread %d record %d\\n%s\\nend %d.%d", n, i, "y" * (n * 3000), n, i)


def handler(event, context):
    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return "done"
'''


@pytest.mark.trio
async def test_eight_threads_logging_at_once_give_every_record_whole_and_attributed(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", THREADS_HANDLER)
    async with open_environment(resolve_function(str(handler), timeout_s=30)) as running:
        log = LogCollector()
        running.host.subscribe(log)
        with trio.fail_after(BOUND):
            result, _ = await running.host.invoke(b"{}")
    assert result.payload == b'"done"'
    records = [line for line in log.lines if line.source == f.FUNCTION]
    assert len(records) == 8 * 200, len(records)
    for line in records:
        head, body, tail = line.text.split("\n")
        n, i = (int(part) for part in tail[4:].split("."))
        assert head.endswith(f"\tthread {n} record {i}") and body == "y" * (n * 3000), line.text[:200]
        assert line.request_id is not None and line.request_id in head


# ---------------------------------------------------------------------- SnapStart

SNAP_HANDLER = '''import logging
import os

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    logger.warning("snap record %s\\nits second line", event["tag"])
    if event.get("crash"):
        os._exit(2)
    return event["tag"]
'''


def test_snapstart_copies_after_a_crash_log_on_their_own_pipe(code_dir: Path) -> None:
    """A crash ends a restored copy; the next copy (a new environment's pipe put where the snapshot's was) logs
    its records whole, under its own environment's number."""
    handler = write_file(code_dir / "handler.py", SNAP_HANDLER)
    with ServeProcess(handler, "--snapstart") as served:
        for event in ({"tag": "one"}, {"tag": "two", "crash": True}, {"tag": "three"}):
            _post(served, event)
        found = served.wait_for_lines(r"^#(\d+) \[function\]\s+\[WARNING\]\t\S+\t\S+\tsnap record (\w+)$", 3)
        lines = served.output().splitlines()
    assert [m.group(2) for m in found] == ["one", "two", "three"], served.output()
    assert all(m.group(1) != "1" for m in found), served.output()  # never the snapshot's own environment
    for match in found:
        at = lines.index(match.group(0))
        assert lines[at + 1] == f"#{match.group(1)} [function]   its second line", lines[at:at + 2]


# ---------------------------------------------------------------------- order of prints and records

ORDER_HANDLER = '''import logging
import sys

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    for i in range(200):
        print("print %d" % i)
        logger.info("record %d\\nits second line", i)
        sys.stdout.write("part of a line ")
        logger.warning("record %d interrupting a print", i)
        print("rest of the line %d" % i)
    return "ordered"
'''


def test_prints_and_records_keep_the_order_they_were_written_in_before_end(code_dir: Path) -> None:
    """f6c98a7's fix of the ordering (the log fd writes to stdout's pipe): 200 rounds of print, record, a print a
    record interrupts, each in order, all before END, the interrupted print whole after the record."""
    handler = write_file(code_dir / "handler.py", ORDER_HANDLER)
    done = run_cli("invoke", str(handler), "--repeat", "2")
    assert done.returncode == 0 and done.stdout == '"ordered"\n' * 2, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    ends = [i for i, line in enumerate(lines) if line.startswith("[platform]   END RequestId")]
    starts = [i for i, line in enumerate(lines) if line.startswith("[platform]   START RequestId")]
    for start, end in zip(starts, ends):
        function = source_lines("\n".join(lines[start:end]), "function")
        expected = []
        for i in range(200):
            expected += [f"print {i}", f"record {i}", "its second line", f"record {i} interrupting a print",
                         f"part of a line rest of the line {i}"]
        got = [line.split("\t")[-1] if line.startswith(("[INFO]\t", "[WARNING]\t")) else line for line in function]
        assert got == expected, [(a, b) for a, b in zip(got, expected) if a != b][:3]
