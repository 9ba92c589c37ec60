"""Review of 4bf56c1 (a child's exit without waiting for its pipes' end of file), fac8042 (localhost in the
sandbox's hosts file), 1924aa5 (absolute-form request targets) and 38ae067 (the acceptor). No bug was confirmed in
the time box; these pin what was checked and holds (report: /work/scratch/s56/review_processes.md)."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from e2e_support import ServeProcess, write_file
from lambdatui.api.http11_head import parse_head
from lambdatui.processes.sandbox_hosts import write_hosts_file


@pytest.mark.parametrize(("target", "path", "raw"), [
    ("http://h:1?x=1", "/", "/?x=1"),  # no path, a query: the query stays, the path is "/"
    ("http://h:1", "/", "/"),
    ("HTTPS://h/a?b", "/a", "/a?b"),
    ("http://[::1]:9/x", "/x", "/x"),
    ("http://u@h:1/p%2Fq", "/p/q", "/p%2Fq"),
    ("http://h:1//2018-06-01/runtime/invocation/next", "//2018-06-01/runtime/invocation/next",
     "//2018-06-01/runtime/invocation/next"),  # not collapsed: the routes refuse it, as before
    ("*", "*", "*"),  # asterisk-form and authority-form are left for the routes to refuse
    ("h:1", "h:1", "h:1"),
])
def test_absolute_form_targets_become_their_origin_form(target: str, path: str, raw: str) -> None:
    head = parse_head(f"GET {target} HTTP/1.1\r\nHost: other".encode())
    assert (head.path, head.target) == (path, raw)


def test_the_hosts_file_names_localhost_only_at_the_environments_address(tmp_path: Path) -> None:
    text = write_hosts_file(tmp_path / "hosts", "127.9.8.7").read_text()
    named = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        for name in fields[1:]:
            named.setdefault(name.lower(), set()).add(fields[0])
    for name in ("localhost", "localhost.localdomain", "sandbox.localdomain", "sandbox"):
        assert named[name] == {"127.9.8.7"}, text


HANDLER = '''import os, subprocess, sys, time
def handler(event, context):
    if event.get("crash"):
        code = ("import itertools, time\\nfor i in itertools.count():\\n    print('tick', i, flush=True)\\n"
                "    open('/tmp/daemon-up', 'w').close() if i == 3 else None\\n    time.sleep(0.001)")
        subprocess.Popen([sys.executable, "-u", "-c", code], start_new_session=True)
        deadline = time.monotonic() + 5
        while not os.path.exists("/tmp/daemon-up") and time.monotonic() < deadline:
            time.sleep(0.002)
        os._exit(1)
    return {"ok": True}
'''


def _invoke(serve: ServeProcess, event: dict) -> tuple[bytes, str]:
    request = urllib.request.Request(serve.invoke_url(), data=json.dumps(event).encode(),
                                     headers={"X-Amz-Log-Type": "Tail"})
    try:
        answer = urllib.request.urlopen(request, timeout=20)
    except urllib.error.HTTPError as exc:
        answer = exc
    return answer.read(), base64.b64decode(answer.headers.get("X-Amz-Log-Result", "")).decode()


def test_a_crashed_runtimes_daemon_is_not_in_the_next_invokes_log(tmp_path: Path) -> None:
    """The runtime exits while a setsid daemon holds its stdout and writes on: the crash is answered at once, and the
    daemon's lines (read after the exit) belong to the crashed life, never to the next invoke's log tail."""
    handler = write_file(tmp_path / "code" / "handler.py", HANDLER)
    with ServeProcess(handler.parent / "handler.py", "--timeout", "10") as serve:
        body, _ = _invoke(serve, {"crash": True})
        assert b"Runtime.ExitError" in body
        for _ in range(3):
            body, tail = _invoke(serve, {})
            assert body == b'{"ok": true}'
            assert "tick" not in tail
        serve.wait_for_lines(r"REPORT RequestId", 4)
        lines = serve.output().splitlines()
        starts = [i for i, line in enumerate(lines) if re.search(r"\] +START RequestId", line)]
        assert len(starts) == 4
        assert [line for line in lines[:starts[1]] if "tick 3" in line]  # the daemon wrote in the crashed life
        assert not [line for line in lines[starts[1]:] if "tick" in line]
