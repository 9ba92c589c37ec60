"""A SnapStart recording and what the snapshot's Init made (README, "`lambdatui invoke ... --record FILE`").

With SnapStart, Init runs once into a snapshot and every environment restored from it shares what Init made to be
unique (an id, a seed, a first draw from that seed); a replay publishes a new snapshot, whose Init makes others. A
response that quotes them is compared by its success, with a comment naming the parts; where the session had no
report of the snapshot's globals (`invoke`, `serve`), every response is; a burst of restores gets `expect.same` for
the keys its responses shared. The unit tests feed the recorder facts, as the debugger's fleet delivers them (the
snapshot's globals report after Init included); tests/end_to_end/test_snapstart_recording_known.py runs the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from lambdatui.config import resolve_function
from lambdatui.ids import new_uuid
from lambdatui.model import facts as f
from lambdatui.model.fleet import FleetOptions
from lambdatui.scenario.parse import parse_scenario
from lambdatui.scenario.record import Recorder

from recorder_support import Fleet, Session, reported, run, started

SAMPLE = Path(__file__).resolve().parents[2] / "sample_functions" / "snapstart" / "handler.py"
INSTANCE_ID = "67dfc571557b4febad3e5278b81a292b"
SEED = 2964376878


class SnapStartFleet(Fleet):
    def __init__(self) -> None:
        super().__init__(FleetOptions(snapstart=True))

    def hosts(self) -> list[object]:
        return []  # no Runtime API address nor metadata token to leave out


def recording(path: Path = SAMPLE) -> tuple[Recorder, SnapStartFleet]:
    recorder = Recorder(resolve_function(str(path)))
    fleet = SnapStartFleet()
    recorder.attach(Session(fleet))  # type: ignore[arg-type]
    return recorder, fleet


def init_report(**values: str) -> f.GlobalsReported:
    """The snapshot's globals after Init, as the bootstrap reports them: name -> repr."""
    entries = tuple(f.GlobalEntry(name, "str", text, i, "state", "new") for i, (name, text) in enumerate(values.items()))
    return f.GlobalsReported("init", None, 1, entries, (), ())


def restored_invoke(response: object, cold: bool = True, event: Optional[dict] = None) -> list[f.Fact]:
    request_id = new_uuid()
    return [f.InvocationQueued(request_id, 1, json.dumps(event or {}).encode()), f.PhaseStarted("invoke", request_id),
            started(request_id), f.InvocationCompleted(f.InvocationResult(request_id, json.dumps(response).encode())),
            reported(request_id, cold)]


def sample_answer(pid: int, draw: float = 0.37) -> dict:
    return {"id": INSTANCE_ID, "seed": SEED, "first_draw": draw, "pid": pid}


def test_with_the_snapshots_globals_a_response_that_quotes_them_is_compared_by_its_success_naming_them() -> None:
    recorder, fleet = recording()
    run(fleet, 1, init_report(INSTANCE_ID=repr(INSTANCE_ID), SEED=repr(SEED), rng="<random.Random object at 0x5>"))
    run(fleet, 2, *restored_invoke(sample_answer(3)))
    run(fleet, 2, *restored_invoke({"status": "ok", "items": [1, 2]}, cold=False))
    text = recorder.to_toml()
    assert "# response not compared: id, seed carry values the snapshot's Init made (SnapStart)" in text, text
    assert "expect = { succeeded = true, cold = true }" in text, text
    # One that quotes none of them is compared whole: what Init made was known, and it is not in there.
    assert """expect = { response = '{"status": "ok", "items": [1, 2]}', cold = false }""" in text, text
    assert len(parse_scenario(text, Path("r.toml")).steps) == 2


def test_a_name_the_handler_binds_from_a_literal_is_not_taken_for_a_value_init_made(code_dir: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text('import uuid\n\nVERSION = "release-2024.1"\nTOKEN = uuid.uuid4().hex\n\n\n'
                       'def handler(event, context):\n    return {"version": VERSION, "token": TOKEN[:8]}\n')
    recorder, fleet = recording(handler)
    run(fleet, 1, init_report(VERSION=repr("release-2024.1"), TOKEN=repr(INSTANCE_ID)))
    run(fleet, 2, *restored_invoke({"version": "release-2024.1"}))
    run(fleet, 2, *restored_invoke({"version": "release-2024.1", "token": INSTANCE_ID}, cold=False))
    text = recorder.to_toml()
    assert """expect = { response = '{"version": "release-2024.1"}', cold = true }""" in text, text
    assert "# response not compared: token carries a value the snapshot's Init made (SnapStart)" in text, text


def test_without_a_globals_report_each_response_is_compared_by_its_success_saying_why() -> None:
    recorder, fleet = recording()  # `invoke` and `serve` make no globals report
    run(fleet, 2, *restored_invoke({"status": "ok"}))
    text = recorder.to_toml()
    assert "# response not compared (SnapStart): a replay publishes a new snapshot" in text, text
    assert "no report of the snapshot's globals after Init" in text, text
    assert "expect = { succeeded = true, cold = true }" in text, text


def test_a_burst_of_restores_expects_what_they_shared_the_same_in_each() -> None:
    recorder, fleet = recording()
    ids = [new_uuid() for _ in range(3)]
    for env, request_id in enumerate(ids, start=2):  # each in flight while the others run: one parallel step
        run(fleet, env, f.InvocationQueued(request_id, 1, json.dumps({"n": env}).encode()),
            f.PhaseStarted("invoke", request_id), started(request_id))
    for env, request_id in enumerate(ids, start=2):
        # the request id differs in each, so it is no key to compare even if it were the same
        answer = {**sample_answer(env), "n": 1, "rid": request_id}
        run(fleet, env, f.InvocationCompleted(f.InvocationResult(request_id, json.dumps(answer).encode())),
            reported(request_id, True))
    text = recorder.to_toml()
    assert "parallel = [" in text, text
    assert "expect.same = ['first_draw', 'id', 'n', 'seed']" in text, text  # not the pid: each has its own
    assert text.count("{ succeeded = true }") == 3 and "expect.cold_starts = 3" in text, text
    step = parse_scenario(text, Path("r.toml")).steps[0]
    assert step.expect.same == (("first_draw",), ("id",), ("n",), ("seed",))


def test_a_burst_with_a_warm_invoke_gets_no_expect_same() -> None:
    recorder, fleet = recording()
    ids = [new_uuid() for _ in range(2)]
    for env, request_id in enumerate(ids, start=2):
        run(fleet, env, f.InvocationQueued(request_id, 1, b"{}"), f.PhaseStarted("invoke", request_id),
            started(request_id))
    for env, (request_id, cold) in enumerate(zip(ids, (True, False)), start=2):
        # A warm environment's generator has drawn before: what it shares with a fresh restore is not the session's
        # to say.
        run(fleet, env, f.InvocationCompleted(f.InvocationResult(request_id, json.dumps(sample_answer(env)).encode())),
            reported(request_id, cold))
    text = recorder.to_toml()
    assert "parallel = [" in text and "expect.same" not in text, text
