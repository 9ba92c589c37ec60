"""What a function leaves in its /tmp, and prints, must not break lambdatui or the terminal (issue 8, hardening).

The real CLI, real processes. Each test gives lambdatui a state folder of its own (XDG_STATE_HOME inside
`code_dir`), so a run folder left behind is seen, and never mixed up with another session's. The functions
write through `tempfile.gettempdir()`, which is the environment's /tmp in both sandbox modes: nothing lands
in the host's /tmp.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from e2e_support import CLI_TIMEOUT, NO_NAMESPACE_CLI, REPO, lambdatui_argv, write_file

DEPTH = 1_100  # shutil.rmtree recursed once per level: beyond the default recursion limit of 1,000

DEEP_TMP = '''import os
import tempfile

DEPTH = %d


def handler(event, context):
    # fd-relative, so the depth is not bounded by PATH_MAX either
    fd = os.open(tempfile.gettempdir(), os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(DEPTH):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    return {"nested": DEPTH}
''' % DEPTH


@pytest.fixture
def state(code_dir: Path):
    """lambdatui's state folder for this test; removed after it, however deep what was left in it."""
    from lambdatui.processes.tree_removal import remove_tree

    path = code_dir / "state"
    yield path
    remove_tree(path)  # code_dir's own cleanup is shutil.rmtree, which a deep leftover would crash


