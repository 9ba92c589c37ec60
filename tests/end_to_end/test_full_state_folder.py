"""A full disk under the state folder, where each run keeps its environments' folders: env #1 cannot start, and
lambdatui says so in one line (exit 2, as for a usage error), in every headless mode, leaving nothing behind.
Before, the EnvironmentUnavailable raised for env #1 came out as a traceback of nested exception groups.

The full disk is a small tmpfs, filled: only where this test may mount one (root); skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from e2e_support import SAMPLES, run_cli

HANDLER = str(SAMPLES / "hello" / "handler.py")


@pytest.fixture
def full_state_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "state"
    folder.mkdir()
    mount = shutil.which("mount")
    if os.geteuid() != 0 or mount is None:
        pytest.skip("mounting a small tmpfs needs root")
    if subprocess.run([mount, "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("no tmpfs can be mounted here")
    try:
        (folder / "lambdatui").mkdir()  # the runs' folder exists; a run's folders in it find no room
        filler = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(filler, b"x" * 4096):
                pass
        except OSError:
            pass  # full
        finally:
            os.close(filler)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.parametrize("args", [["invoke", HANDLER, "-e", "{}"], ["serve", HANDLER, "--port", "0"],
                                  ["invoke", HANDLER, "--snapstart"]], ids=["invoke", "serve", "snapstart"])
def test_a_full_state_folder_is_said_in_one_line(full_state_folder: Path, monkeypatch: pytest.MonkeyPatch,
                                                 args: list[str]) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(full_state_folder))
    result = run_cli(*args, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("lambdatui: no new environment could be started: No space left on device"), last
    assert str(full_state_folder / "lambdatui") in last, last
    assert sorted(p.name for p in (full_state_folder / "lambdatui").iterdir()) == []
