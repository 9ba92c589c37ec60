"""Named deadlines on trio's real clock: kept to a fraction of a millisecond, however long the wait."""

from __future__ import annotations

import pytest
import trio

from lambdatui.host.deadlines import Deadlines, _wake_at


def test_a_long_wait_ends_early_by_more_than_the_kernel_may_add_and_a_short_one_on_time() -> None:
    # Linux may end a poll's timeout late by 0.1 % of it: 10 ms of a 10 s wait.
    assert _wake_at(110.0, 100.0) == pytest.approx(110.0 - 0.02)
    assert _wake_at(100.015, 100.0) == 100.015
    assert _wake_at(float("inf"), 100.0) == float("inf")  # nothing due


@pytest.mark.trio
async def test_deadlines_fire_in_order_after_a_time_with_none() -> None:
    fired: list[tuple[str, float]] = []
    deadlines = Deadlines(lambda name: fired.append((name, trio.current_time())))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(deadlines.run)
            await trio.sleep(0.01)  # the task waits with nothing due
            now = trio.current_time()
            deadlines.start("later", now + 0.06)
            deadlines.start("sooner", now + 0.03)
            deadlines.start("cancelled", now + 0.02)
            deadlines.cancel("cancelled")
            while len(fired) < 2:
                await trio.sleep(0.005)
            nursery.cancel_scope.cancel()
    assert [name for name, _ in fired] == ["sooner", "later"]
    assert fired[0][1] >= now + 0.03 and fired[1][1] >= now + 0.06
