"""Dataclass methods come from the cache on the next start, and a class is the same class either way."""

from __future__ import annotations

import collections
import dataclasses
import json
import marshal
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

from lambdatui import dataclass_cache
from lambdatui.collector import loading
from lambdatui.dataclass_cache import MethodCache


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "__pycache__" / "dataclass-methods.marshal"


@pytest.fixture
def served_by(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[MethodCache], MethodCache]]:
    """Make dataclasses take its method code from a given cache, for the classes the test defines."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as where the cache is written (not under -B)
    def serve(cache: MethodCache) -> MethodCache:
        monkeypatch.setattr(dataclasses, "exec", cache.exec, raising=False)
        monkeypatch.setattr(collections, "eval", cache.eval, raising=False)
        if dataclass_cache._PATTERNS:
            monkeypatch.setattr(re._compiler, "compile", cache.compile_pattern)  # type: ignore[attr-defined]
        return cache
    yield serve


def define() -> type:
    @dataclasses.dataclass(frozen=True)
    class Point:
        x: int
        y: int = 2
        tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)

    return Point


POINT_METHODS = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__")


def compiled_every_method(cache: MethodCache) -> bool:
    """Whether `cache` compiled, and keeps, each text dataclasses wrote for `define()`'s class, and whether those hold
    all its methods: up to Python 3.12 a text a method, from 3.13 one for them all (one `exec` a class)."""
    texts = [key for key in cache.stored if key.startswith("def __create_fn__(")]
    return cache.compiled == len(texts) >= 1 and all(any(f" def {name}(" in text for text in texts)
                                                     for name in POINT_METHODS)


def test_a_class_from_cached_methods_behaves_as_one_compiled_now(cache_path: Path, served_by) -> None:
    first = served_by(MethodCache(str(cache_path)))
    define()
    assert compiled_every_method(first)
    first.save()
    assert cache_path.is_file()

    second = served_by(MethodCache(str(cache_path)))
    point_class = define()
    assert second.compiled == 0  # every method came from the file
    point = point_class(1)
    assert (point.x, point.y, point.tags) == (1, 2, ())
    assert repr(point).endswith("Point(x=1, y=2, tags=())")
    assert point == point_class(1, 2) and point != point_class(1, 3)
    assert hash(point) == hash(point_class(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 5  # type: ignore[misc]


def test_nothing_is_written_when_bytecode_is_not(cache_path: Path, served_by,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cache = served_by(MethodCache(str(cache_path)))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    define()
    cache.save()
    assert not cache_path.exists()


@pytest.mark.parametrize("content", [b"", b"not a cache", b"lambdatui dataclass methods\nPython 2.7\n\x00"])
def test_a_file_of_another_build_or_broken_is_compiled_past(cache_path: Path, served_by, content: bytes) -> None:
    cache_path.parent.mkdir()
    cache_path.write_bytes(content)
    cache = served_by(MethodCache(str(cache_path)))
    point_class = define()
    assert compiled_every_method(cache)
    assert point_class(1) == point_class(1)
    cache.save()
    assert served_by(MethodCache(str(cache_path))).compiled == 0 and define()(3).x == 3


def test_a_folder_that_cannot_be_written_loses_nothing_but_the_cache(tmp_path: Path, served_by) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder would be")
    cache = served_by(MethodCache(str(blocked / "dataclass-methods.marshal")))
    define()
    cache.save()  # no exception
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_past_its_bound_the_file_keeps_what_the_run_used(cache_path: Path, served_by,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    old = served_by(MethodCache(str(cache_path)))

    @dataclasses.dataclass(frozen=True)
    class Old:
        gone: int

    old.save()
    monkeypatch.setattr(dataclass_cache, "MAX_ENTRIES", 0)
    now = served_by(MethodCache(str(cache_path)))

    @dataclasses.dataclass(frozen=True)
    class New:
        kept: int

    now.save()
    kept = served_by(MethodCache(str(cache_path)))
    kept_keys = list(kept.stored)
    assert kept_keys and all("gone" not in source for source in kept_keys)
    assert any("kept" in source for source in kept_keys)


def test_a_named_tuple_from_the_cache_is_the_same_as_one_compiled_now(cache_path: Path, served_by) -> None:
    # Issue 9: namedtuple compiles its __new__ (a lambda's text) for every class, ~25 of them in every start.
    from typing import NamedTuple

    def define_tuple() -> type:
        class Head(NamedTuple):
            method: str
            target: str = "/"

        return Head

    first = served_by(MethodCache(str(cache_path)))
    define_tuple()
    assert first.compiled == 1
    first.save()
    second = served_by(MethodCache(str(cache_path)))
    head_class = define_tuple()
    assert second.compiled == 0  # __new__ came from the file
    head = head_class("GET")
    assert head == ("GET", "/") and head.target == "/" and repr(head) == "Head(method='GET', target='/')"
    assert head_class._make(["PUT", "/x"]).method == "PUT" and head._replace(target="/y") == ("GET", "/y")
    with pytest.raises(TypeError):
        head_class()  # its required field, as the compiled __new__ asks for it


PATTERNS = [(r"(?P<name>[a-z]+)=(?P<value>\d{2,})", 0), (rb"^nr_descendants (\d+)$", re.MULTILINE),
            ("[\ud800-\udc7f\udd00-\udfff]", 0), (r"straße", re.IGNORECASE), (r"a b  # a comment", re.VERBOSE),
            (r"(?<=a)b|(?!c)d.", re.IGNORECASE | re.DOTALL), (rb"\w+", re.LOCALE), (r"(a)|(?P<b>b)", re.ASCII)]


def compiled_while_loading(pattern: str, flags: int = 0) -> re.Pattern:
    """`re.compile` of a pattern re has not seen in this process, as a module being loaded compiles it."""
    re.purge()  # re's own per-process cache would answer a pattern it has seen
    with loading():
        return re.compile(pattern, flags)


PATTERNS_OF = pytest.mark.skipif(not dataclass_cache._PATTERNS, reason="re._compiler is 3.11-3.13's")


@PATTERNS_OF
def test_a_pattern_from_the_cache_is_the_one_re_compiles(cache_path: Path, served_by) -> None:
    # Issue 9: re parses and writes each pattern's program in Python (~0.2 ms), ~60 of them in every start.
    original = dataclass_cache._compile_pattern
    first = served_by(MethodCache(str(cache_path)))
    for pattern, flags in PATTERNS:
        assert compiled_while_loading(pattern, flags) == original(pattern, flags)  # the same flags, pattern, program
    assert first.compiled == len(PATTERNS)
    first.save()

    second = served_by(MethodCache(str(cache_path)))
    for pattern, flags in PATTERNS:
        cached, compiled = compiled_while_loading(pattern, flags), original(pattern, flags)
        assert cached == compiled and (cached.groups, dict(cached.groupindex), cached.flags) == (
            compiled.groups, dict(compiled.groupindex), compiled.flags)
    assert second.compiled == 0  # every program came from the file
    match = compiled_while_loading(PATTERNS[0][0]).search("x ab=123")
    assert match is not None and match.group("name", "value") == ("ab", "123")
    assert compiled_while_loading(PATTERNS[3][0], PATTERNS[3][1]).fullmatch("STRASSE") is None  # ß is not SS
    assert compiled_while_loading(PATTERNS[3][0], PATTERNS[3][1]).fullmatch("STRAßE") is not None


@PATTERNS_OF
def test_a_kept_program_of_the_wrong_shape_is_compiled_past(cache_path: Path, served_by) -> None:
    first = served_by(MethodCache(str(cache_path)))
    compiled_while_loading("a(b)c")
    (key,) = [key for key in first.stored if key.startswith("re\0")]
    first.stored[key] = marshal.dumps(("not", "a", "program"))
    first.save()
    second = served_by(MethodCache(str(cache_path)))
    assert compiled_while_loading("a(b)c").match("abc").group(1) == "b"
    assert second.compiled == 1


@PATTERNS_OF
def test_a_program_another_build_of_python_kept_is_not_used(cache_path: Path, served_by,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Builds of one minor version share the file (one magic number), but a patch release may write other programs.
    this_build = dataclass_cache._BUILD
    monkeypatch.setattr(dataclass_cache, "_BUILD", "3.11.0 (another build) little")
    other = served_by(MethodCache(str(cache_path)))
    compiled_while_loading("a(b)c")
    other.save()
    monkeypatch.setattr(dataclass_cache, "_BUILD", this_build)
    this = served_by(MethodCache(str(cache_path)))
    assert compiled_while_loading("a(b)c").match("abc").group(1) == "b"
    assert this.compiled == 1  # compiled by this build, beside the other's entry
    this.save()
    assert len([key for key in MethodCache(str(cache_path)).stored if key.startswith("re\0")]) == 2


@PATTERNS_OF
def test_only_the_patterns_modules_compile_as_they_load_are_kept(cache_path: Path, served_by) -> None:
    # A pattern compiled later may hold what the user typed (a handler's name): it is compiled as re compiles it.
    cache = served_by(MethodCache(str(cache_path)))
    re.purge()
    assert re.compile(r"def\s+my_handler").search("def  my_handler") is not None
    assert cache.compiled == 0 and not [key for key in cache.stored if key.startswith("re\0")]
    compiled_while_loading(r"def\s+a_module_pattern")
    assert cache.compiled == 1


@PATTERNS_OF
def test_a_pattern_re_warns_of_warns_at_the_callers_line_on_every_start(cache_path: Path, served_by) -> None:
    import warnings

    first = served_by(MethodCache(str(cache_path)))
    for cache in (first, served_by(MethodCache(str(cache_path)))):
        with warnings.catch_warnings(record=True) as heard:
            warnings.simplefilter("always")
            pattern = compiled_while_loading("[[a]")  # "Possible nested set": re's FutureWarning
        assert pattern.match("[") is not None
        assert [(w.category, Path(w.filename).name) for w in heard] == [(FutureWarning, "test_dataclass_cache.py")]
        assert cache.compiled == 0  # not kept: the next start warns again
        cache.save()


def test_the_command_compiles_its_dataclasses_once(tmp_path: Path) -> None:
    """The `lambdatui` entry point: a second start compiles no dataclass method (the ~50 ms this saves)."""
    code = (
        "import json, sys\n"
        "sys.argv = ['lambdatui', '--help']\n"
        "from lambdatui import entry, dataclass_cache\n"
        "try:\n"
        "    entry.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "import lambdatui.headless\n"  # what `invoke` and `serve` import
        "cache = dataclass_cache.install()\n"
        "print(json.dumps(cache.compiled))\n"
        "cache.save()\n"
    )
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path / "prefix")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def compiled() -> int:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.splitlines()[-1])

    assert compiled() > 100  # lambdatui's own classes, compiled on the first start
    assert compiled() == 0
    assert list((tmp_path / "prefix").rglob("dataclass-methods.*.marshal"))


def test_a_changed_byte_that_still_unmarshals_is_caught_by_the_checksum(cache_path: Path, served_by) -> None:
    # marshal has no checksum of its own: a name changed in a code object loads fine, as wrong code.
    first = served_by(MethodCache(str(cache_path)))
    define()
    first.save()
    data = cache_path.read_bytes()
    assert data.count(b"tags") >= 1
    cache_path.write_bytes(data.replace(b"tags", b"tagz"))
    import marshal
    header_end = len(dataclass_cache._HEADER) + 9  # the header, then the checksum's line
    assert isinstance(marshal.loads(cache_path.read_bytes()[header_end:]), dict)  # it would load, as other code

    second = served_by(MethodCache(str(cache_path)))
    point = define()(1, tags=("a",))
    assert compiled_every_method(second)  # compiled past the damaged file
    assert point.tags == ("a",)


ATTRS_CLASSES = (
    "import json, sys\n"
    "from lambdatui import dataclass_cache\n"
    "cache = dataclass_cache.install() if sys.argv[1] == 'cached' else None\n"
    "import attr\n"
    "@attr.s(frozen=True, slots=True)\n"
    "class Point:\n"
    "    x: int = attr.ib()\n"
    "    y: int = attr.ib(default=2)\n"
    "@attr.s\n"
    "class Pair:\n"
    "    left = attr.ib()\n"
    "    right = attr.ib(default=None)\n"
    "@attr.s(eq=False)\n"
    "class Box:\n"
    "    items = attr.ib(factory=list)\n"
    "def described(function):\n"
    "    code = function.__code__\n"
    "    return [code.co_code.hex(), code.co_flags, code.co_filename, repr(code.co_consts), code.co_varnames,\n"
    "            repr(function.__annotations__)]\n"
    "point = Point(1)\n"
    "assert (point.x, point.y) == (1, 2) and point == Point(1, 2) and hash(point) == hash(Point(1))\n"
    "assert Box().items == [] and Box() != Box() and Pair(1) == Pair(1, None) and Pair.__hash__ is None\n"
    "assert hash('<attrs generated hash __main__.Point>') in Point.__hash__.__code__.co_consts  # this process's\n"
    "print(json.dumps({'methods': [described(f) for f in (Point.__init__, Point.__eq__, Point.__repr__,\n"
    "                                                     Point.__hash__, Pair.__init__, Pair.__eq__, Box.__init__)],\n"
    "                  'compiled': cache.compiled if cache else None}))\n"
    "if cache:\n"
    "    cache.save()\n"
)


def test_attrs_classes_trio_defines_are_the_same_from_the_cache_and_compiled_once(tmp_path: Path) -> None:
    """trio's classes are attrs classes: their generated methods come from the cache too (~15 ms of every start),
    the same code as attrs compiles, flags and the file names its tracebacks show included; a hashable class's
    too, whose __hash__ holds hash() of a string, which changes with every process."""
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path / "prefix")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def run(mode: str, seed: str = "1") -> dict:  # one string hash seed: the same number in every __hash__
        out = subprocess.run([sys.executable, "-c", ATTRS_CLASSES, mode], capture_output=True, text=True,
                             env={**env, "PYTHONHASHSEED": seed}, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    plain, first, second = run("plain"), run("cached", seed="2"), run("cached")
    assert second["methods"] == plain["methods"]  # what the first start stored, with this start's number
    assert first["methods"][:3] == plain["methods"][:3] and first["methods"][4:] == plain["methods"][4:]
    assert first["compiled"] >= 3 and second["compiled"] == 0  # the second start compiled nothing


ATTRS_OWN = (
    "import builtins, json\n"
    "from lambdatui import dataclass_cache\n"
    "compiled = []\n"
    "real = builtins.compile\n"
    "def counting(source, filename, *args, **kwargs):\n"
    "    if str(filename).startswith('<attrs generated'):\n"
    "        compiled.append(filename)\n"
    "    return real(source, filename, *args, **kwargs)\n"
    "builtins.compile = counting\n"
    "cache = dataclass_cache.install()\n"
    "import attr\n"
    "builtins.compile = real\n"
    "assert attr.validators.instance_of(int) == attr.validators.instance_of(int)  # its classes work\n"
    "print(json.dumps(len(compiled)))\n"
    "cache.save()\n"
)


def test_the_classes_attrs_builds_as_it_is_imported_come_from_the_cache(tmp_path: Path) -> None:
    """`import attr` builds ~30 attrs classes of its own (validators, converters...): ~5 ms of compiling at every
    start, unless attrs' method writer has the cache before its module runs."""
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path / "prefix")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def compiled() -> int:
        out = subprocess.run([sys.executable, "-c", ATTRS_OWN], capture_output=True, text=True, env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    first, second = compiled(), compiled()
    assert first >= 10 and second == 0, (first, second)
