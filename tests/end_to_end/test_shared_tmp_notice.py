"""What lies under the host's /tmp does not cost the environment its own /tmp, and every headless mode says what
of the host's /tmp the function sees.

Code under /tmp (pytest's `tmp_path`, on purpose) is laid out at /var/task before /tmp is covered: the function
gets an empty /tmp of its own, as in Lambda, and nothing is said. An interpreter under /tmp (a virtualenv cloned
there) cannot be laid out: the folder in /tmp that holds it is bound again, read-only, over the private /tmp, and
each mode says so in one line on stderr. The functions write only into their own /tmp: the test leaves the host's
/tmp as it found it.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, run_cli, skip_unless_under_tmp, write_file
from sandbox_support import expected_sandbox

# What the function sees of its /tmp, whether it may write into what it found there, and a file of its own.
LISTS_TMP = '''import os


def handler(event, context):
    found = sorted(os.listdir("/tmp"))
    refused = {}
    for name in found:
        try:
            with open(os.path.join("/tmp", name, "written-by-the-function"), "w") as fh:
                fh.write("x")
            refused[name] = None
        except OSError as exc:
            refused[name] = exc.strerror
    with open("/tmp/own-file", "w") as fh:
        fh.write("the environment's own")
    return {"found": found, "refused": refused}
'''

NOT_ISOLATED = "[lambdatui]  /tmp is not isolated: "
SEEN_IN_IT = "[lambdatui]  /tmp is the environment's own, but the host's "


def lines_starting(stderr: str, prefix: str) -> list[str]:
    # `serve` starts an environment's lines with its number (`#1 `).
    return [line for line in stderr.splitlines() if re.sub(r"^#\d+ ", "", line).startswith(prefix)]


def private_tmp_expected(code_dir: Path) -> tuple[str, ...]:
    """The names the function's /tmp starts with (what of the host's the sandbox keeps, in a checkout cloned
    under /tmp); a skip where there is no private /tmp to test."""
    sandbox = expected_sandbox(code_dir)
    if sandbox.mode != "mount-namespace":
        pytest.skip(f"no private /tmp here: {sandbox.note}")
    return tuple(sorted(os.path.basename(path) for path in sandbox.kept))


def code_under_tmp(tmp_path: Path) -> Path:
    skip_unless_under_tmp(tmp_path)
    return write_file(tmp_path / "code" / "handler.py", LISTS_TMP)


def assert_own_tmp(answer: dict[str, object], kept: tuple[str, ...]) -> None:
    assert answer["found"] == list(kept), answer
    assert answer["refused"] == {name: "Read-only file system" for name in kept}, answer
    assert not os.path.exists("/tmp/own-file"), "the function's /tmp is the host's"


def test_invoke_gives_code_under_tmp_an_empty_tmp_of_its_own_and_says_nothing(tmp_path: Path) -> None:
    handler = code_under_tmp(tmp_path)
    kept = private_tmp_expected(handler.parent)
    result = run_cli("invoke", str(handler), "--repeat", "2")
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert_own_tmp(first, kept)
    assert second["found"] == sorted([*kept, "own-file"]), "the environment's /tmp lasts across its invokes"
    assert lines_starting(result.stderr, NOT_ISOLATED) == [], result.stderr
    if not kept:
        assert lines_starting(result.stderr, SEEN_IN_IT) == [], result.stderr


def test_serve_gives_code_under_tmp_an_empty_tmp_of_its_own(tmp_path: Path) -> None:
    handler = code_under_tmp(tmp_path)
    kept = private_tmp_expected(handler.parent)
    with ServeProcess(handler) as served:
        response = httpx.post(served.invoke_url(), content=b"{}", timeout=30)
        assert_own_tmp(response.json(), kept)
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0
    assert lines_starting(served.output(), NOT_ISOLATED) == [], served.output()


def assert_one_notice(stderr: str, python: Path) -> None:
    found = lines_starting(stderr, SEEN_IN_IT)
    assert len(found) == 1, f"expected one line about /tmp on stderr; it was:\n{stderr}"
    (line,) = found
    folder = str(python.parents[1])
    assert f"the host's {folder}" in line and " seen in it too (read-only): " in line, line
    # What each folder is kept for (a clone under /tmp adds its own, after it).
    assert f"the processes need {python}" in line and "from there, which a private /tmp alone would hide" in line, line
    assert lines_starting(stderr, NOT_ISOLATED) == [], stderr


def test_an_interpreter_under_tmp_is_seen_read_only_in_a_private_tmp(code_dir: Path,
                                                                      python_under_tmp: Path) -> None:
    kept = private_tmp_expected(code_dir)
    handler = write_file(code_dir / "handler.py", LISTS_TMP)
    result = run_cli("invoke", str(handler), "--python", str(python_under_tmp))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert_own_tmp(answer, tuple(sorted([*kept, python_under_tmp.parents[1].name])))
    assert_one_notice(result.stderr, python_under_tmp)
    assert sorted(os.listdir(python_under_tmp.parents[1])) == ["bin"], "the function wrote into the host's folder"
    # Chosen with --python: nothing to add on how to choose another.
    assert f"[lambdatui]  The function runs in {python_under_tmp} (--python).\n" in result.stderr, result.stderr


def test_serve_and_replay_say_what_of_the_hosts_tmp_the_function_sees(code_dir: Path, python_under_tmp: Path,
                                                                      tmp_path: Path) -> None:
    private_tmp_expected(code_dir)
    handler = write_file(code_dir / "handler.py", LISTS_TMP)
    with ServeProcess(handler, "--python", str(python_under_tmp)) as served:
        response = httpx.post(served.invoke_url(), content=b"{}", timeout=30)
        assert python_under_tmp.parents[1].name in response.json()["found"]
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0
    stderr = served.output()
    assert_one_notice(stderr, python_under_tmp)
    # Before the URL line: a user reads it before pointing a client at the server.
    lines = stderr.splitlines()
    notice = lines_starting(stderr, SEEN_IN_IT)[0]
    assert lines.index(notice) < next(i for i, line in enumerate(lines) if "serving " in line)

    scenario = tmp_path / "own-tmp.toml"
    scenario.write_text("[[step]]\ninvoke = {}\nexpect = { cold = true }\n")
    replayed = run_cli("replay", str(handler), str(scenario), "--python", str(python_under_tmp))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.splitlines()[-1].startswith(f"PASSED {scenario}")
    assert_one_notice(replayed.stderr, python_under_tmp)


def test_a_snapstart_copy_sees_the_hosts_folder_over_its_own_tmp(code_dir: Path, python_under_tmp: Path) -> None:
    """A restored environment's runtime is a copy of the snapshot's, which makes a /tmp of its own after the fork:
    the folder the interpreter lies in stays in sight there too, read-only."""
    kept = private_tmp_expected(code_dir)
    handler = write_file(code_dir / "handler.py", LISTS_TMP)
    result = run_cli("invoke", str(handler), "--snapstart", "--python", str(python_under_tmp))
    assert result.returncode == 0, result.stderr
    assert "RESTORE_START" in result.stderr, result.stderr  # the invoke went to a restored environment
    assert_own_tmp(json.loads(result.stdout), tuple(sorted([*kept, python_under_tmp.parents[1].name])))
    assert "shares the snapshot's /tmp" not in result.stderr, result.stderr
