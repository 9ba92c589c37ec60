"""compare.py's figures, and the table it prints of them: each figure, the peer's, their ratio and issue 9's target."""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figures:
    start_ms: list[float] = field(default_factory=list)
    first_env_ms: list[float] = field(default_factory=list)
    reset_cold_ms: list[float] = field(default_factory=list)
    reset_invoke_ms: list[float] = field(default_factory=list)
    reset_crash_ms: list[float] = field(default_factory=list)
    warm_p50_ms: list[float] = field(default_factory=list)
    warm_p99_ms: list[float] = field(default_factory=list)
    lines_ms: list[float] = field(default_factory=list)
    throughput: float | None = None
    rss_mb: tuple[float, float] | None = None
    command_ms: list[float] = field(default_factory=list)


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


_DRAWS = 2000  # a bootstrap's redraws of the rounds


@dataclass
class Row:
    figure: str
    ours: Any
    theirs: Any
    peer: str
    target: str = ""
    show: Callable[[Any], str] = ms
    limit: float | None = None  # the target, when it is a ratio: ours / theirs at most
    size: Callable[[Any], float] = float  # what the ratio compares
    # Each side's samples, in the order they were taken: the n-th of each side ran back to back (a round's launches,
    # an alternated pair of commands), so `spread` redraws them together.
    samples: tuple[list[float], list[float]] | None = None

    def ratio(self) -> float | None:
        if self.ours is None or self.theirs is None or not self.size(self.theirs):
            return None
        return self.size(self.ours) / self.size(self.theirs)

    def spread(self) -> tuple[float, float] | None:
        """Where 80 % of the ratio's values fall when the pairs of samples are drawn again (a bootstrap, each pair
        kept together, the same draws every run); None without three pairs."""
        if self.samples is None:
            return None
        ours, theirs = self.samples
        if len(ours) != len(theirs) or len(ours) < 3 or not all(theirs):
            return None
        draws, pairs = random.Random(9), range(len(ours))
        values = []
        for _ in range(_DRAWS):
            picked = [draws.choice(pairs) for _ in pairs]
            values.append(statistics.median(ours[i] for i in picked) / statistics.median(theirs[i] for i in picked))
        values.sort()
        return values[_DRAWS // 10], values[_DRAWS * 9 // 10]


def render(rows: list[Row], peer_missing: dict[str, str]) -> str:
    table = [("figure", "lambdatui", "peer", "ratio", "target")]
    spreads = [row.spread() for row in rows]
    for row, spread in zip(rows, spreads):
        if row.theirs is None:
            peer = f"{row.peer}: {'not available' if row.peer in peer_missing else '—'}"
        else:
            peer = f"{row.peer} {row.show(row.theirs)}"
        ratio = row.ratio()
        target = row.target
        if row.limit is not None and ratio is not None:
            target += " ✓" if ratio <= row.limit else " ✗"
        shown = "—" if ratio is None else f"{ratio:.2f}×" + (f" ({spread[0]:.2f}-{spread[1]:.2f})" if spread else "")
        table.append((row.figure, row.show(row.ours), peer, shown, target))
    widths = [max(len(line[i]) for line in table) for i in range(5)]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths)) + " |" for line in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    notes = sorted(set(peer_missing.values()))
    if any(spreads):
        notes.insert(0, "ratio (a-b): the ratio of the medians; in brackets, where 80 % of its values fall when the "
                        "rounds are drawn again (a bootstrap: the n-th launch, reset or command of each side, taken "
                        "back to back, kept together). Where that straddles a target's line, the VM's spells decide "
                        "the ✓ or ✗")
    return "\n".join(lines + [f"({note})" for note in notes])


def per_second(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}/s"


def rss(value: tuple[float, float] | None) -> str:
    if value is None:
        return "—"
    start, end = value
    return f"{start:.1f} → {end:.1f} MB ({(end - start) / start * 100:+.1f} %)"


@dataclass
class Peer:
    """What lambdatui's figures are set against: a peer (RIE, python-lambda-local), whose rows issue 9's targets
    judge, or the previous release in its place (its ratios show the change; the targets are not about it)."""

    label: str
    own: Figures  # with its own runtime (RIE has none: awslambdaric)
    ric: Figures | None = None  # with awslambdaric; None: the same run as `own`
    judged: bool = True

    @property
    def with_ric(self) -> Figures:
        return self.own if self.ric is None else self.ric


