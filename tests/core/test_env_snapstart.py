"""SnapStart in the pure core (lambda-spec §1.7, §1.9, §4.8): the snapshot environment and a restored one."""

from __future__ import annotations

import json

import pytest
from driver import Driver, ext

from lambdatui.core import inputs as ins
from lambdatui.core.effects import RUNTIME, Freeze, StartTimer, Thaw
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState

RESTORE_START = ("RESTORE_START Runtime Version: python:3\t"
                 "Runtime Version ARN: arn:aws:lambda:us-east-1::runtime:lambdatui-python-3")


def restore_next(d: Driver) -> int:
    tok = d.token()
    d.feed(ins.RuntimeRestoreNext(tok))
    return tok


def restore_error(d: Driver, error_type: str = "Runtime.AfterRestoreError") -> int:
    tok = d.token()
    body = json.dumps({"errorMessage": "hook broke", "errorType": "ValueError"}).encode()
    d.feed(ins.RuntimeRestoreError(tok, body, "application/json", error_type))
    return tok


def restored(extensions: tuple[str, ...] = ()) -> tuple[Driver, int, str]:
    """A restored environment whose first invoke started its restore; (driver, caller token, request id)."""
    d = Driver(extensions, snapstart="restore")
    tok, rid = d.invoke()
    return d, tok, rid


class TestSnapshotEnvironment:
    def test_init_ends_parked_on_restore_next_and_the_environment_is_the_snapshot(self):
        d = Driver(snapstart="snapshot")
        d.start()
        d.advance(300)
        tok = restore_next(d)
        assert not d.answered(tok)  # the pending call is the snapshot: never answered
        assert d.state is EnvState.SNAPSHOT
        assert ("snapshot.taken", False) in d.boundaries()
        assert "init.done" not in [b for b, _ in d.boundaries()]
        # SnapStart always logs INIT_REPORT (lambda-spec §4.2).
        assert any(line.startswith("INIT_REPORT Init Duration: 300.00 ms") for line in d.lines())
        assert d.env.settled()

    def test_the_snapshot_is_frozen_whole_until_its_shutdown(self):
        """A snapshot is a memory image: nothing of it runs, its extensions neither (the host lets its runtime's
        process run for the moment of each restore, to fork the copy). Its shutdown thaws it, so that it can end."""
        d = Driver(("ext",), snapstart="snapshot")
        d.start()
        d.register("ext")
        d.ext_next("ext")
        restore_next(d)
        assert d.state is EnvState.SNAPSHOT
        assert d.effects(Freeze) == [Freeze((RUNTIME, ext("ext")), whole=True)]
        assert d.env.frozen
        since = len(d.log)
        d.feed(ins.ShutdownRequested())
        assert d.effects(Thaw, since) == [Thaw((RUNTIME, ext("ext")), whole=True)]

    def test_a_runtime_without_restore_hooks_goes_straight_to_next_and_that_is_the_snapshot(self):
        d = Driver(snapstart="snapshot")
        d.start()
        d.runtime_next()
        assert d.state is EnvState.SNAPSHOT

    def test_init_type_is_snap_start_with_the_long_init_limit_of_publishing(self):
        d = Driver(snapstart="snapshot")
        assert d.config.initialization_type == "snap-start"
        assert d.config.initialised_ahead

    def test_held_at_snapshot_taken_then_released(self):
        d = Driver(snapstart="snapshot")
        d.feed(ins.BreakpointsSet(frozenset({Boundary.SNAPSHOT_TAKEN})))
        d.start()
        restore_next(d)
        assert d.env.hold is not None and d.env.hold.boundary is Boundary.SNAPSHOT_TAKEN
        assert d.state is EnvState.INIT
        d.feed(ins.ContinueRequested())
        assert d.state is EnvState.SNAPSHOT

    def test_the_snapshot_process_dying_ends_the_snapshot_for_good(self):
        d = Driver(snapstart="snapshot")
        d.start()
        restore_next(d)
        d.killed_by_signal(RUNTIME)
        assert any("the snapshot is gone" in text for text in d.explanations())
        assert d.state is EnvState.SHUT_DOWN  # final: never re-initialised

    def test_a_before_snapshot_hook_failure_fails_the_publication_without_a_retry(self):
        d = Driver(snapstart="snapshot")
        d.start()
        d.init_error(b'{"errorMessage":"no","errorType":"ValueError"}', "Runtime.BeforeSnapshotError")
        d.exited(RUNTIME, 64)
        assert any("Status: error\tError Type: Runtime.BeforeSnapshotError" in line for line in d.lines())
        assert d.state is EnvState.SHUT_DOWN  # final: never re-initialised
        assert not any("suppressed init" in text for text in d.explanations())


