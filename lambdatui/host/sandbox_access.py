"""Who may use the sandbox-side APIs: the environment's own processes, and lambdatui itself (issue 8).

Each environment is a sandbox of its own, as in Lambda, where one environment's function has no route to another's
APIs: the processes of the fleet's other environments are outsiders here.

In Lambda only processes inside the sandbox reach the Runtime, Extensions and Telemetry APIs. Here they listen
on loopback, where any local user can find the port (`ss -ltn`), call `/next` during an invoke, take the event
and post a response that replaces the real caller's result. So every new connection is traced to the process
that holds its client end; one that is not lambdatui or a process it started is refused before its request is
read, and the lifecycle never hears of it.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, Optional

from lambdatui.processes import peers
from lambdatui.processes.socket_holders import SocketHolders

Address = tuple[str, int]
SHOWN_REFUSALS = 5  # of an environment's refusals, the first ones are said, each with its address


class SandboxAccess:
    def __init__(self, on_refused: Callable[[str], None],
                 contained: Callable[[], Iterable[int]] = lambda: (),
                 own: Callable[[], Iterable[int]] = lambda: (),
                 cgroup: Callable[[], Optional[int]] = lambda: None) -> None:
        """`own()` lists the processes lambdatui started for the environment (its runtime, extensions, its sandbox
        init): they and their descendants are the environment's; `contained()` its processes that left that tree
        (its cgroup's); `cgroup()` is the id of its cgroup v2, if it has one."""
        self._on_refused = on_refused
        self._contained = contained
        self._own = own
        self._cgroup = cgroup
        self._host_pid = os.getpid()
        self._holders = SocketHolders()  # what each process's descriptors were at the last look
        # Without /proc (not Linux) nobody can be traced: everyone is let in, and the start-up note says so.
        self.enforced = os.path.exists("/proc/net/tcp")
        self.refused = 0  # connections refused so far: a process that opens thousands must not flood the log

    def __call__(self, client: Address, server: Address) -> bool:
        if not self.enforced:
            return True
        found = peers.client_socket(client, server)
        if found is None:
            return False  # gone altogether (reset): nobody is left to refuse or to serve
        if found.cgroup is not None and found.cgroup == self._cgroup():
            # Made by a process inside the environment's cgroup, which no process leaves of its own accord and
            # only the environment's join: a runtime's first connection is let in without reading a descriptor
            # (~0.1 ms of every cold start). The kernel keeps a socket's cgroup after its last holder closed it:
            # a request sent and closed before the host took the connection (a runtime's fire-and-forget
            # /response, bash's /dev/tcp) is still read, as Lambda's server reads it. Elsewhere (cgroup v1, a
            # socket made before its maker joined) the holders are looked for.
            return True
        if not found.inode:  # the kernel lists it, but no process holds it: not traceable to anyone any more
            # A line would blame an outsider for what was most likely the environment's own process, where no cgroup
            # tells whose it was.
            return False
        inode = found.inode
        own = list(self._own())
        # The likely holders first: a runtime that has just started (every cold start) is let in without a
        # walk through every process on the machine (~a third of the host's work in a crash and restart).
        # lambdatui itself comes last: it may hold thousands of descriptors (each client of the Invoke API's),
        # none of which an environment's connection should cost.
        if self._holders.find(inode, (
            lambda: own,
            lambda: peers.descendants(own) if own else (),  # the function's own children, say
            self._contained,  # a daemon that double-forked out of the tree is still inside, as in Lambda
            lambda: (self._host_pid,),
        )):
            return True
        self.refused += 1
        if self.refused <= SHOWN_REFUSALS:
            more = (f" Further refusals are counted, not shown ({SHOWN_REFUSALS} shown)."
                    if self.refused == SHOWN_REFUSALS else "")
            self._on_refused(f"Refused a connection to the Runtime API from {client[0]}:{client[1]}: only this "
                             f"environment's own processes may use it, as in Lambda.{more}")
        return False