def run(state: Path, *args: str, cwd: Path = REPO, namespace: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_STATE_HOME=str(state))
    argv = lambdatui_argv() if namespace else [sys.executable, "-c", NO_NAMESPACE_CLI]
    return subprocess.run([*argv, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT)


def runs_left(state: Path) -> list[str]:
    root = state / "lambdatui"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def nest(folder: Path, depth: int) -> None:
    """`depth` directories one in the other, made fd by fd (os.makedirs and pathlib would recurse)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)


def chattr(flag: str, path: Path) -> Optional[str]:
    """None when the attribute was set or cleared, else why not (no chattr, or a file system without it)."""
    tool = shutil.which("chattr")
    if tool is None:
        return "chattr is not installed"
    done = subprocess.run([tool, flag, str(path)], capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip() or f"chattr exited {done.returncode}")


# ---------------------------------------------------------------------- 1. a deep /tmp tree


def test_a_tmp_nested_deeper_than_the_recursion_limit_is_removed_at_exit(code_dir: Path, state: Path) -> None:
    handler = write_file(code_dir / "handler.py", DEEP_TMP)

    done = run(state, "invoke", str(handler))

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"nested": DEPTH}
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr, done.stderr
    assert runs_left(state) == []  # the run folder went, with the whole tree


def test_a_deep_tmp_is_removed_on_new_environment_and_the_replay_passes(code_dir: Path, state: Path) -> None:
    handler = write_file(code_dir / "handler.py", DEEP_TMP)
    scenario = write_file(code_dir / "deep.toml", "[[step]]\ninvoke = {}\nexpect = { cold = true }\n\n"
                                                   "[[step]]\nnew_environment = true\n\n"
                                                   "[[step]]\ninvoke = {}\nexpect = { cold = true }\n")

    done = run(state, "replay", str(handler), str(scenario))

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"PASSED {scenario}"), done.stdout
    assert "RecursionError" not in done.stderr, done.stderr
    assert runs_left(state) == []


def test_a_stale_run_that_cannot_be_removed_is_reported_once_and_skipped(code_dir: Path, state: Path) -> None:
    stale = state / "lambdatui" / "run-999999999-dead0000"  # no such pid: a lambdatui that was SIGKILLed
    (stale / "environment-1" / "tmp").mkdir(parents=True)
    nest(stale / "environment-1" / "tmp", DEPTH)  # deep too: the removal that meets it must not recurse
    stuck = stale / "environment-1" / "tmp" / "stuck"
    stuck.write_text("immutable")
    why_not = chattr("+i", stuck)
    if why_not is not None:
        pytest.skip(f"no immutable file to stage an unremovable stale run: {why_not}")
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    return 'ok'\n")
    try:
        first = run(state, "invoke", str(handler))
        second = run(state, "invoke", str(handler))
    finally:
        chattr("-i", stuck)

    for done in (first, second):
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == "ok"
        said = [line for line in done.stderr.splitlines() if "stale run" in line]
        assert len(said) == 1, done.stderr
        assert said[0].startswith("[lambdatui]  skipped a stale run folder: ") and str(stuck) in said[0], said
    assert runs_left(state) == [stale.name]  # only what could not go; the deep tree beside it went
    assert [p.name for p in (stale / "environment-1" / "tmp").iterdir()] == ["stuck"]

    third = run(state, "invoke", str(handler))  # once it can go, it goes, and nothing is said
    assert third.returncode == 0, third.stderr
    assert "stale run" not in third.stderr, third.stderr
    assert runs_left(state) == []


# ---------------------------------------------------------------------- 2. the /tmp listing never leaves /tmp

ESCAPE_LINK = '''import os
import tempfile


def handler(event, context):
    tmp = tempfile.gettempdir()
    with open(os.path.join(tmp, "mine.txt"), "w") as fh:
        fh.write("mine")
    os.symlink("/", os.path.join(tmp, "escape"))
    os.mkdir(os.path.join(tmp, "sub"))
    os.symlink("/", os.path.join(tmp, "sub", "up"))
    return {"done": "linked"}
'''

SWAP_TMP = '''import os
import tempfile


def handler(event, context):
    tmp = tempfile.gettempdir()
    with open(os.path.join(tmp, "mine.txt"), "w") as fh:
        fh.write("mine")
    # The folder the host lists, swapped for a link to the host's root (TMPDIR mode: its path is reachable).
    os.rename(tmp, tmp + ".moved")
    os.symlink("/", tmp)
    return {"done": "swapped"}
'''

HOST_NAMES = {"etc", "proc", "usr", "bin", "root", "dev", "sys", "var"}


def tmp_lines(stdout: str) -> list[str]:
    return [line.split(None, 1)[1] for line in stdout.splitlines() if line.startswith("  tmp ")]


def listed_paths(stdout: str) -> set[str]:
    return {text.split("  ", 1)[0] for text in tmp_lines(stdout)}


def assert_no_host_files(paths: set[str]) -> None:
    for path in paths:
        parts = path.split("/")  # "", "tmp", ...
        assert not HOST_NAMES & set(parts[2:]), f"the listing shows a host path: {path} (all: {sorted(paths)})"


def test_a_link_to_the_root_in_tmp_is_listed_as_a_link_never_walked(code_dir: Path, state: Path) -> None:
    handler = write_file(code_dir / "handler.py", ESCAPE_LINK)
    scenario = write_file(code_dir / "link.toml", '[[step]]\ninvoke = {}\nexpect = { response = { done = "linked" } }\n')

    done = run(state, "replay", str(handler), str(scenario))

    assert done.returncode == 0, done.stdout + done.stderr
    paths = listed_paths(done.stdout)
    assert {"/tmp/mine.txt", "/tmp/escape", "/tmp/sub", "/tmp/sub/up"} <= paths, done.stdout
    assert_no_host_files(paths)
    assert not [p for p in paths if p.startswith(("/tmp/escape/", "/tmp/sub/up/"))], paths


def test_a_tmp_swapped_for_a_link_to_the_root_still_lists_the_environments_own_folder(code_dir: Path,
                                                                                       tmp_path: Path) -> None:
    """Without a mount namespace lambdatui runs in TMPDIR mode, where the function can reach its folder's path."""
    handler = write_file(code_dir / "handler.py", SWAP_TMP)
    scenario = write_file(code_dir / "swap.toml", '[[step]]\ninvoke = {}\nexpect = { response = { done = "swapped" } }\n')
    state = tmp_path / "state"

    done = run(state, "replay", str(handler), str(scenario), cwd=tmp_path, namespace=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "/tmp is not isolated" in done.stderr  # the mode this test is about
    paths = listed_paths(done.stdout)
    assert "/tmp/mine.txt" in paths, done.stdout  # the folder the environment was given, wherever it went
    assert_no_host_files(paths)
    assert runs_left(state) == []  # the link was removed, never followed; the moved folder went with the run
    assert os.path.isdir("/etc") and os.path.isdir("/usr")


# ---------------------------------------------------------------------- 3. user text never drives the terminal

HOSTILE_OUTPUT = r'''import os
import sys
import tempfile


def handler(event, context):
    print("clear:\x1b[2J\x1b[31mred")
    print("cr:\x1b]0;title\x07 bell \x9b31m csi", file=sys.stderr)
    with open(os.path.join(tempfile.gettempdir(), "fake\n  PASSED all good\x1b[2J"), "w") as fh:
        fh.write("x")
    return {"ok": True}
'''

FORGED = "PASSED all good"


def assert_safe(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text, repr(text)
    for line in text.splitlines():
        assert not line.lstrip().startswith(FORGED), f"a forged line reached the terminal: {line!r}"


@pytest.mark.parametrize("verbose", [False, True], ids=["console", "verbose"])
def test_replay_shows_hostile_names_and_output_escaped_on_one_line(code_dir: Path, state: Path, verbose: bool) -> None:
    handler = write_file(code_dir / "handler.py", HOSTILE_OUTPUT)
    scenario = write_file(code_dir / "hostile.toml", "[[step]]\ninvoke = {}\nexpect = { response = { ok = true } }\n")

    done = run(state, "replay", str(handler), str(scenario), *(["--verbose"] if verbose else []))

    assert done.returncode == 0, done.stdout + done.stderr
    assert_safe(done.stdout)
    assert_safe(done.stderr)
    assert done.stdout.splitlines()[-1].startswith(f"PASSED {scenario}")
    assert r"/tmp/fake\n  PASSED all good\x1b[2J  new, 1 B" in done.stdout, done.stdout
    assert r"clear:\x1b[2J\x1b[31mred" in done.stdout + done.stderr


def test_invoke_shows_function_output_escaped(code_dir: Path, state: Path) -> None:
    handler = write_file(code_dir / "handler.py", HOSTILE_OUTPUT)

    done = run(state, "invoke", str(handler))

    assert done.returncode == 0, done.stderr
    assert_safe(done.stderr)
    lines = done.stderr.splitlines()
    assert r"[function]   clear:\x1b[2J\x1b[31mred" in lines, done.stderr
    assert any(line.startswith("[function]") and r"cr:\x1b]0;title\x07 bell \x9b31m csi" in line for line in lines)
