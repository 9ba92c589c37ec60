"""Bad option values: one line on stderr naming the option, exit 2, never a traceback, in every mode that takes it.

Each case runs the installed CLI in every mode that accepts the option; the debugger must refuse before the
screen opens (these runs have no terminal: a debugger that got past its checks would hang until the timeout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from e2e_support import SAMPLES, run_cli

from lambdatui.json_text import MAX_DEPTH

HELLO = str(SAMPLES / "hello" / "handler.py")
# Past what Lambda's front end takes (the event is refused), and past what json.loads follows on every Python from
# 3.10 to 3.13 (~1,000 to ~10,000 levels: a RecursionError, as an --env-file is read).
DEPTH = MAX_DEPTH + 1
DEEP_JSON = "[" * DEPTH + "]" * DEPTH
SCENARIO = "[[step]]\ninvoke = {}\n"


def _mode_argv(mode: str, data: Path) -> list[str]:
    """The command line of `mode` on the hello function, before the option under test."""
    if mode == "replay":
        scenario = data / "ok.toml"
        scenario.write_text(SCENARIO)
        return ["replay", HELLO, str(scenario)]
    if mode == "debugger":
        return [HELLO]
    return [mode, HELLO]


def _non_utf8(data: Path) -> str:
    path = data / "latin.json"
    path.write_bytes(b"\xff\xfe{}")
    return str(path)


def _deep_event_file(data: Path) -> str:
    path = data / "deep.json"
    path.write_text(DEEP_JSON)
    return str(path)


def _large_event_file(data: Path) -> str:
    """An event one byte over Lambda's 6 MiB for a synchronous invoke, which its front end refuses (413)."""
    path = data / "large.json"
    path.write_text('{"a": "' + "x" * (6 * 1024 * 1024 + 1 - len('{"a": ""}')) + '"}')
    return str(path)


def _deep_env_file(data: Path) -> str:
    path = data / "deep-env.json"
    path.write_text('{"A": ' + DEEP_JSON + "}")
    return str(path)


# (id, modes, the option's arguments built in a data folder, text the one line must hold)
CASES: list[tuple[str, tuple[str, ...], Callable[[Path], list[str]], str]] = [
    ("bootstrap-unclosed-quote", ("invoke", "serve", "replay", "debugger"),
     lambda d: ["--bootstrap", "'x"], "--bootstrap"),
    ("event-file-not-utf8", ("invoke", "debugger"), lambda d: ["-e", _non_utf8(d)], "--event"),
    ("event-file-too-deep", ("invoke", "debugger"), lambda d: ["--event", _deep_event_file(d)], "--event"),
    ("event-text-too-deep", ("invoke", "debugger"), lambda d: ["-e", DEEP_JSON], "--event"),
    ("event-file-too-large", ("invoke", "debugger"), lambda d: ["-e", _large_event_file(d)],
     "6,291,457 bytes, over Lambda's limit"),
    ("event-file-endless", ("invoke", "debugger"), lambda d: ["-e", "/dev/zero"],
     "--event /dev/zero: more than 6,291,456 bytes, over Lambda's limit"),
    ("env-file-too-deep", ("invoke", "serve", "replay", "debugger"),
     lambda d: ["--env-file", _deep_env_file(d)], "--env-file"),
    ("env-file-not-utf8", ("invoke", "serve", "replay", "debugger"),
     lambda d: ["--env-file", _non_utf8(d)], "--env-file"),
    ("port-too-big", ("serve", "debugger"), lambda d: ["--port", "70000"], "--port 70000"),
    ("port-negative", ("serve", "debugger"), lambda d: ["--port", "-1"], "--port -1"),
    ("host-unresolvable", ("serve", "debugger"), lambda d: ["--port", "0", "--host", "no-such-host.invalid"],
     "--host no-such-host.invalid"),
    ("host-not-local", ("serve", "debugger"), lambda d: ["--port", "0", "--host", "8.8.8.8"], "--host 8.8.8.8"),
]


@pytest.mark.parametrize(
    ("mode", "make_args", "expected"),
    [pytest.param(mode, make_args, expected, id=f"{case}-{mode}")
     for case, modes, make_args, expected in CASES for mode in modes],
)
def test_bad_option_is_one_line_naming_it_and_exit_2(
    mode: str, make_args: Callable[[Path], list[str]], expected: str, tmp_path: Path
) -> None:
    result = run_cli(*_mode_argv(mode, tmp_path), *make_args(tmp_path), timeout=30)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lambdatui: ") and expected in lines[0], lines[0]


def test_event_on_stdin_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    import subprocess

    from e2e_support import REPO, lambdatui_argv

    result = subprocess.run([*lambdatui_argv(), "invoke", HELLO, "-e", "-"], cwd=REPO, input=b"\xff\xfe{}",
                            capture_output=True, timeout=30)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lambdatui: --event -: ") and "UTF-8" in lines[0], stderr


def test_event_on_stdin_when_stdin_is_closed_is_one_line() -> None:
    import subprocess

    from e2e_support import REPO, lambdatui_argv

    # Python sets sys.stdin to None when file descriptor 0 is closed at start.
    result = subprocess.run(["/bin/sh", "-c", '"$@" <&-', "sh", *lambdatui_argv(), "invoke", HELLO, "-e", "-"],
                            cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == ["lambdatui: --event -: there is no standard input to read the event from"]


@pytest.mark.parametrize("redirected", ["stdin", "stdout", "stderr"])
def test_the_debugger_without_a_terminal_says_so_instead_of_waiting_for_keys(redirected: str, tmp_path: Path) -> None:
    """`lambdatui fn.py > out.txt`, or run from a script or CI: the screen would go where no one sees it, and the
    debugger would wait for keys no one can press. Textual draws on standard error: `2> err.log` drew the whole
    screen into the file while the terminal stayed blank."""
    import os
    import subprocess

    from e2e_support import REPO, lambdatui_argv

    master, slave = os.openpty()  # the other streams are a terminal: only the redirected one is not
    told = tmp_path / "stderr.txt"
    try:
        with told.open("w") as stderr_file:
            streams: dict = {"stdin": slave, "stdout": slave, "stderr": slave}
            streams[redirected] = stderr_file if redirected == "stderr" else subprocess.DEVNULL
            env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_DRIVER"}
            result = subprocess.run([*lambdatui_argv(), HELLO], cwd=REPO, env=env, stdin=streams["stdin"],
                                    stdout=streams["stdout"], stderr=streams["stderr"], timeout=30)
        if redirected == "stderr":
            said = told.read_text()
        else:  # written on the terminal, whose other end holds it (the process has ended: nothing more comes)
            os.set_blocking(master, False)
            said = os.read(master, 65536).decode().replace("\r\n", "\n")
    finally:
        os.close(slave)
        os.close(master)
    assert result.returncode == 2, said
    assert said.strip().splitlines() == [
        "lambdatui: the debugger needs a terminal to draw on and read keys from (its standard input, output and error "
        "are not all one): without one, run 'lambdatui invoke PATH' or 'lambdatui serve PATH'"]


@pytest.mark.parametrize("grace", ["-1", "nan", "inf"])
def test_a_shutdown_grace_that_is_no_length_of_time_is_refused(grace: str) -> None:
    result = run_cli("serve", HELLO, f"--shutdown-grace={grace}", "--port", "0")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"argument --shutdown-grace: {grace}: give seconds, 0 or more" in result.stderr, result.stderr
