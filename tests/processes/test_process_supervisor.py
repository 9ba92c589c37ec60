"""Supervisor: real children, real signals, real /proc."""

from __future__ import annotations

import errno
import os
import signal
import stat
import time
from pathlib import Path

import pytest
import trio
from proc_helpers import (
    PY,
    is_live,
    open_fds,
    python,
    running,
    sh,
    spec,
    wait_gone,
)

from lambdatui.processes.linux import KernelFile
from lambdatui.processes import MAX_LINE_BYTES, ExitStatus, LaunchError, Sandbox, Supervisor
from lambdatui.processes.linux import proc_state


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    env_tmp = tmp_path / "env-tmp"
    env_tmp.mkdir()
    return Sandbox.tmpdir_only(env_tmp, "tests use a plain TMPDIR")


async def _read_counter(path: Path) -> int:
    text = path.read_text() if path.exists() else ""
    return int(text) if text else 0


async def _wait_counter_above(path: Path, value: int) -> int:
    while (current := await _read_counter(path)) <= value:
        await trio.sleep(0.005)
    return current


COUNTER = (
    "import os, sys, time\n"
    "n = 0\n"
    "while True:\n"
    "    n += 1\n"
    "    with open('counter.tmp', 'w') as f: f.write(str(n))\n"
    "    os.replace('counter.tmp', 'counter')\n"
    "    time.sleep(0.005)\n"
)


# --- output and exit ---------------------------------------------------------


@pytest.mark.trio
async def test_lines_from_both_streams_then_exit(sandbox: Sandbox) -> None:
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(sh("echo out1; echo err1 >&2; echo out2; printf 'no newline'; exit 3"))
            assert h.key == "runtime" and h.pid > 0 and h.exited is None
            assert h.started_at <= trio.current_time()
            status = await rec.wait_exit(h)
    assert status == ExitStatus(code=3, signal=None)
    assert status.describe() == "exit status 3"
    assert h.exited == status and h.exited_at is not None
    assert rec.lines(stream="stdout") == ["out1", "out2", "no newline"]
    assert rec.lines(stream="stderr") == ["err1"]
    assert rec.events[-1] == ("runtime", "exit", "exit status 3")


@pytest.mark.trio
async def test_every_line_is_dispatched_before_the_exit(sandbox: Sandbox) -> None:
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(python("import sys\nfor i in range(5000): sys.stdout.write(f'{i}\\n')"))
            await rec.wait_exit(h)
    assert rec.lines() == [str(i) for i in range(5000)]
    assert rec.events[-1][1] == "exit"


@pytest.mark.trio
async def test_a_line_without_newlines_is_split_at_256_kib(sandbox: Sandbox) -> None:
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(python(f"import sys; sys.stdout.write('x' * {2 * MAX_LINE_BYTES + 5})"))
            await rec.wait_exit(h)
    assert [len(line) for line in rec.lines()] == [MAX_LINE_BYTES, MAX_LINE_BYTES, 5]


@pytest.mark.trio
async def test_signal_deaths_are_described_like_lambda(sandbox: Sandbox) -> None:
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            segv = sup.spawn(sh("kill -SEGV $$", key="segv"))
            term = sup.spawn(sh("echo ready; exec sleep 100", key="term"))
            killed = sup.spawn(sh("echo ready; exec sleep 100", key="killed"))
            await rec.wait_lines(1, key="term")
            await rec.wait_lines(1, key="killed")
            sup.send_signal(term, signal.SIGTERM)
            sup.kill(killed)
            # "(core dumped)" follows where the machine's core limit allows dumps.
            assert (await rec.wait_exit(segv)).describe().startswith("signal: segmentation fault")
            assert (await rec.wait_exit(term)).describe() == "signal: terminated"
            assert (await rec.wait_exit(killed)).describe() == "signal: killed"


def test_exit_status_wording() -> None:
    assert ExitStatus(code=0, signal=None).describe() == "exit status 0"
    assert ExitStatus(code=None, signal=6).describe() == "signal: aborted"
    assert ExitStatus(code=None, signal=11, core_dumped=True).describe() == "signal: segmentation fault (core dumped)"
    assert ExitStatus(code=None, signal=40).describe() == "signal: signal 40"
    assert ExitStatus(code=None, signal=None).describe() == "exit status unknown"