class TestRestoredEnvironment:
    def test_restore_logs_restore_start_and_its_phase_without_function_init(self):
        d, _, _ = restored()
        assert d.lines() == [RESTORE_START]
        assert d.facts(f.PhaseStarted)[0] == f.PhaseStarted("init", "restore", d.mono)
        assert StartTimer("restore", d.mono + 10.0) in d.effects(StartTimer)
        assert [b for b, _ in d.boundaries()] == ["restore.start", "init.extensions", "init.runtime"]

    def test_restore_next_is_answered_at_once_then_next_ends_the_restore(self):
        d, tok, rid = restored()
        d.advance(20)
        rtok = restore_next(d)
        assert d.reply(rtok).status == 200 and d.reply(rtok).body == b""
        d.advance(15)
        d.runtime_next()
        assert ("restore.hooks", False) in d.boundaries()
        assert any(line == "RESTORE_REPORT Restore Duration: 35.00 ms" for line in d.lines())
        assert not any(line.startswith(("INIT_REPORT", "INIT_START")) for line in d.lines())
        d.respond(rid)
        d.runtime_next()
        (report,) = d.reports()
        assert report.init_duration_ms is None
        assert report.restore_duration_ms == pytest.approx(35.0)
        assert report.billed_restore_duration_ms == 35  # from the runtime's launch to its first /next
        (line,) = d.report_lines()
        assert "\tRestore Duration: 35.00 ms\tBilled Restore Duration: 35 ms\t" in line
        assert "Init Duration" not in line
        assert d.result_for(tok).payload == b'"ok"'

    def test_after_restore_failure_answers_the_invoke_with_snapstart_exception_and_discards_the_environment(self):
        d, tok, rid = restored()
        restore_next(d)
        assert d.reply(restore_error(d)).status == 202
        d.exited(RUNTIME, 65)
        result = d.result_for(tok)
        assert (result.api_status, result.error_type) == (400, "SnapStartException")
        assert any(line.startswith("RESTORE_REPORT") and "Status: error\tError Type: Runtime.AfterRestoreError" in line
                   for line in d.lines())
        assert d.state is EnvState.SHUT_DOWN  # final: never re-initialised

    def test_restore_error_outside_a_restore_is_refused(self):
        d, _, _ = restored()
        assert d.reply(restore_error(d)).status == 403  # still Started: /restore/next not called yet

    def test_the_restore_limit_answers_snapstart_timeout_exception(self):
        d, tok, _ = restored()
        restore_next(d)
        d.advance(10_000)
        d.feed(ins.TimerFired("restore"))
        result = d.result_for(tok)
        assert (result.api_status, result.error_type) == (408, "SnapStartTimeoutException")
        assert any(line.startswith("RESTORE_REPORT") and line.endswith("Status: timeout") for line in d.lines())
        assert any("after-restore hooks never finished" in text for text in d.explanations())

    def test_extensions_launch_in_a_restore_and_must_be_ready(self):
        d, _, _ = restored(("ext-a",))
        assert d.spawned() == [ext("ext-a")]
        d.register("ext-a")
        d.ext_next("ext-a")
        assert RUNTIME in d.spawned()
        restore_next(d)
        d.runtime_next()
        assert d.state in (EnvState.FROZEN, EnvState.RUNNING)

    def test_every_init_of_a_restored_environment_is_a_restore(self):
        d, _, rid = restored()
        restore_next(d)
        d.runtime_next()
        d.killed_by_signal(RUNTIME)  # crash mid-invoke: reset
        d.exited(RUNTIME)
        mark = d.mark()
        d.invoke()
        assert RESTORE_START in d.lines(since=mark)

    def test_a_restore_after_a_reset_is_billed_once_inside_its_invoke_as_a_suppressed_init_is(self):
        """Its time is in the invoke's Duration (the clock started with the invoke, as a suppressed Init's does): the
        REPORT bills it there, not a second time as Billed Restore Duration (it did: 24 ms of restore, billed 49)."""
        d, _, _ = restored()
        restore_next(d)
        d.runtime_next()
        d.killed_by_signal(RUNTIME)  # crash mid-invoke: reset
        d.exited(RUNTIME)
        mark = d.mark()
        tok, rid = d.invoke()
        restore_next(d)
        d.advance(30)
        d.runtime_next()
        d.respond(rid)
        d.runtime_next()
        lines = d.lines(since=mark)
        starts = [line.split(" ")[0] for line in lines if line.startswith(("RESTORE_START", "START"))]
        assert starts == ["RESTORE_START", "START"], lines  # as INIT_START comes before START in a suppressed Init
        report = d.facts(f.InvokeReported, since=mark)[-1]
        assert report.duration_ms == pytest.approx(30) and report.billed_duration_ms == 30 and report.cold, report
        assert report.restore_duration_ms is None and report.billed_restore_duration_ms is None, report
        assert not any("Billed Restore Duration" in line for line in lines), lines


