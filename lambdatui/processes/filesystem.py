"""The function's files as Lambda lays them out: its code read-only at /var/task, its layers merged read-only at /opt.

Built in the environment's mount namespace (sandbox.py), before /tmp is bound:

- /var becomes a read-only overlay whose lower dirs are a folder of ours holding an empty `task` and the host's
  /var beneath it (everything under /var stays visible, nothing can be written there); the code folder is bound
  on /var/task, read-only. The overlay is assembled on a staging folder and moved onto /var at the end, so that
  the code folder and the file systems mounted under /var are bound while their host paths still lead to them.
- /opt becomes the layers: an overlay of their folders (the leftmost lower dir wins, so the last layer is
  passed first), the only layer's folder bound read-only, or an empty read-only tmpfs when there is none
  (Lambda's /opt is empty then).

Writing to /var/task or /opt then fails with EROFS, as in Lambda (lambda-spec §10.1). Zip layers are extracted
once per run into the run's state folder, one copy for every environment of a fleet; where no namespace can be
made, several layers are merged into one real folder of symbolic links instead (`merged_folder`), so the
function still finds them all in one place.
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional

from lambdatui.model.paths import OPT, TASK_ROOT

from . import linux
from . import namespace_steps as steps
from .readonly_root import read_mount_points

_VAR = "/var"
# statvfs flags a bind mount inherits from its source; an unprivileged remount must keep them (they are locked).
# readonly_root._OPTION_FLAGS is the same rule read from mountinfo, for every other remount.
_KEPT_FLAGS = ((os.ST_NOSUID, linux.MS_NOSUID), (os.ST_NODEV, linux.MS_NODEV), (os.ST_NOEXEC, linux.MS_NOEXEC),
               (os.ST_NODIRATIME, linux.MS_NODIRATIME))


# ---------------------------------------------------------------------- the layers' folders


@dataclass(frozen=True)
class FunctionFiles:
    """What the sandbox lays out: the function's code folder and its layers' folders (zips extracted)."""

    code_dir: Path
    layers: tuple[Path, ...] = ()
    merged_dir: Optional[Path] = None
    """Where several layers are merged into one real folder when no /opt can be mounted (the run's own)."""
    archives: tuple[tuple[Path, Path], ...] = ()
    """(extracted folder, the .zip it came from) for each zip layer."""

    def as_given(self, text: str) -> str:
        """`text` (a launch failure) with a zip layer's extracted files named as in the archive the user gave
        (`layer.zip:extensions/x`), not by the copy in lambdatui's state folder, which the user cannot fix."""
        for folder, archive in self.archives:
            text = text.replace(f"{folder}/", f"{archive}:")
        return text


def extract_layers(layers: Sequence[Path], into: Path) -> tuple[tuple[Path, ...], list[str]]:
    """Each layer's folder, in order: a folder as it is, a .zip extracted under `into` (as Lambda extracts it:
    permissions and symbolic links kept). A zip that cannot be extracted is left out, and said.

    `into` is the run's: every environment of the fleet (a cold start, a SnapStart restore) finds the layer
    already extracted there by the first. Extracting runs on the host's one thread, so each new environment
    extracting again stalled every other environment's invokes meanwhile (a large layer: seconds, past their
    deadlines). A folder is named as extracted only once whole (renamed from `.partial`)."""
    folders: list[Path] = []
    problems: list[str] = []
    for number, layer in enumerate(layers, 1):
        if layer.is_dir():
            folders.append(layer)
            continue
        import zipfile  # only a layer given as a .zip needs it: not imported on every start

        target = extracted_folder(into, number, layer)
        if target.is_dir():
            folders.append(target)  # extracted for an earlier environment of this run
            continue
        partial = target.with_name(target.name + ".partial")
        try:
            if partial.exists():
                shutil.rmtree(partial)  # an extraction that failed before, for an earlier environment
            partial.mkdir(parents=True)
            _extract_zip(layer, partial)
            partial.rename(target)
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problems.append(f"layer {layer} could not be extracted ({reason}); it is left out")
            continue
        folders.append(target)
    return tuple(folders), problems


def extracted_folder(into: Path, number: int, archive: Path) -> Path:
    """Where the `number`-th layer, a .zip, is extracted: named by its size and time too, so that a zip rebuilt
    during the run is extracted afresh for the next new environment, as before it shared one copy."""
    try:
        found = archive.stat()
        stamp = f"-{found.st_size:x}-{found.st_mtime_ns:x}"
    except OSError:
        stamp = ""  # gone: the extraction says so
    return into / f"{number}-{archive.stem}{stamp}"


def _extract_zip(archive: Path, into: Path) -> None:
    import zipfile

    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            parts = [p for p in info.filename.split("/") if p not in ("", ".", "..")]  # as zipfile reads the name
            _refuse_links_on_the_way(into, parts, info.filename)
            if stat.S_ISLNK(mode):
                if not parts:
                    continue
                link = into.joinpath(*parts)
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(zf.read(info).decode("utf-8", "surrogateescape"), link)
                continue
            extracted = zf.extract(info, into)  # zipfile drops absolute and ".." parts of the name
            if not info.is_dir() and mode & 0o777:
                os.chmod(extracted, stat.S_IMODE(mode) & 0o777)  # an extension must stay executable


def _refuse_links_on_the_way(into: Path, parts: list[str], name: str) -> None:
    """An entry must not be written through a symbolic link an earlier entry made (`python` -> /etc, then
    `python/x`; or `x` -> /etc/passwd, then `x`): the extraction would write the host's files, outside `into`."""
    for depth in range(1, len(parts) + 1):
        if into.joinpath(*parts[:depth]).is_symlink():
            raise ValueError(f"its entry {name!r} lies behind its symbolic link {'/'.join(parts[:depth])!r}")


def layer_extensions(layers: Sequence[Path]) -> dict[str, Path]:
    """Every regular file in the layers' `extensions/` folders, which Lambda launches as external extensions
    (lambda-spec §2.6): by name, a later layer's file replacing an earlier one's, as at /opt/extensions."""
    found: dict[str, Path] = {}
    for layer in layers:
        folder = layer / "extensions"
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue  # no extensions/ in this layer
        for entry in entries:
            seen = _as_the_function_sees(layers, entry, PurePosixPath(OPT, "extensions", entry.name))
            if seen is not None and seen.is_file():
                found[entry.name] = entry
    return dict(sorted(found.items()))


_MAX_LINK_HOPS = 40  # Linux's own bound on the links one path may follow


def _as_the_function_sees(layers: Sequence[Path], path: Path, at: PurePosixPath) -> Optional[Path]:
    """The file on this machine that `path`, a layer's entry the function sees at `at` under /opt, leads to there: a
    symbolic link is followed through /opt as the function sees it (the layers merged, a later layer's entry first),
    so a link to `/opt/...` (absolute, or into another layer) finds its file. None: a link that leads nowhere."""
    for _ in range(_MAX_LINK_HOPS):
        if not path.is_symlink():
            return path
        at = PurePosixPath(os.path.normpath(at.parent / os.readlink(path)))
        if at.parts[:2] != ("/", OPT.strip("/")):
            return Path(at)  # outside /opt: the same path here as in the sandbox's read-only root
        inside = Path(*at.parts[2:])
        path = next((layer / inside for layer in reversed(layers) if os.path.lexists(layer / inside)), None)
        if path is None:
            return None
    return None


def layer_extension_names(layers: Sequence[Path]) -> tuple[str, ...]:
    """The names `layer_extensions` will find once the layers are extracted: read from a folder, or from a .zip's
    listing without extracting it (for checks made before anything runs, such as a scenario's fault targets)."""
    import zipfile

    # The folders together: a link in one may lead into another, as at /opt.
    names: set[str] = set(layer_extensions([layer for layer in layers if layer.is_dir()]))
    for layer in layers:
        if layer.is_dir():
            continue
        try:
            with zipfile.ZipFile(layer) as zf:
                listed = [info.filename for info in zf.infolist() if not info.is_dir()]
        except (OSError, zipfile.BadZipFile):
            continue  # refused with its own message when the layers are extracted
        names.update(name.split("/", 1)[1] for name in listed if name.startswith("extensions/")
                     and name.count("/") == 1)
    return tuple(sorted(names))


def merged_folder(layers: Sequence[Path], into: Optional[Path]) -> Optional[Path]:
    """Where no /opt can be mounted: one real folder holding the layers merged, a later layer's file replacing an
    earlier one's. The only layer is its own folder; several become a tree of symbolic links under `into`."""
    if len(layers) <= 1 or into is None:
        return layers[-1] if layers else None
    into.mkdir(parents=True, exist_ok=True)
    for layer in layers:
        for folder, dirs, files in os.walk(layer):
            relative = os.path.relpath(folder, layer)
            target = into if relative == "." else into / relative
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                target.unlink()  # a file of an earlier layer where this one has a folder
            target.mkdir(exist_ok=True)
            linked = files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]
            for name in linked:
                link = target / name
                if link.is_symlink() or link.is_file():
                    link.unlink()
                elif link.is_dir():
                    shutil.rmtree(link)  # a folder of an earlier layer where this one has a file
                os.symlink(os.path.join(folder, name), link)
    return into