@pytest.mark.trio
async def test_signals_after_exit_are_no_ops(sandbox: Sandbox) -> None:
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(sh("exit 0"))
            await rec.wait_exit(h)
            for act in (sup.freeze, sup.thaw, sup.kill, sup.drain):
                act(h)
            sup.send_signal(h, signal.SIGTERM)
            assert sup.peak_rss_mb(h) is None
            assert sup.is_stopped(h) is False
            assert sup.live() == []


# --- launch errors ---------------------------------------------------------------


@pytest.mark.trio
async def test_launch_errors_say_why_in_one_line(sandbox: Sandbox, tmp_path: Path) -> None:
    not_exec = tmp_path / "not-executable"
    not_exec.write_text("#!/bin/sh\necho hi\n")
    not_exec.chmod(0o644)
    bad_interp = tmp_path / "bad-interpreter"
    bad_interp.write_text("#!/nonexistent/python9\n")
    bad_interp.chmod(0o755)
    no_shebang = tmp_path / "no-shebang"
    no_shebang.write_bytes(b"\x00\x01garbage")
    no_shebang.chmod(0o755)
    crlf = tmp_path / "saved-on-windows"  # the kernel looks for "/bin/sh\r"
    crlf.write_bytes(b"#!/bin/sh\r\necho hi\r\n")
    crlf.chmod(0o755)
    cases = {
        str(not_exec): f"permission denied: {not_exec} is not executable",
        str(tmp_path / "missing"): f"no such file: {tmp_path / 'missing'}",
        "no-such-command-xyz": "command not found: no-such-command-xyz (searched PATH)",
        str(tmp_path): f"permission denied: {tmp_path} is a directory",
        str(bad_interp): f"cannot execute {bad_interp}: its interpreter was not found (check the #! line)",
        str(no_shebang): f"exec format error: {no_shebang} is neither a binary nor a script with a #! line",
        str(crlf): f"cannot execute {crlf}: its #! line ends with a carriage return (the file has Windows line "
                   "endings, CRLF: save it with LF)",
    }
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            for argv0, message in cases.items():
                with pytest.raises(LaunchError) as info:
                    sup.spawn(spec([argv0]))
                assert str(info.value) == message
                assert "\n" not in str(info.value)
            with pytest.raises(LaunchError, match=r"^cannot use working directory /nonexistent-dir: "):
                sup.spawn(spec(["/bin/true"], cwd="/nonexistent-dir"))
            assert sup.live() == []
    assert rec.events == []


