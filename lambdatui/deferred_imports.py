"""Modules that lambdatui's dependencies import as they are imported, but use only later, if ever, imported then.

trio imports `ssl` and `hmac` (with OpenSSL's two libraries) for its TLS and DTLS streams and `idna` for host names;
`shutil` imports `bz2` and `lzma` to learn that it could make such archives; `urllib.parse` imports `ipaddress` for
a URL's bracketed host; `linecache` and `inspect` import `tokenize` to read a source file's encoding. lambdatui's
host speaks plain HTTP on loopback by address and reads source only to show a traceback, so most runs (`invoke`'s
among them) never use any of them, yet loading them is ~10 ms of every start. Each is a stand-in until its first
use: the first attribute anyone reads of it imports the real module, which from then on is the one `sys.modules`
and every later `import` give (the stand-in, kept by whoever imported it early, passes every read on to it).

importlib's own LazyLoader does not serve: an `import` of a module already in `sys.modules` reads its `__spec__`,
which loads it at once. A stand-in has a `__spec__` of None, as a module made at run time does.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any, Iterable

USED_LATE = ("ssl", "hmac", "idna", "bz2", "lzma", "ipaddress", "tokenize")


class DeferredModule(types.ModuleType):
    """Stands in for a module not yet imported; reading any attribute it lacks imports that module."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._real(), attr)

    def __dir__(self) -> Iterable[str]:
        return dir(self._real())

    def _real(self) -> types.ModuleType:
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]  # so that the import below runs the real module
        try:
            return importlib.import_module(name)
        except BaseException:
            sys.modules.setdefault(name, self)  # a failed import stays one to retry, as a plain import's would
            raise


def defer(names: Iterable[str]) -> None:
    """A stand-in for each module of `names` that is not imported yet and exists (an `import` of one that does not
    exist must still fail where it is written)."""
    for name in names:
        if name not in sys.modules and importlib.util.find_spec(name) is not None:
            sys.modules[name] = DeferredModule(name)


def install() -> None:
    """For lambdatui's own process (never the function's), before its dependencies are imported."""
    defer(USED_LATE)
