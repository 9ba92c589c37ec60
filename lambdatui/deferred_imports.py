"""Modules that lambdatui's dependencies import as they are imported, but use only later, if ever, imported then.

trio imports `ssl` and `hmac` (with OpenSSL's two libraries) for its TLS and DTLS streams; `shutil` imports `bz2` and `lzma` to learn that it could make such archives; `urllib.parse` imports `ipaddress` for
a URL's bracketed host; `linecache` and `inspect` import `tokenize` to read a source file's encoding. lambdatui's
host speaks plain HTTP on loopback by address and reads source only to show a traceback, so most runs (`invoke`'s
among them) never use any of them, yet loading them is ~8 ms of every start. Each is a stand-in until its first
use: the first attribute anyone reads of it imports the real module, which from then on is the one `sys.modules`
and every later `import` give (the stand-in, kept by whoever imported it early, passes every read on to it).

importlib's own LazyLoader does not serve: an `import` of a module already in `sys.modules` reads its `__spec__`,
which loads it at once. A stand-in carries the module's spec with `_initializing` unset, which an `import` and
`importlib.util.find_spec` read as they read a loaded module's. Only plain modules: a package's submodules import one
another through it (`from . import x` reads `x` of it), which a stand-in cannot tell from a use (trio's `idna` is one).
"""

from __future__ import annotations

import _thread
import importlib
import importlib.util
import sys
import types
from typing import Any, Iterable

USED_LATE = ("ssl", "hmac", "bz2", "lzma", "ipaddress", "tokenize")
# The extension each wraps, without which importing it fails (a Python built without OpenSSL, xz or bzip2): then it is
# imported as usual, and fails where it is imported, as its importers expect (`try: import lzma`).
_BUILT_ON = {"ssl": "_ssl", "bz2": "_bz2", "lzma": "_lzma"}
# One thread imports a module for its stand-in at a time (the debugger imports its Invoke API on a thread of its own).
_LOADING = _thread.RLock()


class DeferredModule(types.ModuleType):
    """Stands in for a module not yet imported; reading any attribute it lacks imports that module."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._real(), attr)

    def __dir__(self) -> Iterable[str]:
        return dir(self._real())

    def _real(self) -> types.ModuleType:
        name = self.__name__
        with _LOADING:
            if sys.modules.get(name) is self:
                del sys.modules[name]  # so that the import below runs the real module
            try:
                return importlib.import_module(name)
            except BaseException:
                sys.modules.setdefault(name, self)  # a failed import stays one to retry, as a plain import's would
                raise


def defer(names: Iterable[str]) -> None:
    """A stand-in for each plain module of `names` that is not imported yet and can be (an `import` of one that
    cannot must still fail where it is written)."""
    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.submodule_search_locations is not None \
                or (name in _BUILT_ON and importlib.util.find_spec(_BUILT_ON[name]) is None):
            continue
        stand_in = DeferredModule(name)
        stand_in.__spec__ = spec
        sys.modules[name] = stand_in


def stand_in(name: str) -> DeferredModule | None:
    """A stand-in for the plain module `name`, made now and returned (None where `defer` makes none)."""
    defer((name,))
    module = sys.modules.get(name)
    return module if type(module) is DeferredModule else None


def install() -> None:
    """For lambdatui's own process (never the function's), before its dependencies are imported."""
    defer(USED_LATE)
