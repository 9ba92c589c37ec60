"""A port for a server a test starts, picked where no other process's bind to port 0 can take it meanwhile.

A port found free by binding port 0 is one of the kernel's ephemeral ports, given back when the probe closes: until
the server binds it, any bind to port 0 may be handed the same one, and in a parallel run lambdatui's sandbox APIs
(a listener per environment, on port 0) bind all the time. The server then finds its port taken, or its client
reaches the wrong listener (a benchmark's invoke once got a sandbox API's 403). Ports below the ephemeral range are
never handed out for port 0: one of those is picked at random and checked free.
"""

from __future__ import annotations

import random
import socket

_LOWEST = 10000  # below the ports services commonly take


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux; IANA's 49152 elsewhere)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now, outside the ephemeral range where there is room below it."""
    low = ephemeral_low()
    if low - _LOWEST >= 1000:
        for _ in range(100):
            port = random.randrange(_LOWEST, low)
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as probe:  # a range set so low that nothing fits below it: the kernel's pick
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
