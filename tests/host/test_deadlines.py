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


class _Socket:
    """A sandbox API connection as `calls_unheard` sees it: its descriptor, and whether its bytes wait on purpose."""

    def __init__(self, fd: int, reads_held: bool) -> None:
        self.fd, self.reads_held = fd, reads_held


def test_a_call_waiting_unread_holds_a_phase_deadline_off_but_a_paced_streams_bytes_do_not() -> None:
    import socket

    from lambdatui.core.common import INVOKE_TIMER
    from lambdatui.host.deadlines import calls_unheard

    runtime, host = socket.socketpair()
    with runtime, host:
        connection = _Socket(host.fileno(), reads_held=False)
        unheard = calls_unheard([connection])
        assert not unheard(INVOKE_TIMER)  # nothing sent
        runtime.sendall(b"POST /2018-06-01/runtime/invocation/r/response HTTP/1.1\r\n")
        assert unheard(INVOKE_TIMER) and not unheard("not a phase")
        connection.reads_held = True  # a streamed body the host paces: the runtime's bytes wait by design
        assert not unheard(INVOKE_TIMER)
