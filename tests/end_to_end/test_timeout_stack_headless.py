"""Where a timed-out handler was, in the headless modes: `invoke` and `serve` print the stack lambdatui dumps at the
timeout (the debugger and `replay` showed it; the slow sample's README promised it of `invoke`, which said nothing)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from e2e_support import ServeProcess, run_cli, write_file

HANG = '''import time


def wait_for_downstream():
    time.sleep(30)


def handler(event, context):
    wait_for_downstream()
'''


def test_invoke_says_where_the_handler_was_at_the_timeout(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANG)
    done = run_cli("invoke", str(handler), "-e", "{}", "--timeout", "1")
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    heading = next(i for i, line in enumerate(lines) if "where the handler was at the timeout" in line)
    assert lines[heading].startswith("[lambdatui]"), lines[heading]
    frames = [line.split(None, 1)[1].strip() for line in lines[heading + 1:heading + 3]]
    assert frames == ["handler.py:5 in wait_for_downstream", "handler.py:9 in handler"], done.stderr


def test_serve_says_where_the_handler_was_at_the_timeout_under_its_environments_number(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANG)
    with ServeProcess(handler, "--timeout", "1") as served:
        request = urllib.request.Request(served.invoke_url(), data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["X-Amz-Function-Error"] == "Unhandled"
        served.wait_for_line(r"#1 \[lambdatui\]\s+handler\.py:9 in handler")
        output = served.output()
    assert re.search(r"#1 \[lambdatui\]\s+where the handler was at the timeout \(.*\):\n"
                     r"#1 \[lambdatui\]\s+handler\.py:5 in wait_for_downstream\n", output), output
