"""Give an execution environment's processes their own /tmp, and the function's files where Lambda puts them.

Where the OS allows it (root, or unprivileged user namespaces), each child enters
a private mount namespace in which the environment's directory is bind-mounted
on /tmp, the code and layers are laid out read-only at /var/task and /opt
(filesystem.py), and the rest of the file system is read-only, as in Lambda (readonly_root.py; how a child
enters the namespace, and the probes that ask whether it can, are namespaces.py). What the processes run from the
host's /tmp (a virtualenv or a checkout cloned there) is seen again, read-only, at its own path in the private
/tmp, from the folder directly in /tmp that holds it (`kept_folders`). Elsewhere the children only
get TMPDIR pointing there, and the note says plainly that absolute /tmp paths reach the host's /tmp;
`files_note` says so for /var/task and /opt, and `root_note` for the rest of the file system.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Optional

from lambdatui.model.paths import OPT, TASK_ROOT, SandboxPaths

from . import namespaces
from .filesystem import FileSystemLayout, FunctionFiles, lies_under, merged_folder, system_folder_forms
from .namespaces import TMP as _TMP
from .namespaces import Strategy, namespace_plan, namespace_setup
from .sandbox_hosts import HOST_LOOPBACK, own_loopback, write_hosts_file
from .site_paths import virtualenv_site_paths
from .tree_removal import remove_tree_reporting

SandboxMode = Literal["mount-namespace", "tmpdir"]

_INIT_SCRIPT = str(Path(__file__).with_name("sandbox_init.py"))  # the init's program, run inside the namespace


def _within_tmp(path: str | os.PathLike[str]) -> list[str]:
    """What follows /tmp/ in each form of `path` (as given, and through its symbolic links) that lies under /tmp;
    "" for /tmp itself."""
    text = os.fspath(path)
    found = []
    for form in {os.path.abspath(text), os.path.realpath(text)}:
        for tmp in system_folder_forms(_TMP):
            if form == tmp:
                found.append("")
            elif form.startswith(tmp + "/"):
                found.append(form[len(tmp) + 1:])
    return found


def lies_under_tmp(path: str | os.PathLike[str]) -> bool:
    """Whether a private /tmp would hide `path` (itself or through a symlink): the rule the sandbox applies."""
    return bool(_within_tmp(path))


def kept_folders(paths: Sequence[str]) -> Optional[tuple[str, ...]]:
    """The folders of the host's /tmp to bind again over a private /tmp so that `paths` stay reachable at their own
    paths: for each path under /tmp, the folder directly in /tmp that holds it (a checkout or a virtualenv cloned
    there holds the interpreter, the bootstrap and the packages they import, more than the paths named). None when
    a path is /tmp itself, which no private /tmp can keep."""
    kept: list[str] = []
    for path in paths:
        for rest in _within_tmp(path):
            if not rest:
                return None
            folder = _TMP + "/" + rest.split("/", 1)[0]
            if folder not in kept:
                kept.append(folder)
    return tuple(kept)


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


def kept_how(kept: Sequence[str], writable: Sequence[str], readonly: bool) -> str:
    """How the function may use the `kept` folders: read-only, but for the `writable` folders inside them (the
    run's folder, where lambdatui's processes write, when the state folder lies under /tmp)."""
    if not readonly:
        return "writable, as the root file system is"
    inside = [folder for folder in writable if any(lies_under(folder, path) for path in kept)]
    if not inside:
        return "read-only"
    # Said, since the function can write there too (and see what lies there: every environment's /tmp of the run).
    return f"read-only but {', '.join(inside)}, where lambdatui's processes write"


def _seen(kept: Sequence[str]) -> str:
    return f"the host's {', '.join(kept)} {'is' if len(kept) == 1 else 'are'} seen"


def kept_note(kept: Sequence[str], hidden: Sequence[str], how: str) -> str:
    """The one line every front end shows when folders of the host's /tmp are seen in the environment's /tmp (`how`:
    `kept_how`)."""
    # What each folder is kept for: the first path needed from it.
    needs = [next((p for p in hidden if lies_under(p, folder)), folder) for folder in kept]
    return (f"/tmp is the environment's own, but {_seen(kept)} in it too ({how}): the processes need "
            f"{', '.join(dict.fromkeys(needs))} from there, which a private /tmp alone would hide")


def reached(paths: Sequence[str]) -> list[str]:
    """`paths` with what running them reaches besides: the interpreter each script's #! line names, and the folders
    a virtualenv's interpreter imports from (an editable install's), each once."""
    with_interpreters = [*paths, *(i for p in paths for i in script_interpreters(p))]
    return list(dict.fromkeys([*with_interpreters, *virtualenv_site_paths(with_interpreters)]))


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
    loopback: str = HOST_LOOPBACK
    """Where the sandbox's names resolve in it (`own_loopback`); the host's 127.0.0.1 without a `hosts_file`."""
    layout: Optional[FileSystemLayout] = None
    """The code at /var/task and the layers at /opt, mounted in the namespace; None where they cannot be."""
    paths: Optional[SandboxPaths] = None
    """Where the processes see the function's files, and where those are (None: no `files` were given)."""
    files_note: Optional[str] = None
    """What of Lambda's /var/task and /opt is not emulated, and why, in one line (None: all of it is)."""
    writable: tuple[Path, ...] = ()
    """Folders lambdatui's processes write (the run's folder: stack dumps, a SnapStart copy's /tmp), writable in
    the namespace whose root file system is otherwise read-only."""
    writable_root: Optional[str] = None
    """Why the root file system stays writable in the namespace (the kernel refused a remount); None: it is
    read-only there but /tmp, as in Lambda."""
    kept: tuple[str, ...] = ()
    """Folders of the host's /tmp seen again, read-only and at their own paths, in the private /tmp (mode
    "mount-namespace"): what the processes run lies there (`kept_folders`); `note` says which and why."""

    @classmethod
    def create(cls, tmp_dir: Path, paths_needed: Sequence[str], *, files: Optional[FunctionFiles] = None,
               writable: Sequence[Path] = (), ask: bool = True) -> Sandbox:
        """Isolate /tmp if the OS allows it.

        `paths_needed` are host paths the children must still reach (interpreter, code, bootstrap, and the #!
        interpreter of any script among them): those under /tmp, which the bind mount would hide, are kept in
        sight (`kept`).
        With `files`, the function's code and layers are also laid out at /var/task and /opt wherever a
        mount namespace can be made and nothing needed lies under them. `writable` folders stay writable there.
        `ask` False: whether they can is not asked where it is not known yet, but assumed, for the sandbox init's
        start to settle (namespaces.probe_both).
        """
        kept_writable = tuple(Path(os.path.abspath(folder)) for folder in writable)
        if files is None:
            return cls._create(tmp_dir, reached(paths_needed), kept_writable)
        # The sandbox init runs in the namespace too, on lambdatui's own interpreter.
        needed = reached([*paths_needed, sys.executable, _INIT_SCRIPT])
        # Laid out, the code and the layers are reached at /var/task and /opt, bound before /tmp is covered: where
        # they lie does not matter then, only where the rest does.
        laid_out = [str(files.code_dir), *map(str, files.layers)]
        elsewhere = [p for p in needed if not any(lies_under(p, folder) for folder in laid_out)]
        tmp = Path(os.path.abspath(tmp_dir))
        folders = kept_folders([p for p in [*elsewhere, *map(str, kept_writable)] if lies_under_tmp(p)]) or ()
        # One program for both questions where it can.
        namespaces.probe_both(tmp, files, needed, tmp.parent, kept_writable, folders, ask=ask)
        sandbox = cls._create(tmp_dir, elsewhere, kept_writable)._with_files(files, needed)
        if sandbox.layout is None and len(elsewhere) < len(needed):
            sandbox.close()  # not laid out after all: the code and the layers are reached where they lie
            sandbox = cls._create(tmp_dir, needed, kept_writable)._with_files(files, needed)
        return sandbox

    def _with_files(self, files: FunctionFiles, needed: Sequence[str]) -> Sandbox:
        code_dir = str(files.code_dir)
        layers = tuple(str(layer) for layer in files.layers)
        why_not = namespaces.layout_support(self.strategy, files, needed, self.tmp_dir.parent, self.writable)
        if why_not is None:
            layout = FileSystemLayout(files.code_dir, files.layers, self.tmp_dir.parent / "fs")
            return replace(self, layout=layout, paths=SandboxPaths(code_dir, TASK_ROOT, layers, OPT))
        merged = merged_folder(files.layers, files.merged_dir) if files.layers else None
        paths = SandboxPaths(code_dir, code_dir, layers, str(merged) if merged is not None else None)
        return replace(self, paths=paths, files_note=not_laid_out_note(why_not, paths, self.writable_in(code_dir)))

    @classmethod
    def _create(cls, tmp_dir: Path, paths: Sequence[str], writable: tuple[Path, ...] = ()) -> Sandbox:
        """`paths`: all the processes must reach (`reached`)."""
        tmp_dir = Path(os.path.abspath(tmp_dir))
        if not tmp_dir.is_dir():
            raise NotADirectoryError(f"environment /tmp directory does not exist: {tmp_dir}")
        hidden = [p for p in [*paths, *map(str, writable)] if lies_under_tmp(p)]
        # What lies under /tmp is bound again over the private /tmp, from the folder in /tmp that holds it; only
        # /tmp itself cannot be kept so.
        kept = kept_folders(hidden)
        strategy, reason = namespaces.namespace_support(tmp_dir, writable, kept or ())
        loopback = own_loopback() if strategy is not None else HOST_LOOPBACK
        hosts = write_hosts_file(tmp_dir.parent / "hosts", loopback) if strategy is not None else None
        root = namespaces.writable_root() if strategy is not None else None
        if kept is None:
            # No private /tmp, but a mount namespace still serves the PID namespace's /proc and /etc/hosts (and the
            # read-only root, the host's /tmp left writable).
            return replace(cls.tmpdir_only(tmp_dir, shared_tmp_note(
                f"{hidden[0]} lies under /tmp, which a private /tmp would hide", tmp_dir)), strategy=strategy,
                hosts_file=hosts, loopback=loopback, writable=writable, writable_root=root)
        if strategy is None:
            note = shared_tmp_note(f"no private mount namespace here ({reason})", tmp_dir)
            return cls.tmpdir_only(tmp_dir, f"{note}; nor can sandbox.localdomain resolve to this sandbox's loopback "
                                            "(telemetry listeners use that name), and localhost is the host's")
        made = cls(tmp_dir=tmp_dir, mode="mount-namespace", strategy=strategy, handle=DirHandle(tmp_dir),
                   hosts_file=hosts, loopback=loopback, writable=writable, writable_root=root, kept=kept)
        return replace(made, note=kept_note(kept, hidden, made._kept_how())) if kept else made

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
        """The environment as the processes get it: with a /tmp of their own, as given (Lambda sets no TMPDIR, and a
        TEMP or TMP of the function's configuration is its own to keep); else the temp-dir variables pointing at
        this sandbox's folder, which stands in for /tmp."""
        adjusted = dict(env)
        if self.mode != "mount-namespace":
            for name in ("TMPDIR", "TEMP", "TMP"):
                adjusted[name] = str(self.tmp_dir)
        return adjusted

    def child_setup(self, cwd: Optional[str] = None) -> Callable[[], None] | None:
        """The pre-exec step for every child, or None when there is nothing to do; with a `layout`, a child forked
        directly (no sandbox init) starts in "/" and changes to its `cwd` here, once /var/task exists."""
        if not self.namespaced_children:
            return None
        assert self.strategy is not None
        return namespace_setup(self.strategy, self.tmp_dir if self.mode == "mount-namespace" else None,
                               hosts_file=self.hosts_file, layout=self.layout, cwd=cwd, writable=self.writable,
                               readonly=self.writable_root is None, kept=self.kept)

    def init_plan(self) -> Optional[list[tuple]]:
        """The steps the sandbox init takes into its namespaces (its children are born in a PID namespace, with this
        /tmp), or None where no mount namespace can be made. Worked out once (~0.5 ms with a file system layout):
        every reset's init takes the same steps, and a crash's reset asks for them on its answer's way."""
        if self.strategy is None:
            return None
        plan: Optional[list[tuple]] = self.__dict__.get("_init_plan")
        if plan is None:
            plan = namespace_plan(self.strategy, self.tmp_dir if self.mode == "mount-namespace" else None,
                                  new_pid=True, hosts_file=self.hosts_file, layout=self.layout,
                                  writable=self.writable, readonly=self.writable_root is None, kept=self.kept)
            object.__setattr__(self, "_init_plan", plan)  # frozen: a cache, not a field (`replace` makes it anew)
        return plan

    @property
    def panel_note(self) -> Optional[str]:
        """`note` as the debugger's /tmp panel gives it: where the host's folders are seen, only what the panel's
        listing leaves out (the whole note is in the log); where /tmp is shared, all of it."""
        if not self.kept:
            return self.note
        return f"{_seen(self.kept)} here too ({self._kept_how()})"

    def _kept_how(self) -> str:
        return kept_how(self.kept, [str(folder) for folder in self.writable], self.writable_root is None)

    @property
    def kept_names(self) -> frozenset[str]:
        """The names in the environment's /tmp where the `kept` folders are seen: the host's, not the function's, so
        left out of what the debugger lists as the function's /tmp (`note` names them)."""
        return frozenset(os.path.basename(path) for path in self.kept)

    @property
    def namespaced_children(self) -> bool:
        """Whether a child started without the sandbox init still enters a mount namespace (`child_setup`)."""
        return self.strategy is not None and (self.mode == "mount-namespace" or self.layout is not None)

    def writable_in(self, path: str | os.PathLike[str]) -> Optional[bool]:
        """Whether the function may write `path` (a host path) in its namespace; None without one (then the host's
        own permissions decide). /tmp (but the `kept` folders) and the `writable` folders are; the rest is not, unless a
        remount was refused."""
        if self.strategy is None or self.writable_root is not None:
            return None
        if any(lies_under(path, str(folder)) for folder in self.writable):
            return True
        return lies_under_tmp(path) and not any(lies_under(path, folder) for folder in self.kept)

    def root_note(self, namespaced: bool) -> str:
        """One sentence for start-up: whether the file system outside /tmp is read-only, as in Lambda. `namespaced`:
        the processes do enter the mount namespace (the sandbox init, or `child_setup`, could be started)."""
        if namespaced and self.strategy is not None and self.writable_root is None:
            return ("Files: only /tmp is writable, as in Lambda; a write anywhere else (the code's folder, $HOME, "
                    "/etc) fails with EROFS.")
        why = self.writable_root or "no mount namespace here"
        return (f"Files: the root file system stays writable ({why}): a write Lambda refuses with EROFS (anywhere "
                "but /tmp) succeeds here.")


def not_laid_out_note(why: str, paths: SandboxPaths, writable: Optional[bool] = None) -> str:
    """The one line every front end shows when the code is not at /var/task nor the layers at /opt, and why."""
    layers = ""
    if paths.opt is not None:
        layers = (f"; its layers are read from {paths.opt}, not /opt (an extension or wrapper that names /opt "
                  "paths will not find them)")
    # Lambda's /var/task is read-only: say whether this folder differs. In a mount namespace the read-only root
    # decides (`writable`); without one, the host's permissions (another user's code may be read-only too).
    if writable is None:
        writable = os.access(paths.code_dir, os.W_OK)
    writes = "which it can write to" if writable else "which it cannot write to, as in Lambda"
    return (f"/var/task and /opt are not laid out as in Lambda ({why}): the function runs from {paths.code_dir} "
            f"(LAMBDA_TASK_ROOT), {writes}{layers}")
