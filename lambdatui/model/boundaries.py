"""The points where the debugger may hold the lifecycle, named once and used everywhere."""

from __future__ import annotations

from enum import Enum


class Boundary(str, Enum):
    INIT_EXTENSIONS = "init.extensions"  # before extensions launch
    INIT_RUNTIME = "init.runtime"  # every extension registered, before the runtime launches
    INIT_FUNCTION = "init.function"  # runtime up, before the handler module is imported
    INIT_DONE = "init.done"
    # SnapStart (lambda-spec §4.8): the snapshot environment's Init ends with the snapshot; a restored one's
    # Init is a restore, which starts from that snapshot and ends when the after-restore hooks are done.
    SNAPSHOT_TAKEN = "snapshot.taken"  # before-snapshot hooks done, the runtime parked on /restore/next
    RESTORE_START = "restore.start"  # before a restored environment is made from the snapshot
    RESTORE_HOOKS_DONE = "restore.hooks"  # after-restore hooks done, the runtime asked for its first event
    INVOKE_START = "invoke.start"  # event ready, not yet delivered
    INVOKE_RESPONSE = "invoke.response"  # runtime responded, extensions may still work
    INVOKE_DONE = "invoke.done"
    SHUTDOWN_START = "shutdown.start"
    SHUTDOWN_DONE = "shutdown.done"

    def __str__(self) -> str:
        return self.value


ALL_BOUNDARIES: tuple[Boundary, ...] = tuple(Boundary)


class EnvState(str, Enum):
    """What the whole execution environment is doing, as the header shows it."""

    COLD = "COLD"  # no processes: the next invoke initialises
    INIT = "INIT"
    SNAPSHOT = "SNAPSHOT"  # SnapStart: initialised once and held as the snapshot every restore copies
    FROZEN = "FROZEN"  # initialised, every process parked on Next and SIGSTOPped
    RUNNING = "RUNNING"
    RESETTING = "RESETTING"
    SHUTTING_DOWN = "SHUTTING DOWN"
    SHUT_DOWN = "SHUT DOWN"

    def __str__(self) -> str:
        return self.value


class ShutdownReason(str, Enum):
    """The wire values Lambda puts in SHUTDOWN events (lowercase, as RAPID sends them)."""

    SPINDOWN = "spindown"
    TIMEOUT = "timeout"
    FAILURE = "failure"

    def __str__(self) -> str:
        return self.value
