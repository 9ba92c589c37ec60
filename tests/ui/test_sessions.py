"""The recorded sessions the snapshot tests replay: they decode, round-trip, and hold nothing run-specific."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Optional, Union

import pytest

from replay_backend import REPO, SESSIONS, load_session  # first: it puts sessions/ (the codec) on the path

from codec import dumps, from_json_value, loads, to_json_value  # noqa: I001
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary
from lambdatui.model.debug_snapshot import DebuggerSnapshot

STATES = sorted(path.stem for path in SESSIONS.glob("*.json"))
CHOSEN_ID = re.compile(r"^[0-9a-f]{8}-0000-4000-8000-0000000000\d\d$")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def test_there_is_a_session_per_snapshot_state() -> None:
    assert STATES == ["cold_held_init_function", "crash_reset", "frozen_background", "timeout_slow", "warm"]


@pytest.mark.parametrize("state", STATES)
def test_a_session_decodes_and_encodes_back_to_the_same_file(state: str) -> None:
    text = (SESSIONS / f"{state}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    snapshot = from_json_value(DebuggerSnapshot, data["snapshot"])
    logs = from_json_value(tuple[f.LogLine, ...], data["logs"])
    assert json.loads(dumps({"snapshot": snapshot, "logs": list(logs)})) == data


@pytest.mark.parametrize("state", STATES)
def test_a_session_holds_nothing_that_changes_per_run(state: str) -> None:
    text = (SESSIONS / f"{state}.json").read_text(encoding="utf-8")
    assert str(REPO) not in text, "a path of this checkout (the recorder writes $REPO)"
    assert not re.search(r"127\.0\.0\.1:\d+|localhost:\d+", text), "an address with a port"
    assert not re.search(r"0x(?!0*7f0000)[0-9a-f]{8,}", text), "a memory address or thread ident"
    assert not re.search(r"/run-\d+-", text), "a run's state directory"
    for request_id in set(UUID.findall(text)):
        assert CHOSEN_ID.match(request_id), f"request id {request_id} was not replaced by a fixed one"
    snapshot = load_session(state).snapshot
    assert snapshot.function.code_dir == str(REPO / "sample_functions" / snapshot.function.name)
    times = [bar.start for bar in snapshot.timeline] + [snapshot.environment.as_of]
    assert min(times) >= 1000.0 and max(times) < 1010.0, "clock readings are on the recorder's fixed schedule"


class Colour(str, Enum):
    RED = "red"


@dataclass(frozen=True)
class Leaf:
    name: str
    data: bytes = b""


@dataclass(frozen=True)
class Other:
    number: float


@dataclass(frozen=True)
class Tree:
    colour: Colour
    leaves: tuple[Leaf, ...]
    pair: tuple[int, str]
    tags: frozenset[Boundary]
    maybe: Optional[Leaf]
    either: Union[Leaf, Other]
    many: tuple[Union[Leaf, Other], ...]
    table: dict[str, int]


def test_the_codec_round_trips_every_shape_it_supports() -> None:
    tree = Tree(Colour.RED, (Leaf("a", b"\x00\xff"), Leaf("b")), (1, "x"),
                frozenset({Boundary.INVOKE_DONE, Boundary.INIT_RUNTIME}), None, Other(2.5),
                (Leaf("c"), Other(1.0)), {"k": 3})
    encoded = to_json_value(tree)
    assert encoded["leaves"][0]["data"] == "AP8="  # bytes as base64
    assert encoded["tags"] == ["init.runtime", "invoke.done"]  # sorted: the file is stable
    assert encoded["either"] == {"type": "Other", "number": 2.5}  # a union of dataclasses names its arm
    assert loads(Tree, dumps(tree)) == tree


def test_the_codec_refuses_what_the_types_do_not_allow() -> None:
    with pytest.raises((TypeError, ValueError)):
        from_json_value(Leaf, {"name": 1})
    with pytest.raises(ValueError):
        from_json_value(Leaf, {"name": "a", "unknown": 1})
    with pytest.raises(ValueError):
        from_json_value(Tree, {**to_json_value(Tree(Colour.RED, (), (1, "x"), frozenset(), None, Leaf("l"), (),
                                                     {})), "colour": "blue"})
