"""Where lambdatui's process found each module it imported, kept for the next start (issue 9).

A start of `invoke` imports ~300 modules from source files, and Python looks each one up afresh: the path finder
asks every entry of sys.path (a top-level module) or the package's folder (a submodule) for it, each time with a
stat of the folder and the names it could go by, ~25 µs a module, ~8 ms in all. What it finds depends only on
sys.path and on the listings of those folders; a listing changes only with the folder's modification time. So the
folders are recorded with what was found in them, and while sys.path, the meta path and every one of those folders'
modification times are as recorded, a module found last time is given the spec the path finder would give it (the
same file, the same loader class, the same package folder) without the search. Anything else (a module not seen,
a folder changed, another sys.path or another finder on the meta path) is looked up as usual, and the next save
records the new state. Only where the path finder found a plain source file (not an extension module, a frozen or
builtin one, nor one another finder gave), and only modules are found here: their code is still read, and checked
against its source, by Python's own loader. Not written where bytecode is not (as dataclass_cache.py).
"""

from __future__ import annotations

import marshal
import os
import sys
from _frozen_importlib_external import PathFinder, SourceFileLoader, spec_from_file_location
from typing import Any, Optional

_HEADER = f"lambdatui import paths 1\n{sys.version}\n{sys.executable}\n".encode()
# The meta path finders a start may meet besides this one, by class: any other could answer first for a module.
_KNOWN_FINDERS = {"_frozen_importlib.BuiltinImporter", "_frozen_importlib.FrozenImporter",
                  "_frozen_importlib_external.PathFinder", "_distutils_hack.DistutilsMetaFinder"}

Table = dict[str, tuple[str, bool]]  # module → (its source file, whether it is a package)


class KnownPaths:
    """A meta path finder, first: the spec of a module found last time, as the path finder makes it."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        entry = self.table.get(name)
        if entry is None:
            return None
        origin, package = entry
        return spec_from_file_location(name, origin, loader=SourceFileLoader(name, origin),
                                       submodule_search_locations=[os.path.dirname(origin)] if package else None)

    def invalidate_caches(self) -> None:
        """importlib.invalidate_caches(): whoever calls it has changed a folder; look everything up again."""
        self.table = {}


_finder: Optional[KnownPaths] = None
_path: Optional[str] = None
_loaded: Table = {}


def default_path() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    folder = os.path.join(sys.pycache_prefix, here.lstrip(os.sep)) if sys.pycache_prefix else os.path.join(
        here, "__pycache__")
    return os.path.join(folder, f"import-paths.{sys.implementation.cache_tag}.marshal")


def install(path: Optional[str] = None) -> None:
    """Serve the modules the file knows, where everything it depends on is as it was."""
    global _finder, _path, _loaded
    if _path is not None or not sys.path or sys.path[0] in ("", os.getcwd()):
        return  # `python -m` or `-c`: the working folder comes first, and each start may have its own
    _path = path or default_path()
    table = _load(_path)
    if table:
        _loaded = table
        _finder = KnownPaths(dict(table))
        sys.meta_path.insert(0, _finder)


def _load(path: str) -> Table:
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError:
        return {}
    if not data.startswith(_HEADER):
        return {}
    try:
        state, folders, table = marshal.loads(data[len(_HEADER):])
    except Exception:  # EOFError, ValueError, TypeError: written by another version, or cut short
        return {}
    if state != _state() or any(_modified(folder) != when for folder, when in folders.items()):
        return {}
    return table if type(table) is dict else {}


def _state() -> tuple:
    """What every lookup depends on besides the folders: sys.path (as absolute paths: '' is the working folder),
    the meta path's finders and the path hooks."""
    return (tuple(os.path.abspath(entry) if type(entry) is str else repr(entry) for entry in sys.path),
            tuple(_finder_name(finder) for finder in sys.meta_path if not isinstance(finder, KnownPaths)),
            tuple(_finder_name(hook) for hook in sys.path_hooks))


def _finder_name(finder: Any) -> str:
    kind = finder if isinstance(finder, type) else type(finder)
    return f"{kind.__module__}.{kind.__qualname__}"


def _modified(folder: str) -> Optional[int]:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return None


def save() -> None:
    """Record what this process imported, if anything changed (a module not known, or nothing was)."""
    if _path is None or sys.dont_write_bytecode:
        return
    if any(_finder_name(finder) not in _KNOWN_FINDERS for finder in sys.meta_path
           if not isinstance(finder, KnownPaths)):
        return  # a finder that could answer before the path finder: nothing is kept while it is there
    table = dict(_loaded)
    for name, module in list(sys.modules.items()):
        if name not in table:
            found = _found_by_path_finder(name, module)
            if found is not None:
                table[name] = found
    if table == _loaded:
        return
    folders = {os.path.abspath(entry): 0 for entry in sys.path if type(entry) is str}
    folders.update((os.path.dirname(origin), 0) for origin, _ in table.values())
    for folder in folders:
        folders[folder] = _modified(folder)  # type: ignore[assignment]
    temporary = f"{_path}.{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(_path), exist_ok=True)
        with open(temporary, "wb") as file:
            file.write(_HEADER + marshal.dumps((_state(), folders, table)))
        os.replace(temporary, _path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def _found_by_path_finder(name: str, module: Any) -> Optional[tuple[str, bool]]:
    """The module's file, where the path finder gives the same spec for it now (a plain source file)."""
    spec = getattr(module, "__spec__", None)
    loader = getattr(spec, "loader", None)
    if type(loader) is not SourceFileLoader or "exec_module" in vars(loader) or not spec.has_location:
        return None  # another loader, or one whose work another hook changed (dataclass_cache's for attrs)
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
