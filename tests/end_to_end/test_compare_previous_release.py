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
sys.path.insert(0, str(BENCHMARKS))
try:
    from compare_table import Row, render
    from previous_release import COMMIT, unavailable
finally:
    sys.path.remove(str(BENCHMARKS))
WHY_NOT = unavailable()  # "" where this checkout's history has the previous release
SMALLEST = ["--rounds", "1", "--invokes", "20", "--resets", "1", "--commands", "1", "--soak-invokes", "100",
            "--lines", "100"]
ABSOLUTE = ("≤ 150 ms", "≥ 1,200/s", "flat, ±5 %")  # targets of lambdatui's own figures, judged whatever the peer


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
@pytest.mark.skipif(bool(WHY_NOT), reason=f"the previous release is not available: {WHY_NOT}")
def test_the_previous_release_stands_in_for_the_peers_and_is_measured_row_by_row() -> None:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    before, running = _scratch_folders(cache), set(_processes_mentioning("previous-release"))
    env = {k: v for k, v in os.environ.items() if k not in ("RIE_BIN", "PYTHON_LAMBDA_LOCAL")}
    done = subprocess.run([sys.executable, str(BENCHMARKS / "compare.py"), "--against-previous", "--json",
                           *SMALLEST], cwd=REPO, env=env, capture_output=True, text=True, timeout=220)
    assert done.returncode == 0, done.stderr[-2000:]

    label = f"lambdatui {COMMIT[:7]}"
    rows = {cells[0]: cells[1:] for line in done.stdout.splitlines() if line.startswith("| ")
            for cells in [[cell.strip() for cell in line.strip("|").split("|")]]}
    figures = [figure for figure in rows if figure != "figure"]
    assert len(figures) == 15, list(rows)
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
    if not ric_hidden:  # taken in pairs: as many on each side, from the spawn and from the invoke
        for figure in ("reset_cold_ms", "reset_invoke_ms"):
            assert len(samples["lambdatui+ric"][figure]) == len(samples["previous+ric"][figure]) == 1

    assert _scratch_folders(cache) - before == set()  # another run's may come and go meanwhile
    assert set(_processes_mentioning("previous-release")) - running == set()


def test_a_ratio_carries_where_its_value_falls_when_the_rounds_are_drawn_again() -> None:
    """The n-th samples of both sides ran back to back: redrawn together (a bootstrap), the ratio of the medians
    falls within the bracket 80 % of the time; the same draws every run, and no bracket from fewer than three pairs
    or from samples that do not pair."""
    samples = ([1.0, 1.1, 0.9, 1.0, 1.2, 1.3, 0.8], [2.0, 2.0, 1.0, 2.0, 2.0, 2.6, 2.0])
    paired = Row("warm", 1.0, 2.0, "RIE", "≤ 1.0× RIE", limit=1.0, samples=samples)
    low, high = paired.spread()
    assert low <= paired.ratio() <= high and low < high
    assert paired.spread() == Row("again", 1.0, 2.0, "RIE", samples=samples).spread()
    steady = Row("steady", 1.0, 2.0, "RIE", samples=([1.0, 3.0, 2.0, 5.0], [2.0, 6.0, 4.0, 10.0]))
    assert steady.spread() == (0.5, 0.5)  # every pair's ratio is 0.5, so is every redrawn one's
    assert Row("two", 1.0, 2.0, "RIE", samples=([1.0, 1.0], [2.0, 2.0])).spread() is None
    assert Row("unpaired", 1.0, 2.0, "RIE", samples=([1.0, 1.0, 1.0], [2.0, 2.0])).spread() is None
    table = render([paired], {})
    assert f"| 0.50× ({low:.2f}-{high:.2f}) | ≤ 1.0× RIE ✓ |" in table
    assert "where 80 % of its values fall when the rounds are drawn again" in table
