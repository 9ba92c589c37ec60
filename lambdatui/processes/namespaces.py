"""How a child enters its environment's namespaces, and whether it can here: the probes that ask the kernel.

`namespace_plan` is what a process does to enter them, as steps (namespace_steps.py carries them out; sandbox.py
chooses what is mounted). Whether a mount namespace
can be made, and whether the function's files can be laid out in it, is asked by running a trivial program that
way: once per process for each question, and with one program for both where both are asked at once (the usual
start, where each program costs a fork, an exec and the wait for it).
"""

from __future__ import annotations

import errno
import os
import select
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Optional

from lambdatui.model.paths import OPT, TASK_ROOT

from . import linux, readonly_root
from . import namespace_steps as steps
from .readonly_root import TMP
from .filesystem import FileSystemLayout, FunctionFiles, kept_flags, layout_obstacle

# How a child enters its namespace: as root a plain mount namespace is enough;
# otherwise a user namespace that maps the caller's uid/gid onto themselves
# grants the right to mount without changing who the process is.
Strategy = Literal["mount-ns", "user-ns"]

# A probe that has not ended by then is killed and counts as a refusal.
PROBE_LIMIT_S = 5.0

# The probe forks and execs; the answer depends on the kernel, the user and the
# container, none of which change while we run, so it is asked once per process.
_probe_cache: dict[int, tuple[Strategy | None, str]] = {}
# Whether /var/task and /opt can be mounted, by (euid, strategy, code, layers): the answer depends on the kernel
# (overlayfs, unprivileged overlays) and on the folders, asked once per process for each.
_layout_cache: dict[tuple[object, ...], str | None] = {}
# Answers given without a probe (`probe_both(ask=False)`), until the sandbox init's start settles them.
_assumed: list[tuple[int, tuple[object, ...]]] = []
# Why the root file system stays writable in a namespace that otherwise works (the kernel refused a remount), by
# euid; absent: it is read-only there, as in Lambda.
_writable_root: dict[int, str] = {}


def _probe_program() -> list[str]:
    for candidate in ("/bin/true", "/usr/bin/true"):
        if os.access(candidate, os.X_OK):
            return [candidate]
    return ["/bin/sh", "-c", ":"]


def namespace_plan(strategy: Strategy, tmp_dir: Optional[Path], *, new_pid: bool = False,
                   hosts_file: Optional[Path] = None, layout: Optional[FileSystemLayout] = None,
                   cwd: Optional[str] = None, writable: Sequence[Path] = (),
                   readonly: bool = True, kept: Sequence[str] = ()) -> list[tuple]:
    """The steps (namespace_steps.py) that make a process see `tmp_dir` as /tmp (None: keep the host's /tmp) with
    the `kept` folders (the host's, under its /tmp: what the processes need lies there) bound again at their paths,
    `hosts_file` as /etc/hosts (where `sandbox.localdomain` resolves, as in Lambda), and with a `layout`, the
    function's code at /var/task and its layers at /opt; then, `readonly`, every other mount read-only but /tmp,
    the kernel's interfaces and the `writable` folders lambdatui's processes write (readonly_root.py); then it
    changes to `cwd` (which may exist only there).

    `new_pid` also makes a PID namespace for the processes it will start (the sandbox init's: see sandbox_init.py);
    it needs the mount namespace, where the namespace's own /proc is mounted. Everything is computed here, in the
    host: what the mount table and the folders say now."""
    if linux.LIBC is None:
        raise OSError("mount namespaces need Linux")
    user_ns = strategy == "user-ns"
    flags = linux.CLONE_NEWNS | (linux.CLONE_NEWUSER if user_ns else 0) | (linux.CLONE_NEWPID if new_pid else 0)
    what = "+".join(["user"] * user_ns + ["mount"] + ["PID"] * new_pid)
    plan: list[tuple] = [(steps.UNSHARE, flags, f"unshare({what} namespace)")]
    if user_ns:
        uid, gid = os.geteuid(), os.getegid()
        # An unprivileged process may only write gid_map once setgroups is denied (kernels before 3.19 have no
        # such file, and no such rule).
        plan += [(steps.WRITE, b"/proc/self/setgroups", b"deny", True),
                 (steps.WRITE, b"/proc/self/uid_map", f"{uid} {uid} 1".encode(), False),
                 (steps.WRITE, b"/proc/self/gid_map", f"{gid} {gid} 1".encode(), False)]
    # Without this, on systemd hosts (/ is shared) our bind mount would propagate back to the real /tmp of every
    # other process.
    plan.append(steps.mount(None, b"/", linux.MS_REC | linux.MS_PRIVATE, "make / private"))
    if hosts_file is not None:  # first: the file may lie under /tmp, which the next bind hides
        plan.append(steps.mount(os.fsencode(hosts_file), b"/etc/hosts", linux.MS_BIND, "bind the sandbox's /etc/hosts"))
    if layout is not None:  # before /tmp too: the code or a layer may lie under /tmp
        plan += layout.plan()
    keep = tmp_dir is not None and bool(kept)
    if keep:  # before /tmp too: the bind hides them
        plan += [(steps.HOLD, os.fsencode(path)) for path in kept]
    if tmp_dir is not None:
        plan.append(steps.mount(os.fsencode(tmp_dir), TMP.encode(), linux.MS_BIND, f"bind {tmp_dir} on /tmp"))
    if keep:
        plan += [(steps.KEEP, os.fsencode(path), os.path.isdir(path), linux.MS_BIND | linux.MS_REC,
                  f"keep {path} on the private /tmp") for path in kept]
    if readonly:  # last: the mounts above are made, and the read-only ones among them stay so
        plan += _readonly_plan(tmp_dir, hosts_file, layout, writable, kept)
    if cwd is not None:
        plan.append((steps.CHDIR, cwd))
    return plan