def test_non_executable_mode_is_what_the_test_thinks(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    path.chmod(0o644)
    assert not (path.stat().st_mode & stat.S_IXUSR)


# --- freeze, thaw, kill ----------------------------------------------------------


@pytest.mark.trio
async def test_freeze_stops_the_child_and_thaw_resumes_it(sandbox: Sandbox, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    with trio.fail_after(15):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(python(COUNTER, cwd=str(tmp_path)))
            await _wait_counter_above(counter, 0)

            sup.freeze(h)
            assert await sup.wait_stopped(h)
            assert sup.is_stopped(h)
            assert proc_state(h.pid) == "T"
            frozen_at = await _read_counter(counter)
            # Observing that nothing happens needs a window of time; 0.2 s is
            # 40 periods of the child's loop.
            await trio.sleep(0.2)
            assert await _read_counter(counter) == frozen_at

            sup.thaw(h)
            await _wait_counter_above(counter, frozen_at)
            assert not sup.is_stopped(h)
            sup.kill(h)
            await rec.wait_exit(h)


@pytest.mark.trio
async def test_kill_ends_a_frozen_group_at_once(sandbox: Sandbox) -> None:
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(sh("sleep 100 & echo $!; wait"))
            grandchild = int((await rec.wait_lines(1))[0])
            sup.freeze(h)
            assert await sup.wait_stopped(h)
            with trio.fail_after(2):  # no SIGTERM-then-wait-5-s dance
                sup.kill(h)
                status = await rec.wait_exit(h)
            assert status.describe() == "signal: killed"
            await wait_gone([h.pid, grandchild])


@pytest.mark.trio
async def test_signals_reach_grandchildren(sandbox: Sandbox) -> None:
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(sh("sleep 100 & echo $!; wait"))
            grandchild = int((await rec.wait_lines(1))[0])
            assert is_live(grandchild)
            sup.kill(h)
            await rec.wait_exit(h)
            await wait_gone([grandchild])


@pytest.mark.trio
async def test_when_the_leader_exits_its_group_goes_with_it(sandbox: Sandbox) -> None:
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(sh("sleep 100 & echo $!; exit 0"))
            # The background sleep holds stdout open; the exit must not wait for it.
            with trio.fail_after(2):
                status = await rec.wait_exit(h)
            assert status.describe() == "exit status 0"
            await wait_gone([int(rec.lines()[0])])


@pytest.mark.trio
async def test_exit_is_reported_even_if_an_escaped_process_holds_the_pipe(sandbox: Sandbox) -> None:
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(sh("setsid sleep 100 & echo $!; echo bye"))
            try:
                with trio.fail_after(3):
                    status = await rec.wait_exit(h)
                assert status.describe() == "exit status 0"
                assert rec.lines()[1] == "bye"
            finally:
                # setsid left our group: the layer cannot reach it (documented limit).
                escaped = int(rec.lines()[0])
                os.kill(escaped, signal.SIGKILL)


# --- drain, memory, fds --------------------------------------------------------------


@pytest.mark.trio
async def test_drain_delivers_written_output_synchronously(sandbox: Sandbox, tmp_path: Path) -> None:
    marker = tmp_path / "written"
    code = (
        "import os, sys, time\n"
        "sys.stdout.write('first\\nsecond\\npart'); sys.stdout.flush()\n"
        "sys.stderr.write('oops\\n'); sys.stderr.flush()\n"
        f"open({str(marker)!r}, 'w').close()\n"
        "time.sleep(100)\n"
    )
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(python(code))
            # Block the trio thread on purpose: no pump task can run, so only
            # drain() can dispatch what the child wrote.
            deadline = time.monotonic() + 5
            while not marker.exists():
                assert time.monotonic() < deadline, "child never wrote its output"
                time.sleep(0.005)
            assert rec.lines() == []
            sup.drain(h)
            assert rec.lines(stream="stdout") == ["first", "second"]  # the partial line waits
            assert rec.lines(stream="stderr") == ["oops"]
            sup.kill(h)
            await rec.wait_exit(h)
    assert rec.lines(stream="stdout") == ["first", "second", "part"]


@pytest.mark.trio
async def test_peak_rss_is_reported_in_mb(sandbox: Sandbox) -> None:
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(python("import sys; b = bytearray(30 * 1024 * 1024); import time; print('ready'); time.sleep(100)"))
            await rec.wait_lines(1)
            peak = sup.peak_rss_mb(h)
            assert peak is not None and peak >= 30
            sup.kill(h)
            await rec.wait_exit(h)


@pytest.mark.trio
async def test_the_peak_read_opened_as_it_starts_is_of_the_program_it_became(sandbox: Sandbox) -> None:
    """The host opens the runtime's /proc status as it spawns it (its first read is on a cold start's path): that
    descriptor, opened maybe before the exec, reads the program's memory, not the launcher's."""
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(python("b = bytearray(40 * 1024 * 1024); import time; print('ready'); time.sleep(100)"))
            sup.watch_memory(h)
            await rec.wait_lines(1)
            peak = sup.peak_rss_mb(h)
            assert peak is not None and peak >= 40
            sup.kill(h)
            await rec.wait_exit(h)
            assert sup.peak_rss_mb(h) is None
            sup.watch_memory(h)  # once it is gone: nothing to open, nothing raised


@pytest.mark.trio
async def test_children_hold_only_stdio(sandbox: Sandbox) -> None:
    # In particular not the write end of the watchdog's pipe: holding it would
    # keep the watchdog from ever seeing the host die.
    with trio.fail_after(20):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(sh("echo ready; exec sleep 100"))
            await rec.wait_lines(1)
            # "ready" comes from the shell, and `sleep` opens its libraries after the exec (the dynamic loader holds
            # a descriptor for a moment: CI caught fd 3 both between the shell's echo and its exec, and while the new
            # program loaded; a whole-suite run with a busy worker beside it once took over 2 s). A descriptor
            # inherited from us would stay: wait, bounded, for only stdio to be left. Right after the exec, before
            # the loader opens libc, `sleep` holds only stdio too: it is asleep (S) once it has loaded.
            with trio.move_on_after(10):
                while (Path(f"/proc/{h.pid}/comm").read_text().strip() != "sleep" or proc_state(h.pid) != "S"
                       or open_fds(h.pid) != {0, 1, 2}):
                    await trio.sleep(0.005)
            assert open_fds(h.pid) == {0, 1, 2}
            assert os.readlink(f"/proc/{h.pid}/fd/0") == "/dev/null"
            sup.kill(h)
            await rec.wait_exit(h)


@pytest.mark.trio
async def test_each_child_leads_its_own_process_group(sandbox: Sandbox) -> None:
    with trio.fail_after(20):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(sh("echo ready; exec sleep 100"))
            await rec.wait_lines(1)
            assert os.getpgid(h.pid) == h.pid != os.getpgid(0)
            sup.kill(h)
            await rec.wait_exit(h)


# --- shutting down -------------------------------------------------------------------


@pytest.mark.trio
async def test_aclose_leaves_no_process_behind(sandbox: Sandbox) -> None:
    with trio.fail_after(10):
        rec_pids: list[int] = []
        async with running(sandbox) as (sup, rec):
            plain = sup.spawn(sh("echo $$; exec sleep 100", key="plain"))
            family = sup.spawn(sh("sleep 100 & echo $!; wait", key="family"))
            frozen = sup.spawn(sh("sleep 100 & echo $!; wait", key="frozen"))
            await rec.wait_lines(1, key="plain")
            await rec.wait_lines(1, key="family")
            await rec.wait_lines(1, key="frozen")
            sup.freeze(frozen)
            assert await sup.wait_stopped(frozen)
            rec_pids = [plain.pid, family.pid, frozen.pid] + [int(line) for line in rec.lines()]
            watchdog = sup.watchdog_pid
            assert watchdog is not None and is_live(watchdog)
            await sup.aclose()
            # Reaped and reported before aclose returns.
            assert {h.pid for h in (plain, family, frozen)} == set(rec.exits)
            assert sup.live() == []
            with pytest.raises(RuntimeError):
                sup.spawn(sh("true"))
        await wait_gone(rec_pids + [watchdog])


@pytest.mark.trio
async def test_cancelling_the_nursery_kills_and_reaps(sandbox: Sandbox) -> None:
    with trio.fail_after(10):
        exits: list[str] = []
        started = trio.Event()
        async with trio.open_nursery() as outer:
            async with trio.open_nursery() as nursery:
                sup = Supervisor(
                    nursery, sandbox, lambda h, s, line: started.set(), lambda h, st: exits.append(st.describe())
                )
                h = sup.spawn(sh("echo ready; exec sleep 100"))
                await started.wait()
                nursery.cancel_scope.cancel()
            outer.cancel_scope.cancel()
        assert exits == ["signal: killed"]
        await wait_gone([h.pid])
        await sup.aclose()


@pytest.mark.trio
async def test_spawn_does_not_wait_for_anything(sandbox: Sandbox) -> None:
    # Not a benchmark (see benchmarks/): a generous bound that catches a spawn
    # which waits on the watchdog, a probe or a child's startup.
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            started = time.perf_counter()
            h = sup.spawn(spec(["/bin/true"]))
            elapsed = time.perf_counter() - started
            await rec.wait_exit(h)
    assert elapsed < 0.5


def test_python_is_not_under_tmp() -> None:
    # The sandbox tests rely on the interpreter staying visible under a private /tmp.
    assert not os.path.realpath(PY).startswith("/tmp/")


def test_a_kernel_file_reads_fresh_at_each_read_and_never_reopens_once_closed(tmp_path) -> None:
    """/proc and cgroup files are read after every invoke through one descriptor each (KernelFile)."""
    status = KernelFile(f"/proc/{os.getpid()}/status")
    first = status.read(4096)
    grown = bytearray(64 * 1024 * 1024)
    grown[::4096] = b"\1" * len(grown[::4096])  # touched: resident
    second = status.read(4096)

    def rss_kb(data: bytes) -> int:
        start = data.index(b"VmRSS:")
        return int(data[start + 6:data.index(b"kB", start)])

    assert rss_kb(second) >= rss_kb(first) + 60 * 1024  # the kernel wrote it anew for the second read
    status.close()
    with pytest.raises(OSError) as closed:
        status.read(4096)
    assert closed.value.errno == errno.EBADF
    del grown
