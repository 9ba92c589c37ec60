"""Where lambdatui's process found each module it imported, kept for the next start (issue 9).

A start of `invoke` imports ~300 modules from source files, and Python looks each one up afresh: the path finder
asks every entry of sys.path (a top-level module) or the package's folder (a submodule) for it, each time with a
stat of the folder and, the first time, a listing of it: ~8-10 ms in all. What it finds depends only on sys.path,
the meta path and the path hooks, on the listings of the folders it searched (which change only with their
modification times), and on what a name it met there turned out to be: a folder of the module's name without an
`__init__.py` is passed over, a symbolic link may point at nothing yet. So each start's finds are recorded with the
modification times of those folders and of such folders and links; while all of them are as recorded, a module found
before is given the spec the path finder gave it (the same file, loader class and package folder) without the
search. Its code is still read, and checked against its source, by Python's own loader. Anything else (a module not
seen, a folder changed, another sys.path, meta path or path hooks, then or later in the run) is looked up as usual,
and the next save records afresh what the path finder answers then.

Not for `python -m lambdatui` (the working folder first on sys.path: a start from another folder would find other
modules first, and record again), only for the `lambdatui` command. Only where the path finder found a plain source
file (not an extension module, a frozen or builtin one, nor one another finder gave). Kept beside the package's
bytecode, with a checksum, and not written where bytecode is not (as dataclass_cache.py).
"""

from __future__ import annotations

import marshal
import os
import sys
import zlib
from _frozen_importlib_external import (BYTECODE_SUFFIXES, EXTENSION_SUFFIXES, SOURCE_SUFFIXES, PathFinder,
                                        SourceFileLoader, spec_from_file_location)
from typing import Any, Optional

_HEADER = f"lambdatui import paths 2\n{sys.version}\n{sys.executable}\n".encode()
# The meta path finders a start may meet besides this one, by class: any other could answer first for a module.
_KNOWN_FINDERS = {"_frozen_importlib.BuiltinImporter", "_frozen_importlib.FrozenImporter",
                  "_frozen_importlib_external.PathFinder", "_distutils_hack.DistutilsMetaFinder"}
# dataclass_cache's hook for attr._make, which it gives its own loader: never one of ours, and gone once used.
_OURS = "lambdatui.dataclass_cache._AttrsHook"
_SUFFIXES = (*EXTENSION_SUFFIXES, *SOURCE_SUFFIXES, *BYTECODE_SUFFIXES)

Table = dict[str, tuple[str, bool]]  # module → (its source file, whether it is a package)


class KnownPaths:
    """A meta path finder, first: the spec of a module found last time, as the path finder makes it, while sys.path
    and the finders after this one are as when the record was checked."""

    def __init__(self, table: Table, state: tuple) -> None:
        self.table = table
        self._state = state
        self._path = list(sys.path)
        self._meta: tuple[int, ...] = tuple(map(id, sys.meta_path))

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        entry = self.table.get(name)
        if entry is None:
            return None
        if sys.path != self._path or (tuple(map(id, sys.meta_path)) != self._meta and not self._same_meta_path()):
            self.table = {}  # changed while running: the path finder's own answers from now on
            return None
        origin, package = entry
        return spec_from_file_location(name, origin, loader=SourceFileLoader(name, origin),
                                       submodule_search_locations=[os.path.dirname(origin)] if package else None)

    def _same_meta_path(self) -> bool:
        if _finders_after(self) != self._state[1]:
            return False
        self._meta = tuple(map(id, sys.meta_path))
        return True

    def invalidate_caches(self) -> None:
        """importlib.invalidate_caches(): whoever calls it has changed a folder; look everything up again."""
        self.table = {}


_finder: Optional[KnownPaths] = None
_path: Optional[str] = None
_loaded: Table = {}
_folders: dict[str, Optional[int]] = {}


def default_path() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    folder = os.path.join(sys.pycache_prefix, here.lstrip(os.sep)) if sys.pycache_prefix else os.path.join(
        here, "__pycache__")
    return os.path.join(folder, f"import-paths.{sys.implementation.cache_tag}.marshal")


def install(path: Optional[str] = None) -> None:
    """Serve the modules the file knows, where everything it depends on is as it was."""
    global _finder, _path, _loaded, _folders
    if _path is not None or not sys.path or sys.path[0] in ("", os.getcwd()):
        return  # `python -m` or `-c`: the working folder comes first, and each start may have its own
    _path = path or default_path()
    recorded = _load(_path)
    if recorded is not None:
        state, _folders, _loaded = recorded
        _finder = KnownPaths(dict(_loaded), state)
        sys.meta_path.insert(0, _finder)


def _load(path: str) -> Optional[tuple[tuple, dict[str, Optional[int]], Table]]:
    try:
        with open(path, "rb") as file:
            data = file.read()
        if not data.startswith(_HEADER):
            return None
        checksum, payload = data[len(_HEADER):len(_HEADER) + 9], data[len(_HEADER) + 9:]
        if checksum != b"%08x\n" % zlib.crc32(payload):
            return None  # damaged: a changed byte can still unmarshal, into another path
        state, folders, table = marshal.loads(payload)
        if type(folders) is not dict or type(table) is not dict or state != _state():
            return None
        if any(_modified(folder) != when for folder, when in folders.items()):
            return None
        return state, folders, table
    except Exception:  # OSError, or EOFError, ValueError, TypeError: another version's, or cut short
        return None


