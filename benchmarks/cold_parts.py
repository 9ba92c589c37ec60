"""Where a cold start's time goes, lambdatui against RIE: the cold start after a crash, split into its parts.

    RIE_BIN=/path/to/aws-lambda-rie python benchmarks/cold_parts.py [--pairs 60] [--packets]

The same resets as compare.py's judged row (reset_pairs.py: both servers up, their resets alternating, awslambdaric
under both), with the runtime stamping its own progress on the host's clock: its wrapper at the spawn, then a
launcher (written into the function's folder, run by the same interpreter) as the interpreter starts, once
awslambdaric is imported, as the first `next()` is called and as it returns. The client stamps the response. The
stamps reach this script on datagrams that neither host reads (spawn_stamps.py says why).

With --packets (root: a packet socket on loopback, Linux), the first `next()` is split further on the wire: the
runtime's connect (its SYN), its request, and the host's event, as the kernel stamps the packets. The host's part,
request → event, is what each host does with the runtime's first /next: its wake-up, the connection's accept, the
end of Init and the event. The capture's thread costs both sides alike.

Prints, for each part, the median of each side and their difference. Scratch files go under ~/.cache and are removed.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

from compare import HANDLER, lambdatui_command
from harness import connect, free_port, invoke, post
from peer_processes import Processes
from spawn_stamps import SpawnStamps

from lambdatui.processes.linux import SO_TIMESTAMPNS

# Runs awslambdaric as `python -m awslambdaric` does, stamping its own progress on a datagram. Its socket is made
# first, with `_socket` (the C module: `socket` would import enum and selectors), so that only the interpreter's
# start, never a measured part after it, holds the ~1 ms of loading that module.
LAUNCHER = '''\
import _socket
stamps = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
import os, sys, time
started = time.time_ns()
sys.path[0] = os.getcwd()
import awslambdaric.__main__ as main
from awslambdaric import lambda_runtime_client as client
imported = time.time_ns()
first_next = client.LambdaRuntimeClient.wait_next_invocation

def stamped_next(self):
    client.LambdaRuntimeClient.wait_next_invocation = first_next
    called = time.time_ns()
    event = first_next(self)
    returned = time.time_ns()
    stamps.sendto(b"cold-parts %d %d %d %d %s" % (started, imported, called, returned,
                                                  os.environ["AWS_LAMBDA_RUNTIME_API"].encode()), ("127.0.0.1", PORT))
    return event

client.LambdaRuntimeClient.wait_next_invocation = stamped_next
main.main(sys.argv)
'''

_ETH_P_ALL = 0x0003
_PACKET_HOST = 0  # a packet as received: each loopback packet is seen once so, and once as sent

STAMPS = re.compile(rb"cold-parts (\d+) (\d+) (\d+) (\d+) [\d.]+:(\d+)$")
PARTS = ("runtime spawned → interpreter started", "→ awslambdaric imported", "→ first next() called",
         "→ next() returned (the event)", "→ response at the client", "spawn → response, whole")
WIRE = ("next() → its SYN", "SYN → its request", "request → the event (the host's part)", "event → next() returned")


class Capture:
    """TCP packets on loopback (SYN or payload), stamped by the kernel: (ns, source port, destination port, flags,
    first payload bytes)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(_ETH_P_ALL))
        self.sock.bind(("lo", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.settimeout(0.2)
        self.packets: list[tuple[int, int, int, int, bytes]] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping:
            try:
                data, ancillary, _, address = self.sock.recvmsg(128, 64)
            except (socket.timeout, OSError):
                continue
            if address[2] != _PACKET_HOST or data[12:14] != b"\x08\x00" or data[23] != socket.IPPROTO_TCP:
                continue  # each loopback packet once (as received), IPv4 TCP only
            stamp = next((struct.unpack("qq", raw[:16]) for _, kind, raw in ancillary if kind == SO_TIMESTAMPNS), None)
            ip = data[14:]
            tcp = ip[(ip[0] & 15) * 4:]
            source, dest = struct.unpack("!HH", tcp[:4])
            payload = tcp[(tcp[12] >> 4) * 4:]
            if stamp is not None and (payload or tcp[13] & 2):
                self.packets.append((stamp[0] * 10**9 + stamp[1], source, dest, tcp[13], payload[:40]))

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(5)
        self.sock.close()

    def split(self, port: int, called: int, returned: int) -> tuple[float, ...] | None:
        """The first next()'s parts on the wire, in µs, between `called` and `returned` (ns)."""
        window = [p for p in self.packets if called <= p[0] <= returned and port in (p[1], p[2])]
        syn = next((p[0] for p in window if p[2] == port and p[3] & 2 and not p[3] & 16), None)
        request = next((p[0] for p in window if p[2] == port and b"/next" in p[4]), None)
        event = next((p[0] for p in window if p[1] == port and p[4] and request and p[0] > request), None)
        if syn is None or request is None or event is None:
            return None
        return (syn - called) / 1e3, (request - syn) / 1e3, (event - request) / 1e3, (returned - event) / 1e3


def reset(conn, stamps: SpawnStamps, gap: float = 0.0) -> tuple[int, ...] | None:
    """One crash and the cold start after it: (spawn, started, imported, called, returned, answered, port)."""
    post(conn, b'{"crash": true}')
    if gap:
        time.sleep(gap)  # the pause asked for (--gap), not synchronisation
    stamps.take_datagrams()
    invoke(conn)
    answered = time.time_ns()
    # Both sent before the runtime took its event: in the socket before the response came.
    datagrams = stamps.take_datagrams()
    spawns = [int(datagram.split()[1]) for datagram in datagrams if datagram.startswith(b"spawned ")]
    found = [match.groups() for match in map(STAMPS.match, datagrams) if match]
    if len(spawns) != 1 or len(found) != 1:
        return None
    return (spawns[0], *map(int, found[0][:4]), answered, int(found[0][4]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60, help="resets of each side (default 60)")
    parser.add_argument("--packets", action="store_true", help="split the first next() on the wire (root)")
    parser.add_argument("--ric-python", default=sys.executable, help="interpreter with awslambdaric")
    parser.add_argument("--gap", type=float, default=0.0,
                        help="ms between the crash's answer and the next invoke (default 0: at once, as compare.py)")
    args = parser.parse_args()
    rie = os.environ.get("RIE_BIN")
    if not rie:
        print("cold_parts.py: set RIE_BIN=/path/to/aws-lambda-rie (README, Benchmarks, says how to build it)",
              file=sys.stderr)
        return 2
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lambdatui-cold-parts-", dir=cache))
    fn = work / "function"
    fn.mkdir()
    (fn / "handler.py").write_text(HANDLER)
    stamps = SpawnStamps()
    (fn / "cold_parts_launcher.py").write_text(LAUNCHER.replace("PORT", str(stamps.port)))
    bootstrap = fn / "bootstrap"
    bootstrap.write_text(stamps.wrapper(f"{shlex.quote(args.ric_python)} ./cold_parts_launcher.py handler.handler"))
    bootstrap.chmod(0o755)
    sides = {
        "lambdatui": lambda port: [*lambdatui_command(), "serve", str(bootstrap), "--port", str(port), "--timeout", "60"],
        "RIE": lambda port: [rie, "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
                             "--runtime-api-address", f"127.0.0.1:{free_port()}", str(bootstrap)],
    }
    procs = Processes()
    capture = Capture() if args.packets else None
    taken: dict[str, list[tuple[int, ...]]] = {key: [] for key in sides}
    servers = []
    try:
        for key, argv in sides.items():
            port, log = free_port(), work / f"{key}.log"
            servers.append((key, procs.start(argv(port), fn, log), connect(port, time.monotonic() + 30, what=key), log))
        for key, _, conn, log in servers:  # unmeasured: each side's first invokes and first reset
            for _ in range(20):
                invoke(conn)
            reset(conn, stamps)
        for n in range(args.pairs):
            pair = {key: reset(conn, stamps, args.gap / 1e3)
                    for key, _, conn, _ in (servers if n % 2 == 0 else servers[::-1])}
            if None not in pair.values():
                for key, stamped in pair.items():
                    taken[key].append(stamped)  # type: ignore[arg-type]
    finally:
        for _, proc, conn, _ in servers:
            conn.close()
            procs.stop(proc)
        procs.stop_all()
        if capture is not None:
            capture.stop()
        stamps.close()
        shutil.rmtree(work, ignore_errors=True)

    print(f"{len(taken['lambdatui'])} pairs; medians in ms; the last column: lambdatui's minus RIE's")
    rows: dict[str, list[list[float]]] = {}
    for key, samples in taken.items():
        rows[key] = [[(s[i + 1] - s[i]) / 1e6 for s in samples] for i in range(5)] + [[(s[5] - s[0]) / 1e6 for s in samples]]
    for i, part in enumerate(PARTS):
        ours, theirs = statistics.median(rows["lambdatui"][i]), statistics.median(rows["RIE"][i])
        print(f"  {part:40} {ours:8.2f} {theirs:8.2f} {ours - theirs:+8.2f}")
    if capture is not None:
        print("the first next() on the wire, in µs:")
        wire = {key: [w for s in samples if (w := capture.split(s[6], s[3], s[4])) is not None]
                for key, samples in taken.items()}
        if not all(wire.values()):
            print("  no packets matched: is this loopback's traffic visible to a packet socket here?")
            return 0
        for i, part in enumerate(WIRE):
            ours, theirs = (statistics.median(w[i] for w in wire[key]) for key in ("lambdatui", "RIE"))
            print(f"  {part:40} {ours:8.0f} {theirs:8.0f} {ours - theirs:+8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
