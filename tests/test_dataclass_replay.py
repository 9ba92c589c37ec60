"""A dataclass made from the recording of an earlier start is the class `@dataclass` makes, attribute for attribute."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from lambdatui import dataclass_replay
from lambdatui.dataclass_cache import MethodCache

sys.path.insert(0, str(Path(__file__).resolve().parent / "probe"))
from warm_bytecode import seeded, warm_bytecode  # noqa: E402

__all__ = ["warm_bytecode"]  # the fixture, used by name

pytestmark = pytest.mark.skipif(not dataclass_replay.SUPPORTED, reason="Python 3.10-3.12's dataclasses only")

DESCRIBE = r'''
import dataclasses, types

def code(c):
    return [c.co_name, getattr(c, "co_qualname", ""), c.co_code.hex(), c.co_names, c.co_varnames, c.co_freevars,
            c.co_filename, c.co_firstlineno, c.co_flags,
            [code(k) if isinstance(k, types.CodeType) else repr(k) for k in c.co_consts]]

def value(v, cls):
    if v is cls:
        return "<the class>"
    if isinstance(v, types.FunctionType):
        return ["function", v.__module__, v.__name__, v.__qualname__, code(v.__code__), value(v.__defaults__, cls),
                value(v.__kwdefaults__, cls), [value(c.cell_contents, cls) for c in v.__closure__ or ()],
                [[k, value(a, cls)] for k, a in v.__annotations__.items()], value(getattr(v, "__wrapped__", None), cls),
                sorted(vars(v)), v.__doc__]
    if isinstance(v, dataclasses.Field):
        return ["field", v.name, v.type, value(v.default, cls), value(v.default_factory, cls), v.init, v.repr,
                v.hash, v.compare, sorted(v.metadata), repr(v.kw_only), repr(v._field_type)]
    if isinstance(v, dict):
        return [[k, value(x, cls)] for k, x in v.items()]
    if isinstance(v, (tuple, list)):
        return [value(x, cls) for x in v]
    if isinstance(v, type):
        return f"class {v.__module__}.{v.__qualname__}"
    if v is None or isinstance(v, (str, int, float, bool, bytes)) or type(v).__name__ == "_DataclassParams":
        return repr(v)
    return f"a {type(v).__qualname__}"

def described(cls):
    return [[attr, value(v, cls)] for attr, v in cls.__dict__.items()]
'''

ALL_CLASSES = DESCRIBE + r'''
import importlib, json, pkgutil, sys
from lambdatui import dataclass_cache, dataclass_replay
replayed = []
if sys.argv[1] == "served":
    cache = dataclass_cache.install()
    real_changes = dataclass_replay._changes
    def counting(cls, *args):
        changes = real_changes(cls, *args)
        if changes is not None:
            replayed.append(f"{cls.__module__}.{cls.__qualname__}")
        return changes
    dataclass_replay._changes = counting
import lambdatui
classes = {}
slotted = []
for info in pkgutil.walk_packages(lambdatui.__path__, "lambdatui."):
    if info.name.endswith("__main__"):
        continue
    try:
        module = importlib.import_module(info.name)
    except ModuleNotFoundError as exc:  # a standard-library-only program of ours, run as a script (the sandbox init)
        if exc.name.startswith("lambdatui"):
            raise
        continue
    for name, cls in vars(module).items():
        if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == info.name:
            classes[f"{info.name}.{cls.__qualname__}"] = described(cls)
            if "__slots__" in cls.__dict__:
                slotted.append(f"{info.name}.{cls.__qualname__}")
print(json.dumps({"classes": classes, "replayed": replayed, "slotted": slotted}))
if sys.argv[1] == "served":
    dataclass_cache.save()
'''


def test_every_lambdatui_dataclass_made_from_its_recording_is_the_class_dataclass_makes(
        tmp_path: Path, warm_bytecode: Path) -> None:
    """Every module of lambdatui imported three times: with `@dataclass` alone, then with the replay twice (the
    first start records, the second makes its classes from the recordings): the same classes, attribute for
    attribute (the same code, cells, defaults, annotations, qualified names, fields and their order). The prefix
    starts with the modules' bytecode and no recording (warm_bytecode.py)."""
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(seeded(tmp_path / "prefix", warm_bytecode))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def run(mode: str) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-c", ALL_CLASSES, mode], capture_output=True, text=True, env=env,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    plain, recording, replaying = run("plain"), run("served"), run("served")
    assert len(plain["classes"]) > 150
    assert recording["replayed"] == []
    for name, described in plain["classes"].items():
        assert recording["classes"][name] == described, name
        assert replaying["classes"][name] == described, name
    # Left to dataclasses every time: only those with slots (a class without a docstring would be one too).
    assert sorted(set(plain["classes"]) - set(replaying["replayed"])) == sorted(plain["slotted"])


