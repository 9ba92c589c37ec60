"""A throwaway lambdatui host for the orphan test.

Starts a Supervisor with two children that each leave a grandchild in their
group (one of them frozen) and a third that starts a setsid daemon, prints every
pid of those groups, the daemon's and the watchdog's as one JSON line, then
waits to be SIGKILLed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import trio

from lambdatui.processes import ProcessHandle, ProcessSpec, Sandbox, Supervisor

SCRIPT = "sleep 300 & echo $!; sleep 300"
# A daemon that leaves its group and the runtime's tree: only the PID namespace (there is no cgroup here) ends it.
DAEMON = "setsid sh -c 'exec sleep 301' </dev/null >/dev/null 2>&1 & echo started; exec sleep 300"


def running(command: bytes) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read() == command:
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after ")": state, ppid, pgrp
            members.append(int(entry))
    return members


async def main(env_tmp: Path) -> None:
    reported: dict[str, trio.Event] = {"plain": trio.Event(), "frozen": trio.Event(), "daemon": trio.Event()}

    def on_lines(handle: ProcessHandle, stream: str, lines: list[str]) -> None:
        reported[handle.key].set()

    async with trio.open_nursery() as nursery:
        sandbox = Sandbox.create(env_tmp, [sys.executable, "/bin/sh"])
        supervisor = Supervisor(nursery, sandbox, on_lines, lambda handle, status: None)
        env = {"PATH": "/usr/bin:/bin"}
        plain = supervisor.spawn(ProcessSpec("plain", ["/bin/sh", "-c", SCRIPT], "/", env))
        frozen = supervisor.spawn(ProcessSpec("frozen", ["/bin/sh", "-c", SCRIPT], "/", env))
        supervisor.spawn(ProcessSpec("daemon", ["/bin/sh", "-c", DAEMON], "/", env))
        for event in reported.values():
            await event.wait()
        while not (daemons := running(b"sleep\x00301\x00")):
            await trio.sleep(0.005)
        supervisor.freeze(frozen)
        await supervisor.wait_stopped(frozen)
        pids = sorted(set(group_members(plain.pgid) + group_members(frozen.pgid)))
        print(json.dumps({"pids": pids, "daemons": daemons, "watchdog": supervisor.watchdog_pid, "mode": sandbox.mode,
                          "pid_namespace": supervisor.containment()}), flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, Path(sys.argv[1]))
