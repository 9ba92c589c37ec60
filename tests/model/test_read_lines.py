"""facts.read_lines: a read's lines made in bulk are the LogLines the dataclass itself would make."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from lambdatui.model import facts as f


def test_each_line_equals_the_dataclass_made_one_and_hashes_alike() -> None:
    made = f.read_lines(f.FUNCTION, ["one", "", "three é"], "req-1", "stderr")
    expected = tuple(f.LogLine(f.FUNCTION, text, "req-1", "stderr") for text in ("one", "", "three é"))
    assert made == expected
    assert [hash(line) for line in made] == [hash(line) for line in expected]
    assert [repr(line) for line in made] == [repr(line) for line in expected]
    assert all(type(line) is f.LogLine for line in made)


def test_a_made_line_is_as_frozen_and_as_usable_as_any() -> None:
    line = f.read_lines(f.extension_source("ext"), ["x"], None, "stdout")[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.text = "y"  # type: ignore[misc]
    assert dataclasses.replace(line, text="y") == f.LogLine(f.extension_source("ext"), "y")
    assert dataclasses.asdict(line) == {"source": "extension:ext", "text": "x", "request_id": None, "stream": "stdout"}
    assert pickle.loads(pickle.dumps(line)) == line and copy.copy(line) == line


def test_every_field_of_a_line_is_set() -> None:
    # A field added to LogLine must be set by read_lines too: this names them all.
    line = f.read_lines(f.FUNCTION, ["x"], "r", "stdout")[0]
    assert set(vars(line)) == {field.name for field in dataclasses.fields(f.LogLine)}