@pytest.fixture
def replayed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the classes made from a recording, in order."""
    names: list[str] = []
    real_changes = dataclass_replay._changes

    def counting(cls: type, *args: Any) -> Any:
        changes = real_changes(cls, *args)
        if changes is not None:
            names.append(cls.__name__)
        return changes

    monkeypatch.setattr(dataclass_replay, "_changes", counting)
    return names


@pytest.fixture
def replaying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], MethodCache]]:
    """This test's classes made through dataclass_replay, from a cache of the test's own; a new cache (as a new
    start would read it) at each call."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(dataclass_replay, "_OWN", "")  # the test's classes too, not only lambdatui's
    monkeypatch.setattr(dataclasses, "_process_class", dataclass_replay.process_class)
    monkeypatch.setattr(dataclasses, "_create_fn", dataclass_replay._recording_create_fn)
    path = tmp_path / "cache.marshal"

    def start() -> MethodCache:
        if dataclass_replay._cache is not None:
            dataclass_replay._cache.save()
        cache = MethodCache(str(path))
        monkeypatch.setattr(dataclass_replay, "_cache", cache)
        return cache

    yield start


def point_class(default: Any) -> type:
    @dataclasses.dataclass(frozen=True)
    class Point:
        """A point, with a default of the caller's."""

        x: int
        y: Any = default
        tags: tuple = dataclasses.field(default_factory=tuple, compare=False)

    return Point


def test_a_recording_takes_the_values_of_the_class_being_made(replaying: Callable[[], MethodCache],
                                                               replayed: list[str]) -> None:
    """The same shape with another default: the code is the recorded one, the default is this class's."""
    replaying()
    first = point_class(2)
    cache = replaying()
    second = point_class("a")
    assert replayed == ["Point"] and cache.compiled == 0  # made from the recording
    assert second.__init__.__code__ is not first.__init__.__code__  # made again from the file, not shared
    point = second(1)
    assert point.y == "a" and point.tags == () and repr(point) == "point_class.<locals>.Point(x=1, y='a', tags=())"
    assert point == second(1, tags=("t",)) and hash(point) == hash(second(1, "a"))  # tags: compare=False
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(second)] == ["x", "y", "tags"]
    assert dataclasses.replace(point, x=3).x == 3 and dataclasses.asdict(point) == {"x": 1, "y": "a", "tags": ()}
    assert second.__match_args__ == ("x", "y", "tags") and "tags" not in second.__dict__
    assert second.__init__.__qualname__ == "point_class.<locals>.Point.__init__"


def test_a_class_of_another_shape_is_recorded_again_and_one_without_a_docstring_is_left_to_dataclasses(
        replaying: Callable[[], MethodCache], replayed: list[str]) -> None:
    replaying()
    point_class(2)
    cache = replaying()

    @dataclasses.dataclass(frozen=True)
    class Point:
        """Another shape: the same name, a field more."""

        x: int
        y: int = 0
        z: int = 0

    assert cache.compiled == 1 and Point(1, z=3) == Point(1, 0, 3)

    @dataclasses.dataclass
    class Bare:
        x: int

    assert cache.compiled == 1  # not recorded: dataclasses writes its __doc__ from its signature
    assert Bare.__doc__ == "Bare(x: 'int')" and Bare(1).x == 1
    assert replayed == []
    point_class(3)
    assert replayed == ["Point"]  # the first shape's recording, beside the second's


def test_what_dataclasses_refuses_it_still_refuses_with_a_recording_of_the_same_shape(
        replaying: Callable[[], MethodCache], replayed: list[str]) -> None:
    """The shape holds no default's value: a recording of `point_class(2)` fits `point_class([])`, which dataclasses
    refuses (a mutable default); made from the recording, it would pass."""
    replaying()
    point_class(2)
    replaying()
    with pytest.raises(ValueError, match="mutable default"):
        point_class([])
    assert replayed == []
    point_class(3)
    assert replayed == ["Point"]  # the recording was there to be used


