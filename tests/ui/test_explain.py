"""The pure UI modules: `explain` (every boundary and state) and the event templates and folder.

Snapshots come from real runs (snapshots.py); to cover every Boundary and EnvState, a real snapshot
is moved to that boundary or state with `dataclasses.replace`: the sentence depends only on what
the snapshot says.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import snapshots
from lambdatui.model.boundaries import ALL_BOUNDARIES, Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.event_templates import MAX_EVENT_BYTES, TEMPLATES, load_events_folder, scan_events_folder
from lambdatui.ui.explain import explain, headline

MAX_CHARS = 300  # three rows of the explain bar at 100 columns


def at(snapshot: DebuggerSnapshot, boundary: Boundary) -> DebuggerSnapshot:
    return dataclasses.replace(snapshot, environment=dataclasses.replace(snapshot.environment, held_at=boundary))


def in_state(snapshot: DebuggerSnapshot, state: EnvState, **changes: object) -> DebuggerSnapshot:
    env = dataclasses.replace(snapshot.environment, state=state, held_at=None, **changes)
    return dataclasses.replace(snapshot, environment=env)


def _sentences(text: str) -> int:
    return sum(text.count(mark) for mark in (". ", "? ")) + 1


class TestEveryBoundaryAndState:
    def test_every_boundary_has_its_own_short_explanation(self, held_snapshot: DebuggerSnapshot) -> None:
        texts = {boundary: explain(at(held_snapshot, boundary)) for boundary in ALL_BOUNDARIES}
        assert len(set(texts.values())) == len(ALL_BOUNDARIES)
        for boundary, text in texts.items():
            assert text and len(text) <= MAX_CHARS and _sentences(text) <= 2, (boundary, text)
            assert headline(at(held_snapshot, boundary)) == f"held at {boundary.value}"

    def test_every_state_has_its_own_short_explanation(self, warm_snapshot: DebuggerSnapshot) -> None:
        texts = {state: explain(in_state(warm_snapshot, state)) for state in EnvState}
        assert len(set(texts.values())) == len(EnvState)
        for state, text in texts.items():
            assert text and len(text) <= MAX_CHARS and _sentences(text) <= 2, (state, text)

    def test_a_managed_instances_environment_serving_is_not_one_request_running(
            self, warm_snapshot: DebuggerSnapshot) -> None:
        # Managed Instances stay RUNNING between invokes: "request … is running" stayed after the last one ended.
        managed = dataclasses.replace(warm_snapshot, function=dataclasses.replace(warm_snapshot.function,
                                                                                  max_concurrency=3))
        running = in_state(managed, EnvState.RUNNING)
        assert headline(running) == "serving"
        text = explain(running)
        assert "its 3 workers take invokes as they come" in text and "is running" not in text
        assert len(text) <= MAX_CHARS and _sentences(text) <= 2

    def test_without_extensions_too(self, warm_snapshot: DebuggerSnapshot) -> None:
        """counter has no extensions: the sentences must not invent one."""
        for boundary in ALL_BOUNDARIES:
            text = explain(at(warm_snapshot, boundary))
            assert "audit" not in text and len(text) <= MAX_CHARS


class TestConcreteNames:
    def test_init_runtime_names_the_extension_and_telemetry(self, held_snapshot: DebuggerSnapshot) -> None:
        text = explain(at(held_snapshot, Boundary.INIT_RUNTIME))
        assert text.startswith("Every extension has registered (audit), so Lambda now starts the runtime (python:3).")
        assert "can still subscribe to telemetry" in text

    def test_init_function_names_the_module(self, held_snapshot: DebuggerSnapshot) -> None:
        text = explain(held_snapshot)  # really held at init.function
        assert "imports handler.py" in text and "warm invoke" in text

    def test_init_function_of_snapstarts_snapshot_says_init_is_copied_not_reused(self, held_snapshot: DebuggerSnapshot
                                                                                  ) -> None:
        from lambdatui.model.fleet import SNAP_START, EnvironmentLine

        line = EnvironmentLine(held_snapshot.environment_number, held_snapshot.environment.state,
                               Boundary.INIT_FUNCTION, 0, SNAP_START, False)
        text = explain(dataclasses.replace(held_snapshot, environments=(line,)))
        assert "becomes the snapshot" in text and "copied into every restored environment" in text, text
        assert "warm invoke" not in text and len(text) <= MAX_CHARS and _sentences(text) <= 2, text

    def test_invoke_start_names_request_subscribers_and_timeout(self, held_snapshot: DebuggerSnapshot) -> None:
        text = explain(at(held_snapshot, Boundary.INVOKE_START))
        assert f"Request {snapshots.HELD_ID[:8]} is ready" in text
        assert "INVOKE to the audit extension" in text and "3 s timeout" in text

    def test_invoke_done_explains_the_freeze(self, warm_snapshot: DebuggerSnapshot) -> None:
        text = explain(at(warm_snapshot, Boundary.INVOKE_DONE))
        assert f"Request {snapshots.WARM_IDS[-1][:8]} is done" in text
        assert "frozen: background threads stop until the next event thaws it" in text

    def test_invoke_done_names_the_invoke_done_not_the_next_queued(self, warm_snapshot: DebuggerSnapshot) -> None:
        queued = "9e9e9e9e-0000-1111-2222-333333333333"
        held = at(warm_snapshot, Boundary.INVOKE_DONE)
        held = dataclasses.replace(held, environment=dataclasses.replace(held.environment, queued=(queued,)))
        assert f"Request {snapshots.WARM_IDS[-1][:8]} is done" in explain(held)
        assert held.request_in_view == snapshots.WARM_IDS[-1]  # what the header names too
        at_start = at(held, Boundary.INVOKE_START)
        assert at_start.request_in_view == queued  # about to start: the next one

    def test_frozen_names_the_threads_that_stop(self, mutations_snapshot: DebuggerSnapshot) -> None:
        assert mutations_snapshot.environment.state is EnvState.FROZEN
        assert "(here: poller)" in explain(mutations_snapshot)

    def test_invoke_response_with_extension_is_not_over(self, held_snapshot: DebuggerSnapshot) -> None:
        assert "not over until the audit extension calls /next" in explain(at(held_snapshot, Boundary.INVOKE_RESPONSE))

    def test_invoke_response_after_a_function_error_stays_warm(self, crash_snapshot: DebuggerSnapshot) -> None:
        text = explain(at(crash_snapshot, Boundary.INVOKE_RESPONSE))
        assert "failed (Runtime.ExitError)" in text

    def test_reset_after_timeout_and_after_crash(self, timeout_snapshot: DebuggerSnapshot,
                                                 crash_snapshot: DebuggerSnapshot) -> None:
        assert timeout_snapshot.environment.state is EnvState.COLD
        assert explain(timeout_snapshot).startswith("The environment was reset after a timeout during request")
        assert headline(timeout_snapshot) == "reset (timeout)"
        crashed = explain(crash_snapshot)
        assert crashed.startswith(f"The environment was reset after a crash (Runtime.ExitError) during request "
                                f"{snapshots.CRASH_ID[:8]}")
        assert "/tmp is kept" in crashed
        assert "reset" in explain(at(crash_snapshot, Boundary.SHUTDOWN_DONE))
        assert "after a crash" in explain(at(crash_snapshot, Boundary.SHUTDOWN_START))

    def test_a_runtime_frozen_by_the_user_mid_invoke_is_not_said_to_be_running(self, warm_snapshot: DebuggerSnapshot
                                                                                ) -> None:
        frozen = in_state(warm_snapshot, EnvState.RUNNING, current_request_id="f0f0f0f0-0000",
                          user_frozen=frozenset({"runtime"}))
        assert headline(frozen) == "runtime frozen (f0f0f0f0)"
        said = explain(frozen)
        assert "is running" not in said and "SIGSTOP" in said and "timeout still counts" in said, said

    def test_fresh_cold_is_not_a_reset(self, cold_snapshot: DebuggerSnapshot) -> None:
        assert explain(cold_snapshot).startswith("The environment is cold: no process exists yet.")
        assert headline(cold_snapshot) == "cold"

    def test_a_new_environment_is_not_a_reset(self, warm_snapshot: DebuggerSnapshot) -> None:
        """`N`: env #2 is cold with the old process generation and a timeline of its own, with no reset in it."""
        new = dataclasses.replace(in_state(warm_snapshot, EnvState.COLD, generation=1), timeline=(),
                                  environment_number=2)
        said = explain(new)
        assert headline(new) == "cold"
        assert "reset" not in said and "/tmp is empty" in said and "cold start" in said, said
        assert len(said) <= MAX_CHARS and _sentences(said) <= 2

    def test_running_names_the_request(self, warm_snapshot: DebuggerSnapshot) -> None:
        running = in_state(warm_snapshot, EnvState.RUNNING, current_request_id=snapshots.WARM_IDS[0])
        assert explain(running).startswith(f"Request {snapshots.WARM_IDS[0][:8]} is running")
        assert headline(running) == f"running {snapshots.WARM_IDS[0][:8]}"

    def test_spindown_tells_the_subscribed_extension(self, held_snapshot: DebuggerSnapshot) -> None:
        shutting = in_state(held_snapshot, EnvState.SHUTTING_DOWN)
        assert "the audit extension gets SHUTDOWN and 2 s" in explain(at(shutting, Boundary.SHUTDOWN_START))


