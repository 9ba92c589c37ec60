"""A streamed response recorded with `invoke --record` and replayed: the same outcome, named as a stream's."""

from __future__ import annotations

from pathlib import Path

from scenario_support import SAMPLES, run_cli

STREAM = str(SAMPLES / "stream" / "bootstrap")


def test_a_stream_that_fails_midway_replays_as_the_same_error(code_dir: Path) -> None:
    recording = code_dir / "failed.toml"
    invoked = run_cli("invoke", STREAM, "-e", '{"chunks": 4, "pause_ms": 1, "fail_after": 2}',
                      "--record", str(recording))
    assert invoked.returncode == 1, invoked.stdout + invoked.stderr
    assert '"errorType": "StreamFailed"' in invoked.stdout
    assert "error_type = 'StreamFailed'" in recording.read_text()

    replayed = run_cli("replay", STREAM, str(recording))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    # Not "/error": the runtime never called it, its trailers declared the error after two chunks.
    assert ("  outcome    ERROR StreamFailed: the function's streamed response ended in an error"
            in replayed.stdout), replayed.stdout
    assert replayed.stdout.splitlines()[-1].startswith(f"PASSED {recording}")


def test_a_whole_stream_replays_as_a_success(code_dir: Path) -> None:
    recording = code_dir / "whole.toml"
    invoked = run_cli("invoke", STREAM, "-e", '{"chunks": 3, "pause_ms": 1}', "--record", str(recording))
    assert invoked.returncode == 0, invoked.stdout + invoked.stderr
    assert invoked.stdout == "chunk 0\nchunk 1\nchunk 2\n\n"  # the whole text, as a buffered caller gets it

    replayed = run_cli("replay", STREAM, str(recording))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "  outcome    success" in replayed.stdout