def _state() -> tuple:
    """What every lookup depends on besides the folders: sys.path (as absolute paths: '' is the working folder),
    the meta path's finders and the path hooks."""
    return (tuple(os.path.abspath(entry) if type(entry) is str else repr(entry) for entry in sys.path),
            _finders_after(None), tuple(_name(hook) for hook in sys.path_hooks))


def _finders_after(finder: Optional[KnownPaths]) -> tuple[str, ...]:
    """The meta path's finders (after `finder`), by class, but for this module's and dataclass_cache's own."""
    finders = sys.meta_path[sys.meta_path.index(finder) + 1:] if finder in sys.meta_path else sys.meta_path
    return tuple(name for name in map(_name, finders) if name != _OURS and name != f"{__name__}.KnownPaths")


def _name(finder: Any) -> str:
    kind = finder if isinstance(finder, type) else type(finder)
    return f"{kind.__module__}.{kind.__qualname__}"


def _modified(path: str) -> Optional[int]:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def save() -> None:
    """Record what this process imported, checked with the path finder, if anything changed since the record it
    started from (a module not known, a folder changed, the record no longer used)."""
    if _path is None or sys.dont_write_bytecode:
        return
    state = _state()
    if any(name not in _KNOWN_FINDERS for name in state[1]):
        return  # a finder that could answer before the path finder: nothing is kept while it is there
    intact = _finder is not None and _finder.table == _loaded and state == _finder._state
    candidates = {name: module for name, module in list(sys.modules.items())
                  if not (intact and name in _loaded) and _source_file(module) is not None}
    if intact and not candidates:
        return  # everything it imported is known (whatever changed since, the next start checks it)
    kept = intact and all(_modified(folder) == when for folder, when in _folders.items())
    table = dict(_loaded) if kept else {}
    if intact and not kept:  # a folder changed during the run: every module is asked about again
        candidates = {name: module for name, module in list(sys.modules.items()) if _source_file(module) is not None}
    # Taken before the path finder is asked: a folder that changes meanwhile must not pass for unchanged.
    before = {folder: _modified(folder) for folder in {*state[0], *_folders,
                                                        *(os.path.dirname(m.__spec__.origin) for m in candidates.values())}}
    found = {name: where for name, module in candidates.items() if (where := _found_by_path_finder(name, module))}
    if kept and not found:
        return  # what it imported is known (or never will be: not the path finder's)
    table.update(found)
    now = {folder: _modified(folder) for folder in _searched(table, state[0])}
    if any(before.get(folder, when) != when for folder, when in now.items()):
        return  # a folder changed while the path finder was asked: the next start records again
    payload = marshal.dumps((state, now, table))
    temporary = f"{_path}.{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(_path), exist_ok=True)
        with open(temporary, "wb") as file:
            file.write(_HEADER + b"%08x\n" % zlib.crc32(payload) + payload)
        os.replace(temporary, _path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def _source_file(module: Any) -> Optional[str]:
    spec = getattr(module, "__spec__", None)
    loader = getattr(spec, "loader", None)
    if type(loader) is not SourceFileLoader or "exec_module" in vars(loader) or not spec.has_location:
        return None  # another loader, or one whose work another hook changed (dataclass_cache's for attrs)
    return spec.origin if type(spec.origin) is str else None


def _searched(table: Table, path: tuple[str, ...]) -> set[str]:
    """The folders whose listings the lookups depend on, and what a name met in them could turn out to be: the
    folders searched (sys.path up to where a top-level module was found; a package's folder), and in them any
    folder or symbolic link of the module's name or file names."""
    listings: dict[str, set[str]] = {}
    searched: set[str] = set(path)
    for name, (origin, _) in table.items():
        holder = os.path.dirname(origin)
        if os.path.basename(origin).startswith("__init__."):
            holder = os.path.dirname(holder)
        folders = [holder] if "." in name else [*path[:path.index(holder)], holder] if holder in path else path
        searched.add(os.path.dirname(origin))
        tail = name.rpartition(".")[2]
        for folder in folders:
            searched.add(folder)
            if folder not in listings:
                try:
                    listings[folder] = set(os.listdir(folder))
                except OSError:
                    listings[folder] = set()
            for candidate in (tail, *(tail + suffix for suffix in _SUFFIXES)):
                if candidate in listings[folder]:
                    met = os.path.join(folder, candidate)
                    if os.path.islink(met) or os.path.isdir(met):
                        searched.add(met)
    return searched


def _found_by_path_finder(name: str, module: Any) -> Optional[tuple[str, bool]]:
    """The module's file, where the path finder gives the same spec for it now (a plain source file)."""
    spec = module.__spec__
    parent, _, _ = name.rpartition(".")
    search = getattr(sys.modules.get(parent), "__path__", None) if parent else None
    if parent and (type(search) is not list or len(search) != 1):
        return None  # a namespace package's or one that extends its path: a folder not recorded could come first
    try:
        again = PathFinder.find_spec(name, search)
    except Exception:  # noqa: BLE001 - a hook of someone else's failing: not ours to keep
        return None
    if again is None or type(again.loader) is not SourceFileLoader or again.origin != spec.origin:
        return None
    package = spec.submodule_search_locations is not None
    if package and list(spec.submodule_search_locations) != [os.path.dirname(spec.origin)]:
        return None
    return spec.origin, package
