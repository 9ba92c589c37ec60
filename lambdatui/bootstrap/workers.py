"""Lambda Managed Instances: the runtime process runs M worker processes (lambda-spec §11.3).

As awslambdaric does when AWS_LAMBDA_MAX_CONCURRENCY is set, the runtime process forks M workers; each imports
the handler itself (its own Function init, its own globals) and loops on /next over its own connection, so up
to M invokes run at once. /tmp is shared; memory is not. The runtime process only waits for them: a worker that
ends is not replaced (Lambda sees the runtime process, never its workers), and once none is left the runtime
process exits, with status 0 as awslambdaric's does.

lambdatui's addition, on its private channel only: the runtime process says which worker ended, how, and the
invoke it was running, so that the debugger can show what Lambda never sees. Which invoke a worker runs is kept
in memory shared across the fork, so the hot path makes no system call for it.
"""

from __future__ import annotations

import logging
import mmap
import os
import signal
import traceback

from . import logs

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional

    # (pid, exit code or None, signal or None, the request id it was running or None)
    ReportExit = Callable[[int, Optional[int], Optional[int], Optional[str]], None]

SLOT_BYTES = 64  # a request id (a UUID: 36 bytes) and room to spare
WORKER_POOL_EVENT = "runtime_worker_pool_initializing"  # what awslambdaric logs (at DEBUG) before forking


class Slots(object):
    """Which invoke each worker runs now: one fixed-size slot per worker in an anonymous shared mapping."""

    def __init__(self, count: int) -> None:
        self._map = mmap.mmap(-1, max(1, count) * SLOT_BYTES)  # MAP_SHARED: the workers' writes reach the parent

    def set(self, index: int, request_id: Optional[str]) -> None:
        data = (request_id or "").encode("utf-8", "replace")[:SLOT_BYTES - 1]
        start = index * SLOT_BYTES
        self._map[start:start + SLOT_BYTES] = data.ljust(SLOT_BYTES, b"\0")

    def get(self, index: int) -> Optional[str]:
        start = index * SLOT_BYTES
        data = self._map[start:start + SLOT_BYTES].rstrip(b"\0")
        return data.decode("utf-8", "replace") or None


def max_concurrency(value: Optional[str]) -> int:
    """AWS_LAMBDA_MAX_CONCURRENCY as a worker count; 0 (one process, the default mode) when unset or unusable."""
    if not value:
        return 0
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        logs.warn("AWS_LAMBDA_MAX_CONCURRENCY=%r is not a positive number: running one process" % value)
        return 0
    return count


def run(count: int, work: Callable[[int, Slots], None], report: Optional[ReportExit]) -> None:
    """Fork `count` workers, each running `work(index, slots)` (it never returns while it serves), and wait for
    all of them; `report` hears of each one that ends while nobody asked the runtime to stop."""
    logging.getLogger().debug({"event": WORKER_POOL_EVENT, "workerCount": count,
                               "executionEnvironmentMaxConcurrency": count})
    logs.flush_all()  # nothing buffered may be written twice, once by each process
    slots = Slots(count)
    workers: Dict[int, int] = {}  # pid -> worker index
    for index in range(count):
        workers[_fork(index, work, slots)] = index
    stopping: List[int] = []

    def stop(signum: int, frame: object) -> None:
        # Shutdown (SIGTERM, with extensions registered): the workers stop too, and their ends are expected.
        stopping.append(signum)
        for pid in list(workers):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass

    signal.signal(signal.SIGTERM, stop)
    while workers:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        index = workers.pop(pid, None)
        if index is None:
            continue
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        signal_number = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        if report is not None and not stopping:
            try:
                report(pid, code, signal_number, slots.get(index))
            except Exception as exc:  # the host may be going away: the remaining workers still serve
                logs.warn("could not report worker %d's exit: %s: %s" % (pid, type(exc).__name__, exc))


def _fork(index: int, work: Callable[[int, Slots], None], slots: Slots) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        logs.install_whole_line_streams()
        work(index, slots)
        code = 0
    except SystemExit as exc:  # the handler's sys.exit(), or a failed Function init: this worker ends
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        logs.flush_all()
        os._exit(code)  # never back into the parent's code: its loop and its exit belong to the runtime process
    return 0  # unreachable
