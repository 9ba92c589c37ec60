"""Give an execution environment's processes their own /tmp, and the function's files where Lambda puts them.

Where the OS allows it (root, or unprivileged user namespaces), each child enters
a private mount namespace in which the environment's directory is bind-mounted
on /tmp, and the code and layers are laid out read-only at /var/task and /opt
(filesystem.py). Elsewhere the children only get TMPDIR pointing there, and the note
says plainly that absolute /tmp paths reach the host's /tmp; `files_note` says so
for /var/task and /opt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Optional

from lambdatui.model.paths import OPT, TASK_ROOT, SandboxPaths

from . import linux
from .filesystem import FileSystemLayout, FunctionFiles, layout_obstacle, merged_folder
from .tree_removal import remove_tree_reporting

SandboxMode = Literal["mount-namespace", "tmpdir"]
# How a child enters its namespace: as root a plain mount namespace is enough;
# otherwise a user namespace that maps the caller's uid/gid onto themselves
# grants the right to mount without changing who the process is.
Strategy = Literal["mount-ns", "user-ns"]

_TMP = "/tmp"
_INIT_SCRIPT = str(Path(__file__).with_name("sandbox_init.py"))  # the init's program, run inside the namespace

# The probe forks and execs; the answer depends on the kernel, the user and the
# container, none of which change while we run, so it is asked once per process.
_probe_cache: dict[int, tuple[Strategy | None, str]] = {}
# Whether /var/task and /opt can be mounted, by (euid, strategy, code, layers): the answer depends on the kernel
# (overlayfs, unprivileged overlays) and on the folders, asked once per process for each.
_layout_cache: dict[tuple[object, ...], str | None] = {}


def _probe_program() -> list[str]:
    for candidate in ("/bin/true", "/usr/bin/true"):
        if os.access(candidate, os.X_OK):
            return [candidate]
    return ["/bin/sh", "-c", ":"]


def namespace_setup(strategy: Strategy, tmp_dir: Optional[Path], *, new_pid: bool = False,
                    hosts_file: Optional[Path] = None,
                    layout: Optional[FileSystemLayout] = None, cwd: Optional[str] = None) -> Callable[[], None]:
    """The step a child runs between fork and exec to see `tmp_dir` as /tmp (None: keep the host's /tmp),
    `hosts_file` as /etc/hosts (where `sandbox.localdomain` resolves, as in Lambda), and with a `layout`, the
    function's code at /var/task and its layers at /opt; then it changes to `cwd` (which may exist only there).

    `new_pid` also makes a PID namespace for the processes the child will start (the sandbox init's: see
    sandbox_init.py); it needs the mount namespace, where the namespace's own /proc is mounted.
    Everything it needs is computed here, in the parent; the returned function
    only calls pre-resolved libc functions and os primitives.
    """
    libc = linux.LIBC
    if libc is None:
        raise OSError("mount namespaces need Linux")
    unshare, mount = libc.unshare, libc.mount
    user_ns = strategy == "user-ns"
    flags = linux.CLONE_NEWNS | (linux.CLONE_NEWUSER if user_ns else 0) | (linux.CLONE_NEWPID if new_pid else 0)
    uid, gid = os.geteuid(), os.getegid()
    uid_map = f"{uid} {uid} 1".encode()
    gid_map = f"{gid} {gid} 1".encode()
    source = os.fsencode(tmp_dir) if tmp_dir is not None else None
    target = _TMP.encode()
    check, write_file = linux.check_call, linux.write_file
    private_flags = linux.MS_REC | linux.MS_PRIVATE
    bind_flags = linux.MS_BIND
    bind_what = f"bind {tmp_dir} on /tmp"
    hosts_source = os.fsencode(hosts_file) if hosts_file is not None else None
    what = "+".join(["user"] * user_ns + ["mount"] + ["PID"] * new_pid)
    lay_out = layout.setup() if layout is not None else None
    chdir = os.chdir

    def setup() -> None:
        check(unshare(flags), f"unshare({what} namespace)")
        if user_ns:
            try:
                # An unprivileged process may only write gid_map once setgroups is denied.
                write_file(b"/proc/self/setgroups", b"deny")
            except FileNotFoundError:
                pass  # kernels before 3.19 have no such file and no such rule
            write_file(b"/proc/self/uid_map", uid_map)
            write_file(b"/proc/self/gid_map", gid_map)
        # Without this, on systemd hosts (/ is shared) our bind mount would
        # propagate back to the real /tmp of every other process.
        check(mount(None, b"/", None, private_flags, None), "make / private")
        if hosts_source is not None:  # first: the file may lie under /tmp, which the next bind hides
            check(mount(hosts_source, b"/etc/hosts", None, bind_flags, None), "bind the sandbox's /etc/hosts")
        if lay_out is not None:  # before /tmp too: the code or a layer may lie under /tmp
            lay_out()
        if source is not None:
            check(mount(source, target, None, bind_flags, None), bind_what)
        if cwd is not None:
            chdir(cwd)

    return setup


# Telemetry listeners bind, and extensions send to, these names (lambda-spec §3.2): inside Lambda they are the
# sandbox's own loopback.
SANDBOX_HOSTNAMES = ("sandbox.localdomain", "sandbox")


def write_hosts_file(path: Path) -> Path:
    """The environment's /etc/hosts: the host's own entries, and the sandbox's names on loopback."""
    try:
        with open("/etc/hosts", encoding="utf-8", errors="replace") as fh:
            base = fh.read()
    except OSError:
        base = "127.0.0.1 localhost\n"
    if base and not base.endswith("\n"):
        base += "\n"
    path.write_text(f"{base}127.0.0.1 {' '.join(SANDBOX_HOSTNAMES)}\n")
    return path


def _run_probe(strategy: Strategy, tmp_dir: Optional[Path], layout: Optional[FileSystemLayout] = None) -> str | None:
    """Run a trivial program inside the namespace; None on success, else the reason."""
    try:
        setup = namespace_setup(strategy, tmp_dir, layout=layout)
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
        return reason or str(exc)
    os.close(write_fd)
    os.close(read_fd)
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "probe did not finish"
    return None if code == 0 else f"probe exited with status {code}"


def _namespace_support(tmp_dir: Path) -> tuple[Strategy | None, str]:
    """Which strategy this process can use (cached), or None and why not."""
    euid = os.geteuid()
    cached = _probe_cache.get(euid)
    if cached is not None:
        return cached
    strategies: list[Strategy] = ["mount-ns", "user-ns"] if euid == 0 else ["user-ns"]
    reasons: list[str] = []
    result: tuple[Strategy | None, str] | None = None
    for strategy in strategies:
        reason = _run_probe(strategy, tmp_dir)
        if reason is None:
            result = (strategy, "")
            break
        reasons.append(reason)
    if result is None:
        result = (None, "; ".join(reasons))
    _probe_cache[euid] = result
    return result


def lies_under_tmp(path: str | os.PathLike[str]) -> bool:
    """Whether a private /tmp would hide `path` (itself or through a symlink): the rule the sandbox applies."""
    text = os.fspath(path)
    tmp_forms = {_TMP, os.path.realpath(_TMP)}
    for form in {os.path.abspath(text), os.path.realpath(text)}:
        for tmp in tmp_forms:
            if form == tmp or form.startswith(tmp + "/"):
                return True
    return False


def script_interpreters(path: str) -> list[str]:
    """The interpreter a `#!` script names (for `#!/usr/bin/env NAME`, also NAME as found on PATH).

    The kernel execs it inside the namespace, so it too must stay visible: a custom runtime's bootstrap
    whose #! line names a virtualenv's python under /tmp would otherwise fail to start ("interpreter not
    found"). What a shell script's body runs is beyond reading; only the #! line is.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:  # a folder, a missing or unreadable file: nothing to add
        return []
    if not head.startswith(b"#!"):
        return []
    words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if not words:
        return []
    found = [words[0]]
    if os.path.basename(words[0]) == "env":
        names = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        program = shutil.which(names[0]) if names else None
        if program is not None:
            found.append(program)
    return found


def shared_tmp_note(reason: str, tmp_dir: Path) -> str:
    """The one line every front end shows when the environment shares the host's /tmp, and why."""
    # The headless modes print it as it is and the TUI shows it whole: it must read as one sentence.
    return (f"/tmp is not isolated: {reason}; absolute /tmp paths reach the host's /tmp "
            f"(TMPDIR={tmp_dir} is the environment's own)")


class DirHandle:
    """A directory opened once, when the environment was created: every later look at it starts here.

    User code owns what is inside, and in TMPDIR mode it can reach the directory's path too: it can rename
    the directory and put a link to `/` in its place. A walk that starts from this handle still reads the
    directory that was created, wherever it went, never what its old path leads to now.
    """

    def __init__(self, path: Path) -> None:
        self.fd: Optional[int] = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def __repr__(self) -> str:
        return f"DirHandle(fd={self.fd})"


@dataclass(frozen=True)
class Sandbox:
    """One execution environment's isolation: its /tmp, how (or why not) its children get a mount
    namespace, and where they see the function's files."""

    tmp_dir: Path
    """The environment's /tmp, as the host sees it."""
    mode: SandboxMode
    note: str | None = None
    """Why /tmp is not isolated (mode "tmpdir"), in one line for the UI."""
    strategy: Strategy | None = None
    """How children enter a mount namespace (the one with the private /tmp in mode "mount-namespace")."""
    handle: Optional[DirHandle] = field(default=None, compare=False)
    """`tmp_dir`, opened when the sandbox was made: what the host lists (see DirHandle)."""
    hosts_file: Optional[Path] = None
    """Bound on /etc/hosts in the namespace (beside `tmp_dir`); None where no mount namespace can be made."""
    layout: Optional[FileSystemLayout] = None
    """The code at /var/task and the layers at /opt, mounted in the namespace; None where they cannot be."""
    paths: Optional[SandboxPaths] = None
    """Where the processes see the function's files, and where those are (None: no `files` were given)."""
    files_note: Optional[str] = None
    """What of Lambda's /var/task and /opt is not emulated, and why, in one line (None: all of it is)."""

    @classmethod
    def create(cls, tmp_dir: Path, paths_needed: Sequence[str], *, files: Optional[FunctionFiles] = None) -> Sandbox:
        """Isolate /tmp if the OS allows it and nothing the children need lives under /tmp.

        `paths_needed` are host paths the children must still reach (interpreter,
        code, bootstrap, and the #! interpreter of any script among them): the
        bind mount would hide them if they lie under /tmp.
        With `files`, the function's code and layers are also laid out at /var/task and /opt wherever a
        mount namespace can be made and nothing needed lies under them.
        """
        sandbox = cls._create(tmp_dir, paths_needed)
        if files is None:
            return sandbox
        return sandbox._with_files(files, [*paths_needed, sys.executable, _INIT_SCRIPT])

    def _with_files(self, files: FunctionFiles, paths_needed: Sequence[str]) -> Sandbox:
        code_dir = str(files.code_dir)
        layers = tuple(str(layer) for layer in files.layers)
        why_not = _layout_support(self.strategy, files, paths_needed, self.tmp_dir.parent)
        if why_not is None:
            layout = FileSystemLayout(files.code_dir, files.layers, self.tmp_dir.parent / "fs")
            return replace(self, layout=layout, paths=SandboxPaths(code_dir, TASK_ROOT, layers, OPT))
        merged = merged_folder(files.layers, files.merged_dir) if files.layers else None
        paths = SandboxPaths(code_dir, code_dir, layers, str(merged) if merged is not None else None)
        return replace(self, paths=paths, files_note=not_laid_out_note(why_not, paths))

    @classmethod
    def _create(cls, tmp_dir: Path, paths_needed: Sequence[str]) -> Sandbox:
        tmp_dir = Path(os.path.abspath(tmp_dir))
        if not tmp_dir.is_dir():
            raise NotADirectoryError(f"environment /tmp directory does not exist: {tmp_dir}")
        paths = [*paths_needed, *(i for p in paths_needed for i in script_interpreters(p))]
        hidden = [p for p in paths if lies_under_tmp(p)]
        strategy, reason = _namespace_support(tmp_dir)
        hosts = write_hosts_file(tmp_dir.parent / "hosts") if strategy is not None else None
        if hidden:
            # No private /tmp, but a mount namespace still serves the PID namespace's /proc and /etc/hosts.
            return replace(cls.tmpdir_only(tmp_dir, shared_tmp_note(
                f"{hidden[0]} lies under /tmp, which a private /tmp would hide", tmp_dir)), strategy=strategy,
                hosts_file=hosts)
        if strategy is None:
            note = shared_tmp_note(f"no private mount namespace here ({reason})", tmp_dir)
            return cls.tmpdir_only(tmp_dir, f"{note}; nor can sandbox.localdomain resolve to this sandbox's loopback "
                                            "(telemetry listeners use that name)")
        return cls(tmp_dir=tmp_dir, mode="mount-namespace", strategy=strategy, handle=DirHandle(tmp_dir),
                   hosts_file=hosts)

    @classmethod
    def tmpdir_only(cls, tmp_dir: Path, note: str) -> Sandbox:
        """No namespace: for platforms without one, or a user who asked for none."""
        tmp_dir = Path(os.path.abspath(tmp_dir))
        return cls(tmp_dir=tmp_dir, mode="tmpdir", note=note, handle=DirHandle(tmp_dir))

    def close(self) -> None:
        """Let go of the directory handle: the environment is over."""
        if self.handle is not None:
            self.handle.close()

    def remove(self, folder: Path) -> Optional[str]:
        """Close the handle and remove `folder` (the environment's own, holding `tmp_dir`), however deep.

        None when it all went; else the one line that says what stayed and why (never an exception:
        leaving a folder behind must not stop lambdatui, and the next start removes it or says so).
        """
        self.close()
        return remove_tree_reporting(folder)

    def adjust_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """The environment with the temp-dir variables pointing at this sandbox's /tmp."""
        adjusted = dict(env)
        if self.mode == "mount-namespace":
            adjusted["TMPDIR"] = _TMP
            # Host-side values would point outside the namespace's /tmp.
            for name in ("TEMP", "TMP"):
                if name in adjusted:
                    adjusted[name] = _TMP
        else:
            for name in ("TMPDIR", "TEMP", "TMP"):
                adjusted[name] = str(self.tmp_dir)
        return adjusted

    def child_setup(self, cwd: Optional[str] = None) -> Callable[[], None] | None:
        """The pre-exec step for every child, or None when there is nothing to do; with a `layout`, a child forked
        directly (no sandbox init) starts in "/" and changes to its `cwd` here, once /var/task exists."""
        if self.strategy is None or (self.mode != "mount-namespace" and self.layout is None):
            return None
        return namespace_setup(self.strategy, self.tmp_dir if self.mode == "mount-namespace" else None,
                               hosts_file=self.hosts_file, layout=self.layout, cwd=cwd)

    def init_setup(self) -> Callable[[], None] | None:
        """The pre-exec step of the sandbox init (its children are born in a PID namespace, with this /tmp), or
        None where no mount namespace can be made."""
        if self.strategy is None:
            return None
        return namespace_setup(self.strategy, self.tmp_dir if self.mode == "mount-namespace" else None, new_pid=True,
                               hosts_file=self.hosts_file, layout=self.layout)


def _layout_support(strategy: Strategy | None, files: FunctionFiles, paths_needed: Sequence[str],
                    own_dir: Path) -> str | None:
    """Why /var/task and /opt cannot be laid out for these files (asked once per process), or None."""
    if strategy is None:
        return "no private mount namespace here"
    needed = [*paths_needed, *(i for p in paths_needed for i in script_interpreters(p))]
    obstacle = layout_obstacle(files, needed, own_dir)
    if obstacle is not None:
        return obstacle
    key = (os.geteuid(), strategy, files.code_dir, files.layers)
    if key not in _layout_cache:
        reason = _run_probe(strategy, None, FileSystemLayout(files.code_dir, files.layers, own_dir / "fs"))
        _layout_cache[key] = None if reason is None else f"mounting them failed: {reason}"
    return _layout_cache[key]


def not_laid_out_note(why: str, paths: SandboxPaths) -> str:
    """The one line every front end shows when the code is not at /var/task nor the layers at /opt, and why."""
    layers = ""
    if paths.opt is not None:
        layers = (f"; its layers are read from {paths.opt}, not /opt (an extension or wrapper that names /opt "
                  "paths will not find them)")
    return (f"/var/task and /opt are not laid out as in Lambda ({why}): the function runs from {paths.code_dir} "
            f"(LAMBDA_TASK_ROOT), which it can write to{layers}")
