"""A child's exit is reported once what it wrote is read, not when its pipes reach end of file: a daemon it started
in a session of its own (setsid, stdout inherited) holds them as long as it lives, and Lambda acts on the runtime's
exit when it happens. What the daemon writes later is still read, after the exit, until end of file or its
environment's end (processes/children.py OUTPUT_GRACE)."""

from __future__ import annotations

import os
import signal
import struct
from pathlib import Path

import pytest
import trio
from proc_helpers import Recorder, is_live, namespaced_sandbox, open_fds, python, running, wait_gone

from lambdatui.processes import Sandbox
from lambdatui.processes.output import MAX_RECORD_BYTES, FramedLineSplitter

# Says its pid on stderr once SIGUSR1 is blocked, then writes one line to the stdout it inherited when it gets it.
DAEMON = ("import os, signal, sys\n"
          "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
          "sys.stderr.write(f'daemon {os.getpid()}\\n'); sys.stderr.flush()\n"
          "signal.sigwait({signal.SIGUSR1})\n"
          "print('late', flush=True)\n")
# The runtime: starts the daemon as subprocess does by default (stdout and stderr inherited), then its own lines, the
# last one unfinished, and exits.
LEADER = ("import os, subprocess, sys\n"
          f"subprocess.Popen([sys.executable, '-S', '-u', '-c', {DAEMON!r}], start_new_session=True)\n"
          "sys.stdout.write('mine\\ntail'); sys.stdout.flush()\n"
          "os._exit(3)\n")


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    env_tmp = tmp_path / "env-tmp"
    env_tmp.mkdir()
    return Sandbox.tmpdir_only(env_tmp, "tests use a plain TMPDIR")


async def daemon_pid(recorder: Recorder) -> int:
    while not (said := [line for line in recorder.lines(stream="stderr") if line.startswith("daemon ")]):
        await recorder.wait_lines(len(recorder.lines()) + 1)
    return int(said[0].split()[1])


@pytest.mark.trio
async def test_the_exit_comes_after_its_own_last_lines_and_before_what_its_daemon_writes_later(
        sandbox: Sandbox) -> None:
    daemon = None
    with trio.fail_after(10):
        async with running(sandbox) as (supervisor, recorder):
            handle = supervisor.spawn(python(LEADER))
            try:
                assert (await recorder.wait_exit(handle)).code == 3
                daemon = await daemon_pid(recorder)
                assert is_live(daemon)  # it holds the pipes: their end of file was not waited for
                os.kill(daemon, signal.SIGUSR1)
                while "late" not in recorder.lines(stream="stdout"):
                    await recorder.wait_lines(len(recorder.lines()) + 1)
            finally:
                if daemon is not None and is_live(daemon):
                    os.kill(daemon, signal.SIGKILL)
    stdout = [(what, line) for _, what, line in recorder.events if what != "stderr"]
    # Its unfinished last line is its own, whole at its exit: the daemon's line is one of its own.
    assert stdout == [("stdout", "mine"), ("stdout", "tail"), ("exit", "exit status 3"), ("stdout", "late")]


@pytest.mark.trio
async def test_the_environments_end_kills_the_daemon_that_holds_an_ended_runtimes_pipes(tmp_path: Path) -> None:
    """In a PID namespace: a daemon that writes on after the runtime's exit is read until the environment ends,
    which kills it; its pipes are then closed."""
    sandbox = namespaced_sandbox(tmp_path)
    # Popen returns once its child has left the group and exec'd: the group's kill at the exit cannot reach it.
    loop = f"while :; do echo tick; sleep 0.02; done # {tmp_path.name}"  # its command line, ours only
    ticking = ("import os, subprocess\n"
               f"subprocess.Popen(['/bin/sh', '-c', {loop!r}], start_new_session=True)\n"
               "os._exit(3)\n")
    with trio.fail_after(5):
        async with running(sandbox) as (supervisor, recorder):
            before = open_fds(os.getpid())
            handle = supervisor.spawn(python(ticking))
            assert (await recorder.wait_exit(handle)).code == 3
            after_exit = len(recorder.events)
            while "tick" not in [line for _, _, line in recorder.events[after_exit:]]:
                await recorder.wait_lines(len(recorder.lines()) + 1)
            [daemon] = sessions_running(loop)
            supervisor.end_everything_inside(prepare_next=False)
            await wait_gone([daemon])
            while open_fds(os.getpid()) - before:  # its pipes' read ends: closed once the daemon is gone
                await trio.sleep(0.01)


def sessions_running(command: str) -> list[int]:
    """The host pids of the live session leaders whose command line holds `command` (not the shell's forks of
    itself, for an instant, before each exec)."""
    found = []
    for name in os.listdir("/proc"):
        try:
            if (name.isdigit() and command.encode() in Path(f"/proc/{name}/cmdline").read_bytes()
                    and os.getsid(int(name)) == int(name) and is_live(int(name))):
                found.append(int(name))
        except OSError:
            pass  # gone meanwhile
    return found


def test_a_record_cut_at_the_limit_by_its_writers_exit_does_not_swallow_what_comes_next() -> None:
    """The runtime died inside a record past MAX_RECORD_BYTES (its rest was being skipped); a daemon still holding
    its stdout writes on: its lines are read, not skipped as the rest of that record."""
    splitter = FramedLineSplitter()
    body = b"x" * (MAX_RECORD_BYTES + 1000)
    cut = struct.pack(">IIQ", 0xA55A0003, len(body), 1_700_000_000_000_000) + body[:MAX_RECORD_BYTES + 10]
    assert len(splitter.feed(cut)) == 1  # the record, cut at the limit and marked
    assert splitter.finish() == []
    assert splitter.feed(b"the daemon's line\n") == ["the daemon's line"]