def table_rows(args: argparse.Namespace, us: Figures, ric: Figures, peer: Peer, command_peer: Peer) -> list[Row]:
    m = median
    runs = f"{args.invokes:,} invokes × {args.rounds} launches"
    own, with_ric = peer.own, peer.with_ric

    def row(figure: str, ours: list[float], theirs: list[float], against: Peer = peer, goal: str = "",
            at_most: float | None = None, expected: int | None = None) -> Row:
        """A figure of both sides; `goal`, at most `at_most` × the peer's, is judged only against a peer. `expected`:
        how many samples each side takes where one may be missing (its spawn not stamped): only then do the n-th
        samples of both sides pair."""
        if goal and not against.judged:
            goal, at_most = f"{goal}: not judged", None
        pair = expected is None or len(ours) == len(theirs) == expected
        return Row(figure, m(ours), m(theirs), against.label, goal, limit=at_most,
                   samples=(ours, theirs) if pair else None)

    rie = peer.label == "RIE"

    start_ok = us.start_ms and m(us.start_ms) <= 150
    rss_ok = us.rss_mb and abs(us.rss_mb[1] / us.rss_mb[0] - 1) <= 0.05
    return [
        row(f"warm invoke p50 via serve ({runs}, median)", us.warm_p50_ms, own.warm_p50_ms,
            goal="≤ 1.0× RIE", at_most=1.0),
        row("warm invoke p99", us.warm_p99_ms, own.warm_p99_ms, goal="≤ 1.5× RIE", at_most=1.5),
        row("warm invoke p50, awslambdaric under both", ric.warm_p50_ms, with_ric.warm_p50_ms,
            goal="≤ 1.0× RIE", at_most=1.0),
        row("warm invoke p99, awslambdaric under both", ric.warm_p99_ms, with_ric.warm_p99_ms,
            goal="≤ 1.5× RIE", at_most=1.5),
        row(f"environment cold start after a crash: runtime spawn → response (awslambdaric under both, "
            f"{args.resets} pairs, both up, alternating)", ric.reset_cold_ms, with_ric.reset_cold_ms,
            goal="≤ 1.0× RIE", at_most=1.0, expected=args.resets),
        row("the same cold starts as their caller waits: invoke → response (the spawn included, awslambdaric under "
            "both)", ric.reset_invoke_ms, with_ric.reset_invoke_ms, expected=args.resets),
        row("the invokes that crashed: invoke → their error (the runtime's exit, the environment reset; awslambdaric "
            "under both)", ric.reset_crash_ms, with_ric.reset_crash_ms, expected=args.resets),
        row("first environment: runtime spawn → first response (lambdatui spawns at start"
            f"{', RIE on the invoke' if rie else ''})", ric.first_env_ms, with_ric.first_env_ms, expected=args.rounds),
        Row(f"serve process start → first response{' (RIE: process start, awslambdaric)' if rie else ''}",
            m(us.start_ms), m(own.start_ms), peer.label, "≤ 150 ms" + (" ✓" if start_ok else " ✗"),
            samples=(us.start_ms, own.start_ms)),
        row("serve process start → first response, awslambdaric under both", ric.start_ms, with_ric.start_ms),
        row(f"`lambdatui invoke hello -e '{{}}'`, whole command (median of {args.commands}, alternating)",
            us.command_ms, command_peer.own.command_ms, command_peer, goal="≤ 1.0× python-lambda-local",
            at_most=1.0),
        row(f"one invoke printing {args.lines:,} lines, headless (warm)", us.lines_ms, own.lines_ms,
            goal="≤ 1.2× RIE", at_most=1.2),
        row(f"one invoke printing {args.lines:,} lines, awslambdaric under both", ric.lines_ms, with_ric.lines_ms,
            goal="≤ 1.2× RIE", at_most=1.2),
        Row(f"sequential throughput, one client, {args.soak_invokes:,} invokes (higher is better)", us.throughput,
            own.throughput, peer.label, "≥ 1,200/s" + (" ✓" if (us.throughput or 0) >= 1200 else " ✗"),
            show=per_second),
        Row(f"host RSS after the first invoke → after {args.soak_invokes:,} more (ratio: at the end)", us.rss_mb,
            own.rss_mb, peer.label, "flat, ±5 %" + (" ✓" if rss_ok else " ✗"), show=rss,
            size=lambda value: value[1]),
    ]
