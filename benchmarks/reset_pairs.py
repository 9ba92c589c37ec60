"""compare.py's cold start after a crash, taken in pairs: both hosts up at once, their resets alternating.

Taken launch by launch, the figure moved with the VM's spells by more than the two hosts differ: in one run, the
launches' medians went from 32 to 45 ms on either side, while both ran the same program (awslambdaric starting
behind the same wrapper). Here the two servers run side by side (the idle one waits on its sockets, costing the
other nothing) and each pair is one reset of each, back to back, the order alternating: a spell weighs on both
halves of a pair alike, and the bootstrap of compare_table.Row keeps the pairs together.

A reset: the handler exits the process (`os._exit`) in one invoke, and the next invoke re-initialises the
environment on demand, in both hosts. Its spawn is stamped by the runtime's wrapper (`date +%s%N`, on a datagram
to this benchmark: spawn_stamps.py says why not on stderr), its response by this client, on the same clock.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

from compare_table import Figures
from harness import connect, free_port, invoke, post
from peer_processes import Processes
from spawn_stamps import SpawnStamps

WARM_INVOKES = 20  # each server's first invokes and one reset, unmeasured: no side pays for a cold page cache


class Side(Protocol):
    key: str
    label: str

    def argv(self, port: int) -> list[str]: ...

    @property
    def cwd(self) -> Path: ...


class _Server:
    def __init__(self, procs: Processes, side: Side, port: int, log: Path, stamps: SpawnStamps) -> None:
        self.side, self.stamps = side, stamps
        self.proc = procs.start(side.argv(port), side.cwd, log)
        self.conn = connect(port, time.monotonic() + 30, what=side.label)

    def reset(self) -> tuple[float, float, float] | None:
        """One crash, then the cold start it causes, in ms: the runtime's spawn → the response, the invoke → the
        response as its caller waits (the spawn included), and the crashing invoke → its error; None when the spawn
        was not stamped."""
        crashed = time.time_ns()
        status, function_error, body = post(self.conn, b'{"crash": true}')
        errored = time.time_ns()
        if status == 200 and not function_error:
            raise SystemExit(f"{self.side.label}: the crashing invoke succeeded: {body[:200]!r}")
        self.stamps.take()  # none is expected: a runtime that started on its own would be counted in
        sent = time.time_ns()
        invoke(self.conn)
        answered = time.time_ns()
        stamps = self.stamps.take()  # sent before the runtime's exec, so in the socket long before the response
        if len(stamps) != 1:
            return None
        return (answered - stamps[0]) / 1e6, (answered - sent) / 1e6, (errored - crashed) / 1e6


def measure_pairs(procs: Processes, ours: Side, theirs: Side, figures: dict[str, Figures], pairs: int,
                  logs: Path, stamps: SpawnStamps) -> None:
    """`pairs` resets of each side, back to back; only whole pairs are kept (each side's `reset_cold_ms`,
    `reset_invoke_ms` and `reset_crash_ms`)."""
    servers: list[_Server] = []
    try:
        for side in (ours, theirs):
            servers.append(_Server(procs, side, free_port(), logs / f"{side.key}-pairs.log", stamps))
        for server in servers:
            for _ in range(WARM_INVOKES):
                invoke(server.conn)
            server.reset()
        for n in range(pairs):
            taken = {server.side.key: server.reset() for server in (servers if n % 2 == 0 else servers[::-1])}
            if None not in taken.values():
                for key, (from_spawn, from_invoke, crash) in taken.items():  # type: ignore[misc]
                    figures[key].reset_cold_ms.append(from_spawn)
                    figures[key].reset_invoke_ms.append(from_invoke)
                    figures[key].reset_crash_ms.append(crash)
    finally:
        for server in servers:
            server.conn.close()
            procs.stop(server.proc)