# Edge cases an adversarial review found: each class as `@dataclass` makes it, then from a recording.


def with_special_fields() -> type:
    """ClassVar and InitVar written through their modules (`import typing`, `import dataclasses`), as
    dataclasses' `_is_type` recognises them."""

    @dataclasses.dataclass(frozen=True)
    class Special:
        """ClassVar and InitVar fields, named through their modules."""

        x: int
        limit: typing.ClassVar[int] = 5
        seed: dataclasses.InitVar[int] = 0

        def __post_init__(self, seed: int) -> None:
            pass

    return Special


def test_a_classvar_or_initvar_named_through_its_module_is_not_a_field(
        replaying: Callable[[], MethodCache]) -> None:
    replaying()
    recorded = with_special_fields()
    replaying()
    replayed = with_special_fields()
    for cls in (recorded, replayed):
        assert [f.name for f in dataclasses.fields(cls)] == ["x"]
        assert dataclasses.replace(cls(1), x=2).x == 2  # the replayed class: __init__() got 'limit'
        assert dataclasses.asdict(cls(1)) == {"x": 1}


def with_kw_only_marker() -> type:
    @dataclasses.dataclass
    class Marked:
        """Fields after a KW_ONLY marker named through its module."""

        a: int
        _: dataclasses.KW_ONLY
        b: int = dataclasses.field(default=0)

    return Marked


def test_fields_after_a_kw_only_marker_named_through_its_module_stay_keyword_only(
        replaying: Callable[[], MethodCache]) -> None:
    """`_fields` sets `kw_only = False` on the class's own Field objects before `dataclasses` reads them, even at
    the recording start; and the replay keeps `_` as a field."""
    replaying()
    recorded = with_kw_only_marker()  # wrong already: dataclasses itself made it, from the altered Field
    replaying()
    replayed = with_kw_only_marker()
    for cls in (recorded, replayed):
        assert str(inspect.signature(cls)) == "(a: 'int', *, b: 'int' = 0) -> None"
        assert [f.name for f in dataclasses.fields(cls)] == ["a", "b"]


def defaulted(version: int) -> type:
    """The same class written two ways that `_shape` does not tell apart: a plain default and field(default=...)."""
    if version == 1:
        @dataclasses.dataclass
        class Defaulted:
            """A default."""

            x: int
            y: int = 0
    else:
        @dataclasses.dataclass
        class Defaulted:  # type: ignore[no-redef]
            """A default."""

            x: int
            y: int = dataclasses.field(default=0)
    return Defaulted


def test_a_field_default_given_as_field_is_replaced_by_its_value(replaying: Callable[[], MethodCache]) -> None:
    replaying()
    defaulted(1)  # recorded: nothing to change in `y`
    replaying()
    cls = defaulted(2)  # the same shape: the Field object stays the class's attribute
    assert cls.y == 0


def required(version: int) -> type:
    if version == 1:
        @dataclasses.dataclass
        class Required:
            """A field without a default."""

            x: int = dataclasses.field()
    else:
        @dataclasses.dataclass
        class Required:  # type: ignore[no-redef]
            """A field without a default."""

            x: int
    return Required


def test_a_recorded_deletion_of_a_field_attribute_the_class_lacks_does_not_fail(
        replaying: Callable[[], MethodCache]) -> None:
    replaying()
    required(1)  # recorded: `del Required.x` (the Field object)
    replaying()
    cls = required(2)  # AttributeError: type object 'Required' has no attribute 'x'
    assert cls(1).x == 1 and "x" not in vars(cls)


def unrequired(version: int) -> type:
    if version == 1:
        @dataclasses.dataclass
        class Unrequired:
            """A field without a default."""

            x: int
    else:
        @dataclasses.dataclass
        class Unrequired:  # type: ignore[no-redef]
            """A field without a default."""

            x: int = dataclasses.field()
    return Unrequired


def test_a_field_object_without_a_default_is_removed_from_the_class(replaying: Callable[[], MethodCache]) -> None:
    replaying()
    unrequired(1)
    replaying()
    cls = unrequired(2)
    assert "x" not in vars(cls)  # the replay leaves the Field object there