# ---------------------------------------------------------------------- the mounts


@dataclass(frozen=True)
class FileSystemLayout:
    """/var/task and /opt for one environment; `fs_dir` is a folder of its own, inside the environment's."""

    code_dir: Path
    layers: tuple[Path, ...]
    fs_dir: Path

    def prepare(self) -> None:
        """The folders the mounts need (in the parent: the child only mounts)."""
        (self.fs_dir / "var-top" / os.path.basename(TASK_ROOT)).mkdir(parents=True, exist_ok=True)
        (self.fs_dir / "var").mkdir(exist_ok=True)

    def plan(self) -> list[tuple]:
        """The mount steps (namespace_steps.py) in a mount namespace already made private; computed here, in the
        host (what lies under /var now)."""
        if linux.LIBC is None:
            raise OSError("mount namespaces need Linux")
        self.prepare()
        stage = os.fsencode(self.fs_dir / "var")
        var_options = b"lowerdir=" + _escape(self.fs_dir / "var-top") + b":" + _escape(_VAR)
        task = stage + b"/" + os.fsencode(os.path.basename(TASK_ROOT))
        task_readonly = linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | kept_flags(self.code_dir)
        plan = [steps.mount(b"overlay", stage, linux.MS_RDONLY, "mount an overlay for /var", b"overlay", var_options)]
        # File systems mounted under /var: an overlay's lower dir shows only the file system of /var itself. Bound
        # again where we may (one we may not read stays an empty folder, as it looked to us before).
        plan += [steps.mount(os.fsencode(point), stage + os.fsencode(point[len(_VAR):]), linux.MS_BIND | linux.MS_REC,
                             None) for point in mounts_under(_VAR)]
        plan += [steps.mount(os.fsencode(self.code_dir), task, linux.MS_BIND, f"bind the code on {TASK_ROOT}"),
                 steps.mount(None, task, task_readonly, f"make {TASK_ROOT} read-only"),
                 steps.mount(stage, b"/var", linux.MS_MOVE, "move the overlay onto /var")]
        return plan + self._opt_plan()

    def _opt_plan(self) -> list[tuple]:
        opt = OPT.encode()
        layers = self.layers
        if not layers:
            return [steps.mount(b"tmpfs", opt, linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV, "mount an empty /opt",
                                b"tmpfs", b"mode=755,size=4k")]
        if len(layers) == 1:  # an overlay needs two lower dirs when it has no upper one
            remount = linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | kept_flags(layers[0])
            return [steps.mount(os.fsencode(layers[0]), opt, linux.MS_BIND | linux.MS_REC, "bind the layer on /opt"),
                    steps.mount(None, opt, remount, "make /opt read-only")]
        options = b"lowerdir=" + b":".join(_escape(layer) for layer in reversed(layers))
        return [steps.mount(b"overlay", opt, linux.MS_RDONLY, "mount the layers' overlay on /opt", b"overlay", options)]


