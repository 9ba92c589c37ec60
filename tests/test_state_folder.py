"""Where runs keep their folders when the user has no writable home: a private folder of the user's own, never one
that someone else made, and a sandbox that does not hide the runtime's stack and exit files under a private /tmp."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import lambdatui.run_folders as run_folders
from lambdatui.config_error import ConfigError

REPO = Path(__file__).resolve().parents[1]
UNWRITABLE = "/proc/no-such-folder"  # not even root can make a folder there


def test_without_a_writable_home_the_runs_go_to_a_private_folder_of_the_users_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", UNWRITABLE)
    shared = tmp_path / "var-tmp"
    shared.mkdir(mode=0o777)
    monkeypatch.setattr(run_folders, "shared_folders", lambda: (str(shared), str(tmp_path / "tmp")))
    root = run_folders.state_root()
    assert root == shared / f"lambdatui-{os.getuid()}"
    assert root.is_dir() and root.stat().st_mode & 0o777 == 0o700
    assert run_folders.state_root() == root  # the next run finds it its own


def test_a_shared_folder_someone_else_could_change_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", UNWRITABLE)
    first, second = tmp_path / "var-tmp", tmp_path / "tmp"
    taken = first / f"lambdatui-{os.getuid()}"
    taken.mkdir(parents=True)
    second.mkdir()
    taken.chmod(0o1777)  # made ahead by anyone: whoever can write there could swap a run's folders
    monkeypatch.setattr(run_folders, "shared_folders", lambda: (str(first), str(second)))
    assert run_folders.state_root() == second / f"lambdatui-{os.getuid()}"  # the next candidate
    (second / f"lambdatui-{os.getuid()}").chmod(0o755)  # readable by others now: refused too
    with pytest.raises(ConfigError) as error:
        run_folders.state_root()
    message = str(error.value)
    assert message.startswith("no folder for lambdatui's runs") and message.endswith(
        "set XDG_STATE_HOME to a folder you can write to"), message
    assert f"{taken}: not a private folder of this user's (owner uid {os.getuid()}, mode 1777): remove it" in message


def test_runs_kept_under_tmp_are_seen_in_a_private_tmp_and_the_stack_dump_works() -> None:
    """A state folder under /tmp (XDG_STATE_HOME there, or the last fallback): a private /tmp alone would hide the
    runtime's stack and exit files, so the folder is seen again in it (the run's own folder writable), and said."""
    state = tempfile.mkdtemp(prefix="lambdatui-test-state-", dir="/tmp")
    try:
        done = subprocess.run([sys.executable, "-m", "lambdatui", "invoke", str(REPO / "sample_functions" / "hello"),
                               "-e", "{}"], cwd=REPO, env=dict(os.environ, XDG_STATE_HOME=state),
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        subprocess.run(["rm", "-rf", state], check=True)
    assert done.returncode == 0, done.stderr
    assert "cannot install the stack dump" not in done.stderr
    assert "/tmp is not isolated" not in done.stderr, done.stderr
    (note,) = [line for line in done.stderr.splitlines() if "/tmp is the environment's own, but the host's " in line]
    assert f" {state}" in note.split(": the processes need")[0], note  # among the folders seen (a clone's first)


# The CLI, with the shared folders it falls back on replaced by ones this test controls.
CLI_WITH_SHARED_FOLDERS = """
import sys
import lambdatui.run_folders as run_folders
folders = tuple(sys.argv[1:3])
run_folders.shared_folders = lambda: folders
del sys.argv[1:3]
from lambdatui.entry import main
sys.exit(main())
"""


@pytest.mark.parametrize("mode", [
    ("replay", "sample_functions/counter/handler.py", "sample_functions/counter/scenarios/crash_and_reset.toml"),
    ("sample_functions/counter/handler.py",),  # the debugger: refused before its screen opens
    ("invoke", "sample_functions/hello", "-e", "{}"),
    ("serve", "sample_functions/hello", "--port", "0"),
], ids=["replay", "debugger", "invoke", "serve"])
def test_with_no_folder_for_the_runs_every_mode_says_so_in_one_line(tmp_path: Path, mode: tuple[str, ...]) -> None:
    refused = []
    for name in ("var-tmp", "tmp"):
        folder = tmp_path / name / f"lambdatui-{os.getuid()}"
        folder.mkdir(parents=True, mode=0o755)  # open to others: refused
        refused.append(str(folder.parent))
    done = subprocess.run([sys.executable, "-c", CLI_WITH_SHARED_FOLDERS, *refused, *mode], cwd=REPO,
                          env=dict(os.environ, XDG_STATE_HOME=UNWRITABLE), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("lambdatui: no folder for lambdatui's runs (") and "Traceback" not in done.stderr, \
        done.stderr
    assert done.stderr.rstrip().endswith("set XDG_STATE_HOME to a folder you can write to") and done.stdout == ""


# Writes into the run's folder and its environment's, found through the state folder seen in its /tmp.
WRITES_INTO_THE_RUN = '''import glob, os


def attempt(folder):
    try:
        with open(os.path.join(folder, "written-by-the-function"), "w") as fh:
            fh.write("x")
        return True
    except OSError as exc:
        return exc.strerror


def handler(event, context):
    run = glob.glob(os.path.join(event["state"], "lambdatui", "run-*"))[0]
    member = glob.glob(os.path.join(run, "member-*"))[0]
    return {"member": member, "wrote": {"run": attempt(run), "member": attempt(member)}}
'''


def test_the_note_on_a_state_folder_under_tmp_says_what_the_function_can_write_there(tmp_path: Path) -> None:
    """The environment's own folder stays writable in the namespace (its runtime writes its stack dumps there), and
    only that one (the run's folder holds the other environments' /tmp). The note said the whole state folder was
    read-only: it names what is writable."""
    handler = tmp_path / "code" / "handler.py"
    handler.parent.mkdir()
    handler.write_text(WRITES_INTO_THE_RUN)
    state = tempfile.mkdtemp(prefix="lambdatui-test-state-", dir="/tmp")
    try:
        done = subprocess.run([sys.executable, "-m", "lambdatui", "invoke", str(handler), "-e",
                               json.dumps({"state": state})], cwd=REPO, env=dict(os.environ, XDG_STATE_HOME=state),
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        subprocess.run(["rm", "-rf", state], check=True)
    if "/tmp is not isolated" in done.stderr:
        pytest.skip("no private /tmp here")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    (note,) = [line for line in done.stderr.splitlines() if "/tmp is the environment's own, but the host's " in line]
    seen, needed = note.split(": the processes need")
    if "writable, as the root file system is" in seen:
        pytest.skip("the root file system is writable here")
    assert answer["wrote"] == {"run": "Read-only file system", "member": True}, answer
    assert seen.endswith(f"(read-only but {answer['member']}, where lambdatui's processes write)"), note
    assert "/lambdatui/run-" in needed, note  # why the state folder is seen


def test_a_start_writes_nothing_in_the_temporary_folder_to_find_it(tmp_path: Path) -> None:
    """tempfile finds its folder by writing a file there and removing it: asked only when the home is not writable."""
    script = "import tempfile, lambdatui.run_folders as r; r.state_root(); print(tempfile.tempdir)"
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"  # tempfile never looked
