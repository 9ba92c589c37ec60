"""A participant starts with every signal at its default action and none blocked, as under Lambda's init, whatever
lambdatui itself was started with: both ways it is started (forked by the environment's init, or by the host
where there is no PID namespace), and the signals Python's `signal` cannot see (glibc's 32, which Python 3.13's
subprocess leaves ignored through posix_spawn)."""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from proc_helpers import namespaced_sandbox, running, spec

from lambdatui.processes import Sandbox

IGNORED = (signal.SIGUSR1, signal.SIGTERM, signal.SIGRTMIN + 3)  # a shell's `trap '' ...`, an RT signal
BLOCKED = (signal.SIGUSR2, signal.SIGRTMIN + 5)
RESERVED = 32  # glibc's SIGCANCEL: its sigaction refuses it, so only the kernel's call sets it
RT_SIGACTION = {"x86_64": 13, "aarch64": 134}.get(os.uname().machine)
STATUS = ["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"]  # exec'd directly: nothing in between changes them


def _rt_sigaction(number: int, new: ctypes.Array | None, old: ctypes.Array | None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    assert RT_SIGACTION is not None
    result = libc.syscall(ctypes.c_long(RT_SIGACTION), ctypes.c_long(number), new, old, ctypes.c_long(8))
    assert result == 0, os.strerror(ctypes.get_errno())


@contextmanager
def started_ignoring_and_blocking() -> Iterator[None]:
    """This process (lambdatui's host, here) as a parent that ignores and blocks signals left it: restored after."""
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in IGNORED}
    reserved: ctypes.Array | None = None
    if RT_SIGACTION is not None:
        reserved = ctypes.create_string_buffer(64)
        ignore = ctypes.create_string_buffer(64)
        ctypes.memmove(ignore, ctypes.byref(ctypes.c_void_p(1)), ctypes.sizeof(ctypes.c_void_p))  # SIG_IGN
        _rt_sigaction(RESERVED, ignore, reserved)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if reserved is not None:
            _rt_sigaction(RESERVED, reserved, None)
        for number, handler in previous.items():
            signal.signal(number, handler)


def own_status() -> dict[str, int]:
    with open("/proc/self/status") as status:
        return {line.split(":")[0]: int(line.split()[1], 16) for line in status if line.startswith(("SigIgn:",
                                                                                                     "SigBlk:"))}


def test_this_process_ignores_and_blocks_what_the_tests_say_meanwhile() -> None:
    before = own_status()
    with started_ignoring_and_blocking():
        seen = own_status()
    bits = lambda numbers: sum(1 << (number - 1) for number in numbers)  # noqa: E731
    assert seen["SigIgn"] & bits(IGNORED) == bits(IGNORED)
    assert seen["SigBlk"] & bits(BLOCKED) == bits(BLOCKED)
    if RT_SIGACTION is not None:
        assert seen["SigIgn"] & bits([RESERVED])
    assert own_status() == before  # and restored (32 too: pytest-xdist's workers on Python 3.13 ignore it)


async def participants_status(sandbox: Sandbox) -> list[str]:
    with started_ignoring_and_blocking():  # the init (its keeper) is started with the supervisor
        async with running(sandbox) as (supervisor, recorder):
            handle = supervisor.spawn(spec(STATUS))
            assert (await recorder.wait_exit(handle)).code == 0
            return recorder.lines("runtime", "stdout")


@pytest.mark.trio
async def test_a_participant_the_init_starts_gets_no_signal_ignored_or_blocked(tmp_path: Path) -> None:
    assert await participants_status(namespaced_sandbox(tmp_path)) == ["SigBlk:\t0000000000000000",
                                                                        "SigIgn:\t0000000000000000"]


@pytest.mark.trio
async def test_a_child_the_host_starts_without_an_init_gets_no_signal_ignored_or_blocked(tmp_path: Path) -> None:
    env_tmp = tmp_path / "env-tmp"
    env_tmp.mkdir()
    sandbox = Sandbox.tmpdir_only(env_tmp, "no PID namespace: the host forks the child itself")
    assert await participants_status(sandbox) == ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"]
