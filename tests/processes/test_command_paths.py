"""Which words of a runtime's command line name paths of the host's (the sandbox keeps those in sight)."""

from __future__ import annotations

import shutil
from pathlib import Path

from lambdatui.processes.command_paths import command_paths


def write_file(path: Path) -> Path:
    path.write_text("")
    return path


def test_only_what_names_a_path_is_one(tmp_path: Path) -> None:
    script = write_file(tmp_path / "rt.py")
    assert command_paths(["sh", "-u", "relative.py", str(script), str(tmp_path / "missing")]) == [
        shutil.which("sh"), str(script)]
    assert command_paths(["./bootstrap"]) == ["./bootstrap"] and command_paths([]) == []
    assert command_paths(["no-such-program-anywhere"]) == []