def _escape(path: os.PathLike[str] | str) -> bytes:
    """A path as an overlay option: its separators (`,` between options, `:` between lower dirs) escaped."""
    raw = os.fsencode(path)
    return raw.replace(b"\\", b"\\\\").replace(b",", b"\\,").replace(b":", b"\\:")


def kept_flags(path: Path) -> int:
    """The mount flags a read-only remount of a bind of `path` must repeat (locked in a user namespace)."""
    try:
        flags = os.statvfs(path).f_flag
    except OSError:
        return 0
    kept = 0
    for st_flag, ms_flag in _KEPT_FLAGS:
        if flags & st_flag:
            kept |= ms_flag
    if flags & os.ST_NOATIME:
        kept |= linux.MS_NOATIME
    elif flags & os.ST_RELATIME:
        kept |= linux.MS_RELATIME
    else:
        kept |= linux.MS_STRICTATIME
    return kept


def mounts_under(root: str) -> list[str]:
    """The outermost mount points strictly below `root` (from /proc/self/mountinfo), shortest first."""
    prefix = root.rstrip("/") + "/"
    try:
        points = sorted({point.path for point in read_mount_points()})
    except OSError:
        return []
    outermost: list[str] = []
    for point in points:
        if point.startswith(prefix) and not any(point.startswith(p.rstrip("/") + "/") for p in outermost):
            outermost.append(point)
    return outermost


