"""A Recorder attached to a stand-in fleet, fed numbered facts as the fleet delivers them (the recorder's unit tests)."""

from __future__ import annotations

import json
from pathlib import Path

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary
from lambdatui.model.fleet import FleetOptions
from lambdatui.scenario.record import Recorder


def _config():
    return resolve_function(str(Path(__file__).resolve().parents[2] / "sample_functions" / "hello" / "handler.py"))


class Fleet:
    """What the recorder reads of the fleet it is attached to: its options and its environments."""

    def __init__(self, options: FleetOptions = FleetOptions()) -> None:
        self.options = options
        self.alive: list[object] = []
        self.listener = None

    def subscribe_numbered(self, listener):
        self.listener = listener
        return lambda: None

    def lines(self):
        return self.alive


class Session:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.ending = False

    def watch_commands(self, watcher):
        return lambda: None

    def watch_end(self, watcher):
        return lambda: None


def attached(options: FleetOptions = FleetOptions()) -> tuple[Recorder, Fleet]:
    recorder = Recorder(_config())
    fleet = Fleet(options)
    recorder.attach(Session(fleet))  # type: ignore[arg-type]
    return recorder, fleet


def run(fleet: Fleet, env: int, *facts: f.Fact) -> None:
    for fact in facts:
        fleet.listener(env, fact)


def queued(request_id: str, n: int) -> f.InvocationQueued:
    return f.InvocationQueued(request_id, 1, json.dumps({"n": n}).encode())


def started(request_id: str) -> f.BoundaryReached:
    return f.BoundaryReached(Boundary.INVOKE_START, held=False, detail=request_id)


def completed(request_id: str, n: int) -> f.InvocationCompleted:
    return f.InvocationCompleted(f.InvocationResult(request_id, json.dumps({"n": n}).encode()))


def reported(request_id: str, cold: bool) -> f.InvokeReported:
    return f.InvokeReported(request_id, 1.0, 1, 128, 20, None, "success", cold=cold)


class Line:
    """An environment as `FleetHost.lines()` describes it: its number, state and whether it has an invoke."""

    def __init__(self, state, number: int = 0, busy: bool = False) -> None:
        self.state, self.number, self.busy = state, number, busy
        self.request_id = None
        self.init_type, self.restored_from = "on-demand", None
