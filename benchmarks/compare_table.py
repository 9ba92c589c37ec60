"""compare.py's figures, and the table it prints of them: each figure, the peer's, their ratio and issue 9's target."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figures:
    start_ms: list[float] = field(default_factory=list)
    first_env_ms: list[float] = field(default_factory=list)
    reset_cold_ms: list[float] = field(default_factory=list)
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

    def ratio(self) -> float | None:
        if self.ours is None or self.theirs is None or not self.size(self.theirs):
            return None
        return self.size(self.ours) / self.size(self.theirs)


def render(rows: list[Row], peer_missing: dict[str, str]) -> str:
    table = [("figure", "lambdatui", "peer", "ratio", "target")]
    for row in rows:
        if row.theirs is None:
            peer = f"{row.peer}: {'not available' if row.peer in peer_missing else '—'}"
        else:
            peer = f"{row.peer} {row.show(row.theirs)}"
        ratio = row.ratio()
        target = row.target
        if row.limit is not None and ratio is not None:
            target += " ✓" if ratio <= row.limit else " ✗"
        table.append((row.figure, row.show(row.ours), peer, "—" if ratio is None else f"{ratio:.2f}×", target))
    widths = [max(len(line[i]) for line in table) for i in range(5)]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths)) + " |" for line in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    notes = sorted(set(peer_missing.values()))
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

    def target(text: str, against: Peer = peer) -> str:
        return text if against.judged else f"{text}: not judged"

    def limit(value: float, against: Peer = peer) -> float | None:
        return value if against.judged else None

    start_ok = us.start_ms and m(us.start_ms) <= 150
    rss_ok = us.rss_mb and abs(us.rss_mb[1] / us.rss_mb[0] - 1) <= 0.05
    return [
        Row(f"warm invoke p50 via serve ({runs}, median)", m(us.warm_p50_ms), m(own.warm_p50_ms), peer.label,
            target("≤ 1.0× RIE"), limit=limit(1.0)),
        Row("warm invoke p99", m(us.warm_p99_ms), m(own.warm_p99_ms), peer.label, target("≤ 1.5× RIE"),
            limit=limit(1.5)),
        Row("warm invoke p50, awslambdaric under both", m(ric.warm_p50_ms), m(with_ric.warm_p50_ms), peer.label,
            target("≤ 1.0× RIE"), limit=limit(1.0)),
        Row("warm invoke p99, awslambdaric under both", m(ric.warm_p99_ms), m(with_ric.warm_p99_ms), peer.label,
            target("≤ 1.5× RIE"), limit=limit(1.5)),
        Row(f"environment cold start after a crash: runtime spawn → response (awslambdaric under both, "
            f"{args.resets} × {args.rounds})", m(ric.reset_cold_ms), m(with_ric.reset_cold_ms), peer.label,
            target("≤ 1.0× RIE"), limit=limit(1.0)),
        Row("first environment: runtime spawn → first response (lambdatui spawns at start, RIE on the invoke)",
            m(ric.first_env_ms), m(with_ric.first_env_ms), peer.label),
        Row("serve process start → first response (RIE: process start, awslambdaric)", m(us.start_ms),
            m(own.start_ms), peer.label, "≤ 150 ms" + (" ✓" if start_ok else " ✗")),
        Row("serve process start → first response, awslambdaric under both", m(ric.start_ms),
            m(with_ric.start_ms), peer.label),
        Row(f"`lambdatui invoke hello -e '{{}}'`, whole command (median of {args.commands}, alternating)",
            m(us.command_ms), m(command_peer.own.command_ms), command_peer.label,
            target("≤ 1.0× python-lambda-local", command_peer), limit=limit(1.0, command_peer)),
        Row(f"one invoke printing {args.lines:,} lines, headless (warm)", m(us.lines_ms), m(own.lines_ms),
            peer.label, target("≤ 1.2× RIE"), limit=limit(1.2)),
        Row(f"one invoke printing {args.lines:,} lines, awslambdaric under both", m(ric.lines_ms),
            m(with_ric.lines_ms), peer.label, target("≤ 1.2× RIE"), limit=limit(1.2)),
        Row(f"sequential throughput, one client, {args.soak_invokes:,} invokes (higher is better)", us.throughput,
            own.throughput, peer.label, "≥ 1,200/s" + (" ✓" if (us.throughput or 0) >= 1200 else " ✗"),
            show=per_second),
        Row(f"host RSS after the first invoke → after {args.soak_invokes:,} more (ratio: at the end)", us.rss_mb,
            own.rss_mb, peer.label, "flat, ±5 %" + (" ✓" if rss_ok else " ✗"), show=rss,
            size=lambda value: value[1]),
    ]
