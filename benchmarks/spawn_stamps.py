"""The runtime's spawn, stamped by its wrapper on a datagram socket of the benchmark's own, which neither host reads.

The wrapper stamped it on stderr until session 53; each host then read that line while its runtime started (RIE
copies it out; lambdatui, a debugger, reads it, shows it and tells it to Telemetry subscribers), on a 2-core VM whose
other core ran the runtime's import: the instrument made work for the measured hosts, more for one than the other.
How much it weighed is within this VM's noise: four rounds alternated with cold_parts.py (60 pairs each) gave the
interpreter's start and import at +0.01 to +0.33 ms against RIE's with the stamp on stderr and -0.17 to +0.04 ms on a
datagram, but later rounds on a datagram alone gave +0.03 to +0.21 ms. A datagram to loopback reaches only the
benchmark, which reads the stamps after each response, without a thread; awslambdaric itself writes nothing while it
starts. Both hosts' runtimes send to the same socket: the benchmark takes one side's reset at a time, so each stamp
it reads belongs to the reset just taken.
"""

from __future__ import annotations

import re
import socket

_STAMP = re.compile(rb"^spawned (\d+)$")

# `date +%s%N` on the host's clock (the client stamps responses with time.time_ns()); bash's /dev/udp sends it.
WRAPPER = """\
#!/bin/bash
echo "spawned $(date +%s%N)" >/dev/udp/127.0.0.1/{port}
exec {command}
"""


class SpawnStamps:
    """A UDP socket on loopback: the wrappers' stamps, read when the benchmark asks (`take`)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    def wrapper(self, command: str) -> str:
        """The runtime's wrapper script: the stamp, then `exec command` (shell-quoted by the caller)."""
        return WRAPPER.format(port=self.port, command=command)

    def take(self) -> list[int]:
        """The spawns stamped (ns since the epoch) since the last `take`, in order of arrival."""
        return [int(found.group(1)) for found in map(_STAMP.match, self.take_datagrams()) if found]

    def take_datagrams(self) -> list[bytes]:
        """Every datagram that came since the last `take` (cold_parts.py's runtime sends its own stamps too)."""
        datagrams: list[bytes] = []
        while True:
            try:
                datagrams.append(self.sock.recv(256).strip())
            except BlockingIOError:
                return datagrams

    def close(self) -> None:
        self.sock.close()
