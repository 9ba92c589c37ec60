"""The hang-up monitor stopping before the long polls it watches (a server cancelled as lambdatui stops at once):
the polls end without an error. Before, a poll's cleanup unregistered its socket from the monitor's closed epoll set
and raised ValueError ("I/O operation on closed epoll object"), which crashed lambdatui's exit with a traceback."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from lambdatui.api.hangups import HangupMonitor


@pytest.mark.trio
@pytest.mark.skipif(not HangupMonitor.available(), reason="no epoll with EPOLLRDHUP here")
async def test_a_long_poll_cancelled_after_the_monitor_stopped_ends_quietly() -> None:
    monitor = HangupMonitor()
    ours, peer = trio.socket.socketpair()
    outcome: list[object] = []

    async def long_poll() -> None:
        outcome.append(await monitor.until_hangup(ours, trio.sleep_forever))

    with trio.fail_after(5), ours, peer:
        async with trio.open_nursery() as polls:
            async with trio.open_nursery() as watching:
                await watching.start(monitor.run)
                polls.start_soon(long_poll)
                await trio.testing.wait_all_tasks_blocked()
                watching.cancel_scope.cancel()  # the monitor ends first: its epoll set is closed
            polls.cancel_scope.cancel()  # then the poll: its cleanup must not touch the closed set
    assert outcome == []