class TestEventTemplates:
    @pytest.mark.parametrize("name", sorted(TEMPLATES))
    def test_templates_are_json_objects(self, name: str) -> None:
        assert isinstance(json.loads(TEMPLATES[name]), dict)

    def test_the_shapes_handlers_read(self) -> None:
        s3 = json.loads(TEMPLATES["S3 put"])["Records"][0]
        assert s3["eventName"].startswith("ObjectCreated") and s3["s3"]["object"]["key"]
        assert json.loads(TEMPLATES["SQS message"])["Records"][0]["eventSource"] == "aws:sqs"
        assert json.loads(TEMPLATES["API Gateway REST (proxy)"])["httpMethod"] == "GET"
        assert json.loads(TEMPLATES["API Gateway HTTP API (v2)"])["version"] == "2.0"
        assert json.loads(TEMPLATES["EventBridge scheduled event"])["detail-type"] == "Scheduled Event"

    def test_events_folder(self, tmp_path: Path) -> None:
        events = tmp_path / "events"
        events.mkdir()
        (events / "b_order.json").write_text('{"order": 1}')
        (events / "a_empty.json").write_text("{}")
        (events / "notes.txt").write_text("not an event")
        (events / "broken.json").write_text("{ not json")  # offered anyway: the panel shows the error
        (events / "latin1.json").write_bytes(b'{"name": "caf\xe9"}')
        (events / "folder.json").mkdir()
        with open(events / "huge.json", "wb") as handle:
            handle.truncate(MAX_EVENT_BYTES + 1)  # sparse: costs no disk
        found = scan_events_folder(tmp_path)
        assert [name for name, _ in found.events] == ["events/a_empty.json", "events/b_order.json",
                                                      "events/broken.json"]
        assert dict(found.events)["events/b_order.json"] == '{"order": 1}'
        assert any(note.startswith("events/huge.json: 6.0 MB, over Lambda's 6 MB") for note in found.notes)
        assert "events/latin1.json: not UTF-8 text" in found.notes
        assert load_events_folder(tmp_path) == found.events

    def test_no_events_folder(self, tmp_path: Path) -> None:
        assert load_events_folder(tmp_path) == []
        assert scan_events_folder(tmp_path).notes == []


def test_pure_modules_import_no_ui_or_io_framework() -> None:
    code = ("import json, sys\nimport lambdatui.ui.explain, lambdatui.ui.event_templates\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    leaked = sorted(m for m in json.loads(out.stdout) if m.split(".")[0] in ("textual", "rich", "trio", "anyio"))
    assert not leaked


def test_widgets_never_import_trio() -> None:
    code = "import json, sys\nimport lambdatui.ui.widgets\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    assert not [m for m in json.loads(out.stdout) if m.split(".")[0] in ("trio", "quart", "hypercorn")]


def test_a_sam_projects_events_folder_is_the_one_beside_its_template() -> None:
    """SAM keeps a project's sample events in events/ beside template.yaml: the event editor looked in the function's
    CodeUri folder instead, and offered none of them (a bug hunt, with README's own SAM sample)."""
    from lambdatui.config import resolve_function
    from lambdatui.tui import build_debugger

    sam = Path(__file__).resolve().parents[2] / "sample_functions" / "sam"
    config = resolve_function(str(sam / "template.yaml"), function="OrdersFunction")
    app = build_debugger(config)
    assert app.code_dir == sam and config.code_dir != sam
    assert "events/order.json" in dict(app.event_choices())
