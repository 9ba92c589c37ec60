"""benchmarks/compare.py sets lambdatui against its previous release where a peer is missing (issue 9).

Run as a user runs it, with every count at its smallest: the previous release (the last commit before issue 9's
work) is extracted from this checkout's history and measured beside today's code, row by row, and its rows show
ratios without judging issue 9's targets, which are about RIE and python-lambda-local. What the run started is
gone when it ends, its scratch folder included.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"
COMMIT = re.search(r'^COMMIT = "([0-9a-f]{40})"', (BENCHMARKS / "previous_release.py").read_text(), re.M)[1]
SMALLEST = ["--rounds", "1", "--invokes", "20", "--resets", "1", "--commands", "1", "--soak-invokes", "100",
            "--lines", "100"]
ABSOLUTE = ("≤ 150 ms", "≥ 1,200/s", "flat, ±5 %")  # targets of lambdatui's own figures, judged whatever the peer


def _has_history() -> bool:
    try:
        return subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{COMMIT}^{{commit}}"],
                              capture_output=True, check=False).returncode == 0
    except FileNotFoundError:
        return False


def _scratch_folders(cache: Path) -> set[str]:
    return {p.name for p in cache.glob("lambdatui-compare-*")} if cache.is_dir() else set()


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(int(entry))
    return found


@pytest.mark.timeout(240)
@pytest.mark.skipif(not _has_history(), reason=f"needs this checkout's git history (commit {COMMIT[:7]})")
def test_the_previous_release_stands_in_for_the_peers_and_is_measured_row_by_row() -> None:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    before = _scratch_folders(cache)
    env = {k: v for k, v in os.environ.items() if k not in ("RIE_BIN", "PYTHON_LAMBDA_LOCAL")}
    done = subprocess.run([sys.executable, str(BENCHMARKS / "compare.py"), "--against-previous", "--json",
                           *SMALLEST], cwd=REPO, env=env, capture_output=True, text=True, timeout=220)
    assert done.returncode == 0, done.stderr[-2000:]

    label = f"lambdatui {COMMIT[:7]}"
    rows = {cells[0]: cells[1:] for line in done.stdout.splitlines() if line.startswith("| ")
            for cells in [[cell.strip() for cell in line.strip("|").split("|")]]}
    figures = [figure for figure in rows if figure != "figure"]
    assert len(figures) == 13, list(rows)
    # 07b9fb1 gave a custom runtime its own /tmp: with this interpreter under /tmp (a checkout there), its
    # awslambdaric runtime could not start, and the table says so instead of stopping.
    ric_hidden = Path(os.path.abspath(sys.executable)).is_relative_to("/tmp")  # the venv, not its target
    for figure in figures:
        ours, peer, ratio, target = rows[figure]
        if ric_hidden and ("awslambdaric under both" in figure or "first environment" in figure):
            assert (peer, ratio) == (f"{label}: —", "—"), (figure, peer, ratio)
        else:
            assert peer.startswith(label + " "), (figure, peer)  # its own figure, not "not available"
            assert re.fullmatch(r"\d+\.\d\d×( \(\d+\.\d\d-\d+\.\d\d\))?", ratio), (figure, ratio)
        if target and not target.startswith(ABSOLUTE):  # about RIE or python-lambda-local: not for this peer
            assert target.endswith(": not judged"), (figure, target)
    assert rows["warm invoke p99"][3] == "≤ 1.5× RIE: not judged"
    assert f"({label}: lambdatui's previous release" in done.stdout
    assert (f"({label} (awslambdaric) failed, so its rows are empty" in done.stdout) == ric_hidden

    samples = json.loads(done.stdout.splitlines()[-1])
    assert samples["previous"]["warm_p50_ms"] and samples[label]["command_ms"] and samples["previous"]["throughput"]
    assert bool(samples["previous+ric"]["reset_cold_ms"]) != ric_hidden

    assert _scratch_folders(cache) == before
    assert _processes_mentioning("previous-release") == []


def test_a_ratio_carries_the_middle_half_of_its_paired_samples_ratios() -> None:
    """The n-th samples of both sides ran back to back: their ratios' first and third quartiles go beside the ratio
    of the medians, and no spread is made up from fewer than three pairs or from samples that do not pair."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from compare_table import Row, render
    finally:
        sys.path.remove(str(BENCHMARKS))
    paired = Row("warm", 1.0, 2.0, "RIE", "≤ 1.0× RIE", limit=1.0,
                 samples=([1.0, 1.1, 0.9, 1.0, 1.2], [2.0, 2.0, 1.0, 2.0, 2.0]))
    assert paired.spread() == (0.5, 0.6)  # ratios 0.5 0.55 0.9 0.5 0.6; sorted 0.5 0.5 0.55 0.6 0.9
    assert Row("two", 1.0, 2.0, "RIE", samples=([1.0, 1.0], [2.0, 2.0])).spread() is None
    assert Row("unpaired", 1.0, 2.0, "RIE", samples=([1.0, 1.0, 1.0], [2.0, 2.0])).spread() is None
    table = render([paired], {})
    assert "| 0.50× (0.50-0.60) | ≤ 1.0× RIE ✓ |" in table
    assert "the middle half of the ratios of samples taken back to back" in table