def test_restore_next_without_snapstart_is_not_found():
    d = Driver()
    d.start()
    tok = restore_next(d)
    assert d.reply(tok).status == 404


class TestFaultsForBoundariesNeverReached:
    """A fault armed for a boundary its environment never reaches waited for good, and a replay passed as if it had
    acted (the snapshot environment takes the faults a scenario gives without `env`)."""

    @pytest.mark.parametrize("at", [Boundary.RESTORE_START, Boundary.RESTORE_HOOKS_DONE])
    def test_a_restore_boundary_is_refused_where_nothing_is_restored(self, at: Boundary):
        from lambdatui.model import faults as flt

        for d in (Driver(snapstart="snapshot"), Driver()):
            d.feed(ins.FaultRequested(flt.Crash(at=at)))
            refused = [x for x in d.facts() if isinstance(x, f.FaultRefused)]
            assert refused and "never restored" in refused[0].reason, d.facts()
            assert not any(isinstance(x, f.FaultArmed) for x in d.facts())

    def test_snapshot_taken_is_refused_once_the_snapshot_is_made_and_where_none_is(self):
        from lambdatui.model import faults as flt

        d = Driver(snapstart="snapshot")
        d.feed(ins.FaultRequested(flt.Crash(at=Boundary.SNAPSHOT_TAKEN)))
        assert any(isinstance(x, f.FaultArmed) for x in d.facts())  # before the snapshot: it comes
        d = Driver(snapstart="snapshot")
        d.start()
        d.runtime_next()
        assert d.state is EnvState.SNAPSHOT
        d.feed(ins.FaultRequested(flt.Crash(at=Boundary.SNAPSHOT_TAKEN)))
        assert any(isinstance(x, f.FaultRefused) and "taken already" in x.reason for x in d.facts())
        d, _tok, _rid = restored()
        d.feed(ins.FaultRequested(flt.Crash(at=Boundary.SNAPSHOT_TAKEN)))
        assert any(isinstance(x, f.FaultRefused) and "takes no snapshot" in x.reason for x in d.facts())

    def test_a_restored_environment_takes_a_fault_for_its_restore(self):
        from lambdatui.model import faults as flt

        d, _tok, _rid = restored()
        d.feed(ins.FaultRequested(flt.Crash(at=Boundary.RESTORE_START)))
        assert any(isinstance(x, f.FaultArmed) for x in d.facts())
