"""The debugger's memory figures (issue 11), from a real environment: the cache of sample_functions/memory grows
invoke by invoke in the snapshot, until the invoke that runs out of memory resets it."""

from __future__ import annotations

import pytest
from controller_support import SAMPLES, debugger, payload

from lambdatui.model import timeline as tl


@pytest.mark.trio
async def test_memory_builds_up_in_the_snapshot_until_the_runtime_runs_out() -> None:
    async with debugger(SAMPLES / "memory" / "handler.py") as dbg:
        figures = []
        for n in range(1, 5):
            result, report = await dbg.invoke()
            assert payload(result)["cached"] == n and report.status == "success"
            snapshot = dbg.snapshot()
            assert [m.phase for m in snapshot.memory] == ["init"] + ["invoke"] * n
            last = snapshot.memory[-1]
            assert last.request_id == report.request_id and last.limit_mb == 128
            assert last.runtime_peak_mb == report.max_memory_used_mb
            assert last.enforced_by in ("cgroup v1", "cgroup v2", "watch")
            figures.append(last.environment_mb)
        assert all(later - earlier >= 20 for earlier, later in zip(figures, figures[1:])), figures
        assert figures[-1] < 128
        result, report = await dbg.invoke()
        assert result.error_type == "Runtime.OutOfMemory"
        assert (report.status, report.max_memory_used_mb) == ("error", 128)
        snapshot = dbg.snapshot()
        assert len(snapshot.memory) == 5  # the killed runtime measured nothing more: REPORT says what it used
        bars = [b for b in snapshot.timeline if b.kind == tl.INVOKE]
        assert [b.detail.endswith(f"mem {m}/128 MB") for b, m in zip(bars, figures)] == [True] * 4
        assert bars[4].error_type == "Runtime.OutOfMemory"
        result, report = await dbg.invoke()
        assert payload(result)["cached"] == 1 and report.cold
        assert [m.phase for m in dbg.snapshot().memory] == ["init", "invoke"]  # a new runtime, from scratch
