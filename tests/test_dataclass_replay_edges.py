"""Edge cases where a class made from a recording could differ from the one `@dataclass` makes (found in review).

Each test defines a class as plain `dataclasses` would process it, then through the replay (a MethodCache per
simulated start, as tests/test_dataclass_replay.py does), and expects the same class.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from pathlib import Path
from typing import Callable, Iterator

import pytest

from lambdatui import dataclass_replay
from lambdatui.dataclass_cache import MethodCache

pytestmark = pytest.mark.skipif(not dataclass_replay.SUPPORTED, reason="Python 3.10-3.12's dataclasses only")


@pytest.fixture
def replaying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], MethodCache]]:
    """As tests/test_dataclass_replay.py's: this test's classes made through dataclass_replay; a new start per call."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(dataclass_replay, "_OWN", "")
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