def namespace_setup(strategy: Strategy, tmp_dir: Optional[Path], **options: Any) -> Callable[[], None]:
    """`namespace_plan`'s steps as the step a child the host forks runs between fork and exec; the returned
    function calls only what was resolved here, in the parent."""
    return in_child(namespace_plan(strategy, tmp_dir, **options))


def in_child(plan: list[tuple]) -> Callable[[], None]:
    """The step between fork and exec that carries out `plan` (namespace_steps.py)."""
    assert linux.LIBC is not None  # the plan's maker has checked
    run = steps.Steps(linux.LIBC, linux.get_errno).run
    return lambda: run(plan)


def _readonly_plan(tmp_dir: Optional[Path], hosts_file: Optional[Path], layout: Optional[FileSystemLayout],
                   writable: Sequence[Path], kept: Sequence[str] = ()) -> list[tuple]:
    """The read-only remounts for this namespace's mounts: where it puts mounts of its own, theirs replace the
    host's (its /etc/hosts has the flags of the folder it is bound from; a `kept` folder, those of its own);
    without a private /tmp, the host's /tmp is bound on itself to stay writable, as the environment's /tmp."""
    left_writable = [os.fspath(folder) for folder in writable] + ([TMP] if tmp_dir is None else [])
    replaced, hidden, own = [], [], []
    if hosts_file is not None:
        replaced.append("/etc/hosts")
        own.append(readonly_root.MountPoint("/etc/hosts", kept_flags(hosts_file), False))
    if layout is not None:  # /var, /var/task and /opt are mounted read-only by the layout itself
        replaced.append("/var")
        hidden += [TASK_ROOT, OPT]
    if tmp_dir is not None:
        own += [readonly_root.MountPoint(folder, kept_flags(Path(folder)), False) for folder in kept]
    return readonly_root.readonly_plan(left_writable, replaced, hidden, own)


