"""Dataclass, attrs and named tuple methods, and regular expressions, compiled once, kept beside the package's
bytecode for the next start.

`@dataclass` writes each class's methods as source text and compiles it on every start (CPython 3.10-3.12 compile
each method alone): lambdatui's ~150 frozen dataclasses cost ~50 ms of compiling before `invoke` or `serve` can
start, a sixth of the whole command; attrs does the same for trio's classes (~80 scripts, ~15 ms), and
`collections.namedtuple` for its `__new__` (~25 named tuples of the standard library's and lambdatui's, ~1 ms). The text
depends only on the class definition, so the code it compiles to is kept as Python keeps a module's bytecode: in
`__pycache__` (or under `sys.pycache_prefix`), never written when bytecode is not (`-B`,
PYTHONDONTWRITEBYTECODE), for the same interpreter build only.

Nothing changes but where the code object comes from: the same text is compiled with the same flags its writer
uses (dataclasses and namedtuple: none inherited; attrs: its module's `from __future__ import annotations`, and the
file name it gives each script, which its tracebacks name), and any text not seen before is compiled as it would
have been.

Regular expressions the same way (3.11 and later): `re` parses each pattern and writes its program in Python, ~0.2 ms
a pattern, and a start compiles ~60 of them (the standard library's modules, trio's, lambdatui's: ~6 ms of
`invoke`). The program depends only on the pattern and its flags, so it is kept, and the pattern object is made from
it by `_sre.compile`, as `re` makes it: the same object (patterns compare equal by their program).
"""

from __future__ import annotations

import __future__
import collections
import dataclasses
import importlib.machinery
import marshal
import os
import re
import sys
import warnings
import zlib
from importlib.util import MAGIC_NUMBER
from types import CodeType
from typing import Any, Optional

from lambdatui.collector import loading_now

# Kept entries past this are dropped on the next save, except those the saving run used (old versions' texts).
MAX_ENTRIES = 6000
# The layout's version and the bytecode's magic number (as a .pyc's: builds of one Python version share their
# code, as they share __pycache__); then the payload's CRC-32 (8 hex digits and a newline): a damaged file must be
# compiled past, never trusted (a changed byte can still unmarshal into other code).
_HEADER = f"lambdatui dataclass methods 4\n{MAGIC_NUMBER.hex()} {sys.implementation.cache_tag}\n".encode()
# attrs compiles with the flags its module inherits (attr/_make.py: `from __future__ import annotations`).
_ATTRS_FLAGS = __future__.annotations.compiler_flag
_ATTRS_KEY = "attrs\0{filename}\0{source}"  # an attrs script's entry: its file name is part of its code
_EVAL_KEY = "eval\0{source}"  # an expression's entry (namedtuple's `__new__`), compiled in "eval" mode
# A regular expression's entry: str or bytes (its bytes as Latin-1), under the interpreter's own build (its version
# line and byte order): the program is what this build's `re` writes, which a patch release may change under the
# same magic number. Builds that share the file (the system's 3.11 and a virtualenv's) each keep their own.
_PATTERN_KEY = "re\0{build}\0{kind}\0{flags}\0{pattern}"
_BUILD = f"{sys.version} {sys.byteorder}"
_ATTRS_SALT = re.compile(r"return hash\(\(\n\s+(-?\d+),\n")  # attrs' __hash__: hash((<its class's number>, ...
_SALT_STAND_IN = 0x6C616D6264617475  # no number of attrs' scripts but the one it stands in for


