"""Which environments `DebugSession` compares for the SnapStart uniqueness trap, over a stand-in fleet.

No processes: each host is a stand-in with what the session reads of an `EnvironmentHost` (its number,
`restored_from`, its core environment's state and generation, the function config), and each environment's
latest globals report is put in the session's per-environment views as the host's facts would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from lambdatui.host.debug_session import DebugSession
from lambdatui.model.boundaries import EnvState
from lambdatui.model.debug_state import DebugState
from lambdatui.model.facts import GlobalEntry, GlobalsReported

SOURCE = 'REGION = "eu-west-1"\nREQUEST_PREFIX = uuid.uuid4().hex\n'
PREFIX = GlobalEntry("REQUEST_PREFIX", "str", "'9f1c2e0b7d4a4c1e8b6f3a2d5c7e9b10'", 1, "state", "same")
REGION = GlobalEntry("REGION", "str", "'eu-west-1'", 2, "state", "same")


@dataclass
class Env:
    state: EnvState = EnvState.FROZEN
    generation: int = 1


@dataclass
class Config:
    code_dir: Path
    handler: str = "handler.lambda_handler"


@dataclass
class Host:
    sandbox_count: int
    restored_from: Optional[int]
    config: Config
    env: Env = field(default_factory=Env)


class Fleet:
    def __init__(self, *hosts: Host) -> None:
        self._hosts = list(hosts)

    def hosts(self) -> list[Any]:
        return list(self._hosts)


def session(tmp_path: Path, *restored_from: Optional[int], source: str = SOURCE) -> tuple[DebugSession, list[Host]]:
    """A fleet of one environment per `restored_from` (numbered from 2: env #1 is the snapshot's), each reporting
    the same globals."""
    (tmp_path / "handler.py").write_text(source)
    hosts = [Host(n, source_number, Config(tmp_path)) for n, source_number in enumerate(restored_from, start=2)]
    debug = DebugSession(Fleet(*hosts), track=False)  # type: ignore[arg-type]
    for host in hosts:
        debug.states[host.sandbox_count] = DebugState()
        debug.states[host.sandbox_count].apply(GlobalsReported("invoke", "r", 1, (REGION, PREFIX), (), ()))
    return debug, hosts


def shared(debug: DebugSession, host: Host) -> dict[str, int]:
    return dict(debug._shared_init_values(host))  # type: ignore[arg-type]


def test_environments_restored_from_the_same_snapshot_are_compared(tmp_path: Path) -> None:
    debug, hosts = session(tmp_path, 1, 1, 1, 7, None)
    assert shared(debug, hosts[0]) == {"REQUEST_PREFIX": 3}  # REGION is a literal in handler.py
    assert shared(debug, hosts[3]) == {}  # alone in its snapshot's group
    assert shared(debug, hosts[4]) == {}  # not restored: it ran Init itself


def test_an_environment_whose_process_is_gone_does_not_count(tmp_path: Path) -> None:
    debug, hosts = session(tmp_path, 1, 1, 1)
    hosts[1].env.state = EnvState.COLD  # reset: its report is of a process that no longer runs
    hosts[2].env.generation = 2  # a new process that has not reported yet
    assert shared(debug, hosts[0]) == {}
    hosts[2].env.generation = 1
    assert shared(debug, hosts[0]) == {"REQUEST_PREFIX": 2}
    hosts[0].env.state = EnvState.SHUT_DOWN
    assert shared(debug, hosts[0]) == {}


def test_handler_source_that_does_not_parse_excuses_nothing(tmp_path: Path) -> None:
    debug, hosts = session(tmp_path, 1, 1, source="REGION = (\n")
    assert shared(debug, hosts[0]) == {"REGION": 2, "REQUEST_PREFIX": 2}


def test_missing_handler_source_excuses_nothing(tmp_path: Path) -> None:
    debug, hosts = session(tmp_path, 1, 1)
    (tmp_path / "handler.py").unlink()
    assert shared(debug, hosts[0]) == {"REGION": 2, "REQUEST_PREFIX": 2}


def test_the_source_is_read_once_per_session(tmp_path: Path) -> None:
    debug, hosts = session(tmp_path, 1, 1)
    assert shared(debug, hosts[0]) == {"REQUEST_PREFIX": 2}
    (tmp_path / "handler.py").write_text("def handler(event, context):\n    pass\n")  # edited after Init
    debug.states[3].apply(GlobalsReported("invoke", "r2", 1, (REGION, PREFIX), (), ()))  # a new report: worked out again
    assert shared(debug, hosts[0]) == {"REQUEST_PREFIX": 2}
