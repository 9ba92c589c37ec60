"""`remove_stale_runs`: a run folder left by a lambdatui that died never stops the next start (issue 8)."""

from __future__ import annotations

import os
from pathlib import Path

import lambdatui.run_folders as run_folders
import lambdatui.runner as runner
from lambdatui.processes import tree_removal


def _nest(folder: Path, depth: int) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)


def test_a_stale_run_that_cannot_be_removed_is_reported_once_and_skipped(tmp_path: Path, monkeypatch) -> None:
    dead = "999999999"  # above pid_max: no such process
    stuck = tmp_path / f"run-{dead}-0000aaaa"
    deep = tmp_path / f"run-{dead}-0000bbbb"
    alive = tmp_path / f"run-{os.getpid()}-0000cccc"
    for folder in (stuck, deep, alive):
        (folder / "environment-1" / "tmp").mkdir(parents=True)
    _nest(deep / "environment-1" / "tmp", 1_500)  # beyond the recursion limit: shutil.rmtree raised here

    real = tree_removal.remove_tree_reporting

    def failing_for_stuck(path):
        return f"could not remove all of {path}: {path}/x: Operation not permitted" if Path(path) == stuck else real(path)

    monkeypatch.setattr(run_folders, "remove_tree_reporting", failing_for_stuck)
    said: list[str] = []
    run_folders.remove_stale_runs(tmp_path, said.append)

    assert said == [f"skipped a stale run folder: could not remove all of {stuck}: {stuck}/x: Operation not permitted"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([stuck.name, alive.name])


def test_lambdatuis_own_report_is_one_escaped_line_on_stderr(tmp_path: Path, monkeypatch, capsys) -> None:
    stale = tmp_path / "run-999999999-0000dddd"
    stale.mkdir()
    monkeypatch.setattr(run_folders, "remove_tree_reporting", lambda path: f"could not remove {path}/\x1b[2Jx\ny")
    run_folders.remove_stale_runs(tmp_path, runner._say)  # what `replay`, with no listener, says
    err = capsys.readouterr().err
    assert err == f"lambdatui: skipped a stale run folder: could not remove {stale}/\\x1b[2Jx\\ny\n"


async def _open_and_read_logs(config) -> list:
    async with runner.open_environment(config, inspect=True) as running:
        return list(running.session.snapshot().logs)


def test_the_debugger_shows_a_skipped_stale_run_in_its_log(code_dir: Path, monkeypatch, capsys) -> None:
    """The TUI draws on stderr: the line must also reach the log view, which the session's early lines feed."""
    import trio

    from lambdatui.config import resolve_function
    from lambdatui.model import facts as f

    state = code_dir / "state"
    stale = state / "lambdatui" / "run-999999999-0000eeee"
    stale.mkdir(parents=True)
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setattr(run_folders, "remove_tree_reporting",
                        lambda path: f"could not remove all of {path}: busy" if Path(path) == stale else None)
    handler = code_dir / "handler.py"
    handler.write_text("def handler(event, context):\n    return 1\n")

    logs = trio.run(_open_and_read_logs, resolve_function(str(handler)))

    expected = f"skipped a stale run folder: could not remove all of {stale}: busy"
    # By its start: the paths in other notes (a shared /tmp's) hold this test's name, "stale" included.
    stale_lines = [line.text for line in logs if line.source == f.LAMBDATUI and line.text.startswith("skipped a stale")]
    assert stale_lines == [expected]
    assert capsys.readouterr().err.count(expected) == 1