def run_probe(strategy: Strategy, tmp_dir: Optional[Path], layout: Optional[FileSystemLayout] = None,
              writable: Sequence[Path] = (), readonly: bool = True, kept: Sequence[str] = ()) -> str | None:
    """Run a trivial program inside the namespace, set up as the environment's processes will be; None on
    success, else the reason."""
    try:
        setup = namespace_setup(strategy, tmp_dir, layout=layout, writable=writable, readonly=readonly, kept=kept)
    except OSError as exc:
        return linux.describe_error(exc)
    read_fd, write_fd = os.pipe()
    describe = linux.describe_error

    def preexec() -> None:
        try:
            setup()
        except BaseException as exc:
            os.write(write_fd, describe(exc).encode("utf-8", "replace"))
            raise

    try:
        proc = subprocess.Popen(
            _probe_program(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            preexec_fn=preexec,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as r:
            reason = r.read().decode("utf-8", "replace").strip()
        return _naming_the_limit(reason) or str(exc)
    os.close(write_fd)
    os.close(read_fd)
    if not _ended_within(proc, PROBE_LIMIT_S):
        proc.kill()
        proc.wait()
        return "probe did not finish"
    code = proc.wait()
    return None if code == 0 else f"probe exited with status {code}"


def _naming_the_limit(reason: str) -> str:
    """unshare's ENOSPC is the kernel's count of namespaces, not a disk: the reason says which sysctl to look at
    (those at 0 where any is: a host that turns namespaces off)."""
    if not (reason.startswith("unshare(") and reason.endswith(os.strerror(errno.ENOSPC))):
        return reason
    names = ("user.max_user_namespaces", "user.max_mnt_namespaces", "user.max_pid_namespaces")
    off = []
    for name in names:
        try:
            with open("/proc/sys/" + name.replace(".", "/"), encoding="ascii") as file:
                if file.read().strip() == "0":
                    off.append(f"{name} is 0")
        except OSError:
            pass
    return f"{reason} (the kernel's limit on namespaces: {', '.join(off) or 'see sysctl ' + ', '.join(names)})"


def _ended_within(proc: subprocess.Popen[bytes], limit_s: float) -> bool:
    """Whether `proc` ended within `limit_s` (not reaped yet): woken by its end, where Popen.wait(timeout) polls
    with sleeps that double from 0.5 ms and so add up to half the probe's own time."""
    pidfd = linux.open_pidfd(proc.pid)
    if pidfd is None:  # before Linux 5.3
        try:
            proc.wait(limit_s)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(limit_s * 1000))
    finally:
        os.close(pidfd)


def namespace_support(tmp_dir: Path, writable: Sequence[Path] = (),
                      kept: Sequence[str] = ()) -> tuple[Strategy | None, str]:
    """Which strategy this process can use (cached), or None and why not. A namespace whose read-only remounts
    alone are refused is used all the same, its root file system writable (`writable_root` says why)."""
    euid = os.geteuid()
    cached = _probe_cache.get(euid)
    if cached is not None:
        return cached
    strategies: list[Strategy] = ["mount-ns", "user-ns"] if euid == 0 else ["user-ns"]
    reasons: list[str] = []
    result: tuple[Strategy | None, str] | None = None
    for strategy in strategies:
        reason = run_probe(strategy, tmp_dir, writable=writable, kept=kept)
        if reason is not None and reason.startswith(readonly_root.STEP):
            # The private /tmp and the PID namespace are worth more than the read-only root: kept without it.
            if run_probe(strategy, tmp_dir, readonly=False, kept=kept) is None:
                _writable_root[euid] = reason
                reason = None
        if reason is None:
            result = (strategy, "")
            break
        reasons.append(reason)
    if result is None:
        result = (None, "; ".join(reasons))
    _probe_cache[euid] = result
    return result


def writable_root() -> str | None:
    """Why the root file system stays writable in this process's namespaces (None: it is read-only, but /tmp)."""
    return _writable_root.get(os.geteuid())


def layout_support(strategy: Strategy | None, files: FunctionFiles, paths_needed: Sequence[str],
                   own_dir: Path, writable: Sequence[Path] = ()) -> str | None:
    """Why /var/task and /opt cannot be laid out for these files (asked once per process), or None.

    `paths_needed` are what the processes run, with the interpreters their #! lines name."""
    if strategy is None:
        return "no private mount namespace here"
    obstacle = layout_obstacle(files, paths_needed, own_dir)
    if obstacle is not None:
        return obstacle
    key = (os.geteuid(), strategy, files.code_dir, files.layers)
    if key not in _layout_cache:
        reason = run_probe(strategy, None, FileSystemLayout(files.code_dir, files.layers, own_dir / "fs"), writable,
                           readonly=writable_root() is None)
        _layout_cache[key] = None if reason is None else f"mounting them failed: {reason}"
    return _layout_cache[key]


def probe_both(tmp_dir: Path, files: FunctionFiles, paths_needed: Sequence[str], own_dir: Path,
               writable: Sequence[Path] = (), kept: Sequence[str] = (), *, ask: bool = True) -> None:
    """Ask the namespace question and the layout question with one program where neither is answered yet: its
    success answers both (the sandbox init mounts exactly that). Its failure answers neither, and each is then
    asked alone, so that each gets its own reason.

    `ask` False: both are answered yes unasked, for a caller that starts the sandbox init at once: its start
    enters these namespaces and mounts (and a PID namespace), so it is the probe, a fork and an exec less (~4 ms
    on the way to the runtime's start). The caller confirms the answers once the init has started
    (`settle_assumed`), or takes them back (and then asks) if it could not."""
    euid = os.geteuid()
    if euid in _probe_cache or layout_obstacle(files, paths_needed, own_dir) is not None:
        return
    strategy: Strategy = "mount-ns" if euid == 0 else "user-ns"
    key = (euid, strategy, files.code_dir, files.layers)
    if key in _layout_cache:
        return
    if not ask:
        _probe_cache[euid] = (strategy, "")
        _layout_cache[key] = None
        _assumed.append((euid, key))
        return
    if run_probe(strategy, tmp_dir, FileSystemLayout(files.code_dir, files.layers, own_dir / "fs"),
                 writable, kept=kept) is None:
        _probe_cache[euid] = (strategy, "")
        _layout_cache[key] = None


def settle_assumed(confirmed: bool) -> bool:
    """The answers `probe_both(ask=False)` gave, kept (`confirmed`: the sandbox init started in those namespaces)
    or taken back, to be asked by the next `probe_both`. Whether there were any."""
    had = bool(_assumed)
    while _assumed:
        euid, key = _assumed.pop()
        if not confirmed:
            _probe_cache.pop(euid, None)
            _layout_cache.pop(key, None)
    return had