@functools.lru_cache(maxsize=None)
def system_folder_forms(folder: str) -> frozenset[str]:
    """A system folder (/opt, /var, /var/task, /tmp) as named and through its symbolic links, read once a process:
    an environment's start asks ~60 times, each a walk of lstat() calls (not timed alone: under a profiler, half
    of the early start's 111 realpath calls)."""
    return frozenset({folder, os.path.realpath(folder)})


_SYSTEM_FOLDERS = frozenset({OPT, TASK_ROOT, _VAR, "/tmp"})


def lies_under(path: str | os.PathLike[str], root: str) -> bool:
    """Whether `path` (itself or through a symbolic link) is `root` or inside it."""
    return _under(_forms(path), _root_forms(root))


def _forms(path: str | os.PathLike[str]) -> frozenset[str]:
    """`path` as given (absolute) and through its symbolic links: one realpath, a walk of lstat() calls."""
    text = os.fspath(path)
    return frozenset({os.path.abspath(text), os.path.realpath(text)})


def _root_forms(root: str) -> frozenset[str]:
    return system_folder_forms(root) if root in _SYSTEM_FOLDERS else frozenset({root, os.path.realpath(root)})


def _under(forms: frozenset[str], roots: frozenset[str]) -> bool:
    return any(form == r or form.startswith(r.rstrip("/") + "/") for form in forms for r in roots)


def _shipped_by_a_layer(path: str, layers: Sequence[Path]) -> bool:
    """Whether `path` names a file under /opt that one of the layers (extracted) provides."""
    prefix = OPT + "/"
    if not path.startswith(prefix):
        return False
    relative = os.path.normpath(path[len(prefix):])
    return not relative.startswith("..") and any((layer / relative).exists() for layer in layers)


def layout_obstacle(files: FunctionFiles, paths_needed: Sequence[str], own_dir: Path) -> Optional[str]:
    """Why /var/task and /opt cannot be laid out for these paths, or None.

    `paths_needed` are what the processes run (interpreters, bootstrap, scripts): hidden under /opt or /var/task,
    they could not start. The code and the layers are bound before /opt is mounted, so they may lie anywhere.
    `own_dir` is lambdatui's folder for the environment, which its processes write (stack dumps, TMPDIR).
    """
    for mount_point in (_VAR, OPT):
        if not os.path.isdir(mount_point):
            return f"this host has no {mount_point} to mount over"
    # Each path's forms are worked out once (a realpath each): a new environment asks this on the host's event loop.
    seen_inside = [_root_forms(str(folder)) for folder in (files.code_dir, *files.layers)]
    for path in paths_needed:
        forms = _forms(path)
        if any(_under(forms, folder) for folder in seen_inside):
            continue  # started as /var/task/... or /opt/...
        if _shipped_by_a_layer(path, files.layers):
            continue  # /opt/bootstrap: a layer's, which the layout puts there
        for root in (OPT, TASK_ROOT):
            if _under(forms, _root_forms(root)):
                return f"{path} lies under {root}, which the layout would hide"
    if lies_under(own_dir, _VAR):
        return f"lambdatui's state folder {own_dir} lies under /var, which is read-only in Lambda's layout"
    layers = [(layer, _forms(layer), _root_forms(str(layer))) for layer in files.layers]
    for number, (layer, layer_forms, layer_roots) in enumerate(layers):
        # overlayfs refuses lower dirs nested in one another, with ELOOP ("Too many levels of symbolic links"),
        # which would say nothing of the cause
        for other, other_forms, other_roots in layers[number + 1:]:
            if _under(other_forms, layer_roots):
                return f"layer {other} lies inside layer {layer}, and /opt cannot merge a folder with one inside it"
            if _under(layer_forms, other_roots):
                return f"layer {layer} lies inside layer {other}, and /opt cannot merge a folder with one inside it"
    return None
