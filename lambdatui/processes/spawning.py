"""Starting one child: the steps between fork and exec, and the two ways to fork (directly, or by the init).

Children are started with `subprocess.Popen` directly in the trio thread, not
with trio's helpers: those fork from a worker thread, and PR_SET_PDEATHSIG fires
when the *forking thread* exits, which trio's idle worker threads do.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from . import child_signals, linux
from .cgroup import EnvironmentCgroup, join_cgroup_in_child
from .exec_failure import describe_exec_failure
from .file_limit import FILE_LIMIT
from .file_limit import lowered as file_limit_lowered
from .pid_namespace import InitUnavailable, SandboxInit, SpawnFailed


# Where Lambda's runtimes find the pipe for their framed log records (lambda-spec §6.6); awslambdaric reads it and
# removes it from its environment, so the function's own child processes never see it.
LOG_FD_ENV = "_LAMBDA_TELEMETRY_LOG_FD"


@dataclass(frozen=True)
class ProcessSpec:
    """What to start as one child: its command line, working directory and complete environment."""

    key: str
    """Tags this process's output and exit, e.g. "runtime" or "extension:my-ext"."""
    argv: Sequence[str]
    cwd: str
    env: Mapping[str, str]
    """The complete environment (not merged with ours); the sandbox adjusts TMPDIR."""
    pass_fd: tuple[str, int] | None = None
    """(variable, descriptor): the child inherits the descriptor and finds its number in that variable (the
    SnapStart template's channel: processes/snapshot_template.py)."""
    log_fd: bool = False
    """The runtime's telemetry log fd (`_LAMBDA_TELEMETRY_LOG_FD`, lambda-spec §6.6), where Lambda's runtimes write
    each log record as one frame: here a second descriptor of its stdout's pipe, so that records and printed lines
    reach the host in the order they were written (output.FramedLineSplitter tells them apart)."""


class LaunchError(Exception):
    """A child could not be started; str() is a one-line reason for a human."""


def make_preexec(sandbox_setup: Callable[[], None] | None, parent_pid: int,
                  cgroup: EnvironmentCgroup | None = None) -> Callable[[], None]:
    """The steps between fork and exec of a child the host forks itself (where no sandbox init forks it); every
    callee is resolved here, in the parent."""
    procs_files = cgroup.procs_files if cgroup is not None else None
    # Every signal at its default action and none blocked, as the sandbox init starts its children.
    syscall = linux.LIBC.syscall if linux.LIBC is not None else None
    unseen_to_default = child_signals.unseen_to_default(syscall, child_signals.ignored_unseen(syscall))
    unblock_all, to_default, not_at_default = (child_signals.unblock_all, child_signals.to_default,
                                               child_signals.not_at_default)
    setrlimit, nofile, lowered = resource.setrlimit, resource.RLIMIT_NOFILE, file_limit_lowered
    libc = linux.LIBC
    prctl = libc.prctl if libc is not None else None
    check = linux.check_call
    setpgid, getppid, getpid, kill, write = os.setpgid, os.getppid, os.getpid, os.kill, os.write
    sigkill = int(signal.SIGKILL)
    pdeathsig = linux.PR_SET_PDEATHSIG

    def preexec() -> None:
        try:
            if procs_files is not None:
                join_cgroup_in_child(procs_files)  # first: whatever this child starts is born inside
            setpgid(0, 0)
            unblock_all()
            to_default(not_at_default())  # the host's table as forked: its handlers, and what it was left ignoring
            unseen_to_default()
            if sandbox_setup is not None:
                sandbox_setup()
            setrlimit(nofile, lowered(FILE_LIMIT))
            if prctl is not None:
                # Last, so that no credential change (user namespace) can reset it.
                check(prctl(pdeathsig, sigkill, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
                if getppid() != parent_pid:
                    kill(getpid(), sigkill)  # the host died before the signal was armed
        except BaseException as exc:
            # Popen reports only "Exception occurred in preexec_fn"; stderr is
            # already our pipe, so the parent can read the real reason there.
            text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            write(2, f"{text}\n".encode("utf-8", "replace"))
            raise

    return preexec


def _read_nonblocking(fd: int) -> str:
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace").strip()


def spawn_directly(argv: list[str], cwd: str, env: Mapping[str, str], preexec: Callable[[], None],
                   out_w: int, err_w: int, err_r: int,
                   pass_fds: Sequence[tuple[str, int]] = ()) -> subprocess.Popen[bytes]:
    """Fork and exec from this process; closes the write ends either way. Raises LaunchError."""
    env = {**env, **{name: str(fd) for name, fd in pass_fds}}
    try:
        try:
            return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w,
                                    close_fds=True, pass_fds=[fd for _, fd in pass_fds], preexec_fn=preexec)
        finally:
            os.close(out_w)
            os.close(err_w)
    except OSError as exc:
        raise LaunchError(describe_exec_failure(exc, argv, cwd, env)) from exc
    except subprocess.SubprocessError as exc:
        # The set-up step wrote its reason to the child's stderr, which is our pipe (`err_r`).
        reason = _read_nonblocking(err_r).splitlines()
        detail = reason[-1] if reason else str(exc)
        raise LaunchError(f"cannot start {argv[0]}: setup before exec failed: {detail}") from exc
    except (ValueError, TypeError) as exc:
        raise LaunchError(f"cannot start {argv[0]}: {exc}") from exc


def spawn_in_namespace(init: SandboxInit, argv: list[str], cwd: str, env: Mapping[str, str],
                       out_w: int, err_w: int, pass_fds: Sequence[tuple[str, int]] = ()) -> int:
    """Have the environment's init fork and exec it; its pid as the host sees it. Closes the write ends."""
    try:
        try:
            return init.spawn(argv, cwd, env, out_w, err_w, pass_fds)
        finally:
            os.close(out_w)
            os.close(err_w)
    except SpawnFailed as exc:
        if exc.where in ("cwd", "exec"):
            raise LaunchError(describe_exec_failure(exc, argv, cwd, env)) from exc
        raise LaunchError(f"cannot start {argv[0]}: {exc.strerror}") from exc
    except InitUnavailable as exc:
        raise LaunchError(f"cannot start {argv[0]}: {exc}") from exc
