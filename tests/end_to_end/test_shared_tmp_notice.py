"""When the environment cannot have its own /tmp, every headless mode says so, in one line on stderr.

Code under /tmp is the portable way to get there: the private /tmp would hide it, so lambdatui falls
back to pointing TMPDIR at the environment's folder, and an absolute /tmp path is the host's /tmp.
pytest's `tmp_path` lies under /tmp, so the function is written there on purpose. It writes nothing
to /tmp itself: the test must leave the host's /tmp as it found it.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import httpx

from e2e_support import ServeProcess, run_cli, skip_unless_under_tmp, write_file
from sandbox_support import expected_sandbox

HELLO = '''def handler(event, context):
    return {"hello": "world"}
'''

NOTICE = "[lambdatui]  /tmp is not isolated: "


def function_under_tmp(tmp_path: Path) -> Path:
    skip_unless_under_tmp(tmp_path)
    code = tmp_path / "code"
    code.mkdir()
    return write_file(code / "handler.py", HELLO)


def notices(stderr: str) -> list[str]:
    # `serve` starts an environment's lines with its number (`#1 `).
    return [line for line in stderr.splitlines() if re.sub(r"^#\d+ ", "", line).startswith(NOTICE)]


def assert_one_notice(stderr: str, code_dir: Path) -> None:
    found = notices(stderr)
    assert len(found) == 1, f"expected one /tmp notice on stderr; it was:\n{stderr}"
    (line,) = found
    # Why (the path the private /tmp would hide), and what it means for the function.
    assert f"{code_dir} lies under /tmp" in line, line
    assert "absolute /tmp paths reach the host's /tmp" in line, line


def test_invoke_says_tmp_is_not_isolated(tmp_path: Path) -> None:
    handler = function_under_tmp(tmp_path)
    result = run_cli("invoke", str(handler), "--repeat", "2")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"hello": "world"}] * 2
    assert_one_notice(result.stderr, handler.parent)
    assert not notices(result.stdout), "the notice belongs on stderr: stdout carries only the responses"


def test_invoke_says_nothing_when_tmp_is_private(code_dir: Path) -> None:
    expected = expected_sandbox(code_dir)
    handler = write_file(code_dir / "handler.py", HELLO)
    result = run_cli("invoke", str(handler))
    assert result.returncode == 0, result.stderr
    if expected.mode == "mount-namespace":
        assert notices(result.stderr) == [], result.stderr
    else:  # the checkout or its interpreter lies under /tmp, or there is no mount namespace: it must say so
        assert len(notices(result.stderr)) == 1, result.stderr


def test_serve_says_tmp_is_not_isolated(tmp_path: Path) -> None:
    handler = function_under_tmp(tmp_path)
    with ServeProcess(handler) as served:
        response = httpx.post(served.invoke_url(), content=b"{}", timeout=30)
        assert response.json() == {"hello": "world"}
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0
    stderr = served.output()
    assert_one_notice(stderr, handler.parent)
    # Before the URL line: a user reads it before pointing a client at the server.
    lines = stderr.splitlines()
    assert lines.index(notices(stderr)[0]) < next(i for i, line in enumerate(lines) if "serving " in line)


def test_replay_says_tmp_is_not_isolated(tmp_path: Path) -> None:
    handler = function_under_tmp(tmp_path)
    scenario = tmp_path / "hello.toml"
    scenario.write_text('[[step]]\ninvoke = {}\nexpect = { response = { hello = "world" }, cold = true }\n')
    result = run_cli("replay", str(handler), str(scenario))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith(f"PASSED {scenario}")
    assert_one_notice(result.stderr, handler.parent)
