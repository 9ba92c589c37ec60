"""Probe (round 4): `invoke --record FILE` with env #1 started early, then `replay FILE`: the replay passes, and the
recording is the one the reference (LAMBDATUI_EARLY_START=0) writes."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_probe4_support import MODES, run_one, start, finish, write  # noqa: E402

FUNCTIONS = {
    # Warm state (a global and /tmp) over two invokes, a crash at the third, then a fourth in the reset runtime (its
    # global from zero, /tmp kept). One recording for what a stateful case (three warm invokes) and a crash-every-
    # other case recorded apart: both the warm state and the reset are in it, with every result compared.
    "stateful_then_crash": ("import os, tempfile\nCOUNT = 0\n\ndef handler(event, context):\n    global COUNT\n"
                            "    COUNT += 1\n    path = os.path.join(tempfile.gettempdir(), 'alt')\n"
                            "    with open(path, 'a') as fh:\n        fh.write('x')\n"
                            "    if os.path.getsize(path) % 3 == 0:\n        os._exit(3)\n"
                            "    return {'count': COUNT, 'size': os.path.getsize(path), 'event': event}\n",
                            ["--repeat", "4"]),
    "init_error": ("raise RuntimeError('no init')\n\ndef handler(event, context):\n    return 1\n", []),
    "missing_wrapper": ("def handler(event, context):\n    return 1\n",
                        ["--env", "AWS_LAMBDA_EXEC_WRAPPER=/var/task/nowhere"]),
}


def _recording(path: Path) -> str:
    text = path.read_text().replace(path.name, "<recording>")
    return re.sub(r"\d+(\.\d+)?", "N", text)


@pytest.mark.parametrize("case", sorted(FUNCTIONS))
def test_record_then_replay(code_dir: Path, case: str) -> None:
    source, extra = FUNCTIONS[case]
    handler = write(code_dir / "handler.py", source)
    recordings = {}
    procs = {mode: start(mode, "invoke", str(handler), "-e", '{"a": 1}', "--record", str(code_dir / f"{mode}.toml"),
                         *extra) for mode in MODES}
    runs = {mode: finish(mode, proc) for mode, proc in procs.items()}
    for mode in MODES:
        assert "recorded" in runs[mode].stderr, (mode, runs[mode].stderr[-2000:])
        recordings[mode] = _recording(code_dir / f"{mode}.toml")
    assert recordings["early"] == recordings["late"], recordings
    replay = run_one("early", "replay", str(handler), str(code_dir / "early.toml"))
    assert replay.code == 0, replay.stdout[-3000:] + replay.stderr[-2000:]