def default_path() -> str:
    """Where Python would put this package's bytecode, as importlib's cache_from_source decides it."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    if sys.pycache_prefix:
        cache_dir = os.path.join(sys.pycache_prefix, package_dir.lstrip(os.sep))
    else:
        cache_dir = os.path.join(package_dir, "__pycache__")
    return os.path.join(cache_dir, f"dataclass-methods.{sys.implementation.cache_tag}.marshal")


class MethodCache:
    """Source text → code object, for dataclasses' `exec` of the methods it writes.

    The file maps each text to its code's marshal bytes, unmarshalled only when a class needs it: `invoke` does
    not pay for the classes only the debugger defines (textual's among them), which share the file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.compiled = 0  # texts compiled by this process, not found in the file
        self.stored = self._load()  # the file's: text → marshal bytes of its code
        self._codes: dict[str, CodeType] = {}  # this process's, unmarshalled or compiled
        self._used: set[str] = set()

    def _load(self) -> dict[str, bytes]:
        try:
            with open(self.path, "rb") as file:
                data = file.read()
        except OSError:
            return {}
        if not data.startswith(_HEADER):
            return {}  # another interpreter build (or layout) wrote it
        checksum, payload = data[len(_HEADER):len(_HEADER) + 9], data[len(_HEADER) + 9:]
        if checksum != b"%08x\n" % zlib.crc32(payload):
            return {}
        try:
            stored = marshal.loads(payload)
        except Exception:  # EOFError, ValueError, TypeError
            return {}
        if type(stored) is not dict or not all(type(source) is str and type(blob) is bytes
                                                   for source, blob in stored.items()):
            return {}
        return stored

    def _code(self, source: str, key: Optional[str] = None, filename: str = "<string>", flags: int = 0,
              mode: str = "exec") -> CodeType:
        key = source if key is None else key
        self._used.add(key)
        code = self._codes.get(key)
        if code is not None:
            return code
        blob = self.stored.get(key)
        if blob is not None:
            try:
                code = marshal.loads(blob)
            except Exception:  # SystemError for some malformed code objects, whatever the checksum missed
                code = None
        if type(code) is not CodeType:
            code = compile(source, filename, mode, flags, dont_inherit=True)
            self.stored[key] = marshal.dumps(code)
            self.compiled += 1
        self._codes[key] = code  # type: ignore[assignment]
        return code  # type: ignore[return-value]

    def recipe(self, key: str) -> Any:
        """A kept value other than code (a class's recording: dataclass_replay.py), or None."""
        self._used.add(key)
        blob = self.stored.get(key)
        if blob is None:
            return None
        try:
            return marshal.loads(blob)
        except Exception:  # as _code: what the checksum missed
            return None

    def keep(self, key: str, value: Any) -> None:
        self.stored[key] = marshal.dumps(value)
        self.compiled += 1

    def exec(self, source: Any, globals: Optional[dict] = None, locals: Optional[dict] = None) -> None:
        if type(source) is str:
            source = self._code(source)
        exec(source, globals, locals)

    def eval(self, source: Any, globals: Optional[dict] = None, locals: Optional[dict] = None) -> Any:
        """collections.namedtuple's `eval` of its `__new__`, a lambda's text."""
        if type(source) is str:
            source = self._code(source, _EVAL_KEY.format(source=source), mode="eval")
        return eval(source, globals, locals)

    def compile_pattern(self, pattern: Any, flags: int = 0) -> Any:
        """`re._compiler.compile`: a pattern object made from the program kept for this pattern and flags."""
        if type(pattern) is str:
            key = _PATTERN_KEY.format(build=_BUILD, kind="s", flags=int(flags), pattern=pattern)
        elif type(pattern) is bytes:
            key = _PATTERN_KEY.format(build=_BUILD, kind="b", flags=int(flags), pattern=pattern.decode("latin-1"))
        else:  # a parsed pattern (re.Scanner's)
            return _compile_pattern(pattern, flags)
        if flags & re.DEBUG or not loading_now():  # DEBUG prints the program as it writes it
            return _compile_pattern(pattern, flags)
        self._used.add(key)
        blob = self.stored.get(key)
        program: Any = None
        if blob is not None:
            try:
                program = marshal.loads(blob)
            except Exception:
                program = None
        if not _is_program(program):
            # Parsed here, at re's own depth: the parser's warnings (a possible nested set, a bad group name) name the
            # caller's line as re's do. A pattern that warns is not kept, so that every start warns of it.
            with warnings.catch_warnings(record=True) as heard:
                parsed = _parser.parse(pattern, flags)
            for warning in heard:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
            program = _program(parsed, flags)
            if heard:
                return _sre.compile(pattern, *program)
            self.stored[key] = marshal.dumps(program)
            self.compiled += 1
        return _sre.compile(pattern, *program)

    def compile_for_attrs(self, source: Any, filename: Any, mode: str, *args: Any, **kwargs: Any) -> CodeType:
        """attrs' `compile(script, filename, "exec")`; any other call is passed on as attrs made it."""
        if type(source) is not str or type(filename) is not str or mode != "exec" or args or kwargs:
            return compile(source, filename, mode, *args, **kwargs)  # type: ignore[no-any-return]
        salt = _ATTRS_SALT.search(source)
        if salt is None:
            return self._code(source, _ATTRS_KEY.format(filename=filename, source=source), filename, _ATTRS_FLAGS)
        # A hashable class's __hash__ holds hash() of a string, which changes with every process (PYTHONHASHSEED):
        # kept with a stand-in number, which this process's own replaces in the code.
        text = source[:salt.start(1)] + str(_SALT_STAND_IN) + source[salt.end(1):]
        code = self._code(text, _ATTRS_KEY.format(filename=filename, source=text), filename, _ATTRS_FLAGS)
        return _with_constant(code, _SALT_STAND_IN, int(salt.group(1)))

    def save(self) -> None:
        """Write what this process compiled, if anything, unless bytecode is not to be written; with what another
        start wrote meanwhile (the debugger open while `replay` runs), which would otherwise be lost."""
        if not self.compiled or sys.dont_write_bytecode:
            return
        stored = self._load()
        stored.update(self.stored)
        if len(stored) > MAX_ENTRIES:
            stored = {source: stored[source] for source in list(self._used)}  # a copy: other threads may add
        temporary = f"{self.path}.{os.getpid()}"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            payload = marshal.dumps(stored)
            with open(temporary, "wb") as file:
                file.write(_HEADER + b"%08x\n" % zlib.crc32(payload) + payload)
            os.replace(temporary, self.path)  # whole or not at all, for a start that reads it meanwhile
        except OSError:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            return
        self.compiled = 0


def _with_constant(code: CodeType, old: int, new: int) -> CodeType:
    """`code` with the number `old` replaced by `new` among its constants, those of its functions, and inside the
    tuples the compiler folds (a class without fields hashes `hash((N,))`: one constant, the tuple)."""

    def replaced(value: Any) -> Any:
        if type(value) is int:
            return new if value == old else value
        if type(value) is tuple:
            return tuple(replaced(item) for item in value)
        if type(value) is CodeType:
            return _with_constant(value, old, new)
        return value

    return code.replace(co_consts=tuple(replaced(value) for value in code.co_consts))


def _program(parsed: Any, flags: int) -> tuple:
    """What `re._compiler.compile` hands `_sre.compile` after the pattern itself (3.11-3.13 write it alike)."""
    code = _re_compiler._code(parsed, flags)
    groupindex = parsed.state.groupdict
    indexgroup: list[Optional[str]] = [None] * parsed.state.groups
    for name, index in groupindex.items():
        indexgroup[index] = name
    # Plain ints: re's opcodes and flags are int subclasses, which marshal does not write.
    return (int(flags | parsed.state.flags), [int(word) for word in code], parsed.state.groups - 1, dict(groupindex),
            tuple(indexgroup))


def _is_program(value: Any) -> bool:
    return (type(value) is tuple and len(value) == 5 and type(value[0]) is int and type(value[1]) is list
            and type(value[2]) is int and type(value[3]) is dict and type(value[4]) is tuple)


# re's own program writer, where it is as this cache knows it (3.11-3.13: re._compiler; 3.10's sre_compile is
# another, and a later version's is kept until checked against it).
_re_compiler = getattr(re, "_compiler", None) if (3, 11) <= sys.version_info[:2] <= (3, 13) else None
_parser = getattr(_re_compiler, "_parser", None)
_compile_pattern = getattr(_re_compiler, "compile", None)
_sre = getattr(_re_compiler, "_sre", None)
_PATTERNS = all(callable(getattr(module, name, None)) for module, name in (
    (_re_compiler, "_code"), (_parser, "parse"), (_sre, "compile"), (_re_compiler, "compile")))

_installed: Optional[MethodCache] = None


def install(path: Optional[str] = None) -> MethodCache:
    """Serve dataclasses', namedtuple's and attrs' method code, and re's programs, from the cache from now on (each
    looks its `exec`, `eval` or `compile` up in its module's globals before the builtins; `re._compile` looks up its
    module `_compiler`'s `compile`)."""
    global _installed
    if _installed is None:
        _installed = MethodCache(path or default_path())
        dataclasses.exec = _installed.exec  # type: ignore[attr-defined]
        collections.eval = _installed.eval  # type: ignore[attr-defined]
        if _PATTERNS:
            _re_compiler.compile = _installed.compile_pattern  # type: ignore[union-attr]  # re._compile calls it
        from lambdatui import dataclass_replay

        dataclass_replay.install(_installed)
        attrs_make = sys.modules.get(_ATTRS_MAKE)
        if attrs_make is not None:
            attrs_make.compile = _installed.compile_for_attrs  # type: ignore[attr-defined]
        else:
            sys.meta_path.insert(0, _AttrsHook(_installed))
    return _installed


_ATTRS_MAKE = "attr._make"


class _AttrsHook:  # a meta path finder (not importlib.abc's: that import alone costs ~10 ms here)
    """attrs' method writer, given the cache's `compile` before its module runs, and so before `import attr` builds
    attrs' own ~30 classes (its validators, converters...: `import attr` ~17 ms before, ~11 ms now, medians of 5
    here). trio's classes are attrs classes too, but come later. Imported when something needs attrs (trio): once."""

    def __init__(self, cache: MethodCache) -> None:
        self._cache = cache

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != _ATTRS_MAKE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        compile_for_attrs, exec_module = self._cache.compile_for_attrs, loader.exec_module

        def exec_with_the_cache(module: Any) -> None:
            module.compile = compile_for_attrs  # a global of its own: found before the builtin
            exec_module(module)

        loader.exec_module = exec_with_the_cache  # this module's loader only: each file has its own
        return spec


def save() -> None:
    if _installed is not None:
        _installed.save()
