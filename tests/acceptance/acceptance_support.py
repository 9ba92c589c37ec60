"""Small black-box helpers: the real CLI as a subprocess, a served Invoke API, generated code.

Every wait is on the thing it means (a process exit, a line on a pipe, an HTTP answer) and is bounded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_functions"


def cli_argv() -> list[str]:
    script = Path(sys.executable).with_name("lambdatui")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "lambdatui"]


def cli(*args: str, timeout: float = 60, input: Optional[str] = None, cwd: Optional[Path] = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_argv(), *map(str, args)],
        cwd=str(cwd or REPO),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",  # a function may print bytes that are not UTF-8; that must not break the harness
        timeout=timeout,
    )


def write(path: Path, text: str, *, executable: bool = False, dedent: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text) if dedent else text)
    path.chmod(0o755 if executable else 0o644)
    return path


def platform(stderr: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^\[platform\]\s+(.*)$", stderr, re.M)]


def reports(stderr: str) -> list[str]:
    return [line for line in platform(stderr) if line.startswith("REPORT ")]


def report_field(line: str, name: str) -> Optional[float]:
    match = re.search(rf"{name}: ([0-9.]+) ms", line)
    return float(match.group(1)) if match else None


def outcomes(replay_stdout: str) -> list[str]:
    """Each invoke's outcome line, in order; with more than one environment each line starts with its `#N`."""
    return [m.group(1).strip() for m in re.finditer(r"^\s*(?:#\d+\s+)?outcome\s+(.*)$", replay_stdout, re.M)]


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], *names: str) -> str:
    detail = f"rc={result.returncode}\nstdout={result.stdout!r}\nstderr={result.stderr!r}"
    assert result.returncode == 2, detail
    assert "Traceback" not in result.stderr, detail
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, detail
    for name in names:
        assert name in lines[0], detail
    return lines[0]
