"""Which environment of the fleet a sandbox API call comes from now, wherever it arrived.

In Lambda, AWS_LAMBDA_METADATA_API (and AWS_LAMBDA_RUNTIME_API) names the same address in every environment
(169.254.100.1:9001), so an address a SnapStart function's Init kept (a module-level constant) reaches, in a restored
copy, that copy's own environment. Here each environment's server has a port of its own, and a copy of the snapshot's
runtime (a fork of it: host/snapshot_restore.py) that calls the address its Init read reaches the snapshot
environment's server, which lets it in (the copy descends from its runtime: host/sandbox_access.py). The metadata
endpoint answers such a call for the environment the calling process belongs to now, found as the admission finds a
caller: by the cgroup its socket was made in, else by the process that holds the socket.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterable, Optional, Protocol, TypeVar

from lambdatui.processes import peers
from lambdatui.processes.socket_holders import SocketHolders

Address = tuple[str, int]


class Environment(Protocol):
    """What is asked of an environment (EnvironmentHost's, host/environment_processes.py)."""

    @property
    def restore_source(self) -> Optional[object]: ...  # the snapshot's environment it was restored from, if any

    def started_pids(self) -> list[int]: ...

    def contained_pids(self) -> list[int]: ...

    def cgroup_v2_id(self) -> Optional[int]: ...


E = TypeVar("E", bound=Environment)


class CallerEnvironments(Generic[E]):
    def __init__(self, environments: Callable[[], Iterable[E]]) -> None:
        """`environments()`: the fleet's now."""
        self._environments = environments
        self._holders = SocketHolders()

    def environment_of(self, arrived_at: E, client: Address, server: Address) -> E:
        """The environment whose process made the call from `client` to `server` (a server of `arrived_at`'s);
        `arrived_at` unless the caller is found in another one (or cannot be found at all)."""
        found = peers.client_socket(client, server)
        if found is None:
            return arrived_at
        others = [other for other in self._environments() if other is not arrived_at]
        if found.cgroup is not None:
            if found.cgroup == arrived_at.cgroup_v2_id():
                return arrived_at  # the common case, the environment's own process: no descriptor is read
            # A copy is moved into its environment's cgroup before its first call, so what it makes is born there.
            owner = next((other for other in others if other.cgroup_v2_id() == found.cgroup), None)
            if owner is not None:
                return owner
        if not found.inode:
            return arrived_at
        inode = found.inode
        # Where no cgroup tells: the processes lambdatui started for each environment, or its cgroup's, then those
        # below them. A copy lives below its snapshot's processes (their fork, in their PID namespace) as much as
        # below its own environment's: the restored environments are asked first, the nearer ancestors.
        everyone = [arrived_at, *others]
        for environment in everyone:
            if self._holders.find(inode, (environment.started_pids, environment.contained_pids)):
                return environment
        for environment in sorted(everyone, key=lambda each: each.restore_source is None):
            started = environment.started_pids()
            below = peers.descendants(started) if started else set()
            if below and self._holders.find(inode, (lambda: below,)):
                return environment
        return arrived_at
