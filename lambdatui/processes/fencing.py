"""What keeps one environment's processes inside it, as part of the Supervisor: the PID namespace's init (started,
ended, renewed with each environment), the cgroup and its memory limit (or the watcher standing in for one),
the strays a freeze must stop, and the one start-up line that says which of these this host allows (and whether
the file system outside /tmp is read-only, as in Lambda).
"""

from __future__ import annotations

import os
import signal
import time

from .file_limit import FILE_LIMIT
from .memory_limit import MemoryUsage, RssWatcher
from .pid_namespace import InitKeeper, InitUnavailable, SandboxInit

# Without a cgroup, the memory watcher finds the PID namespace's processes by a walk of /proc this often.
NAMESPACE_RESCAN_S = 0.5
_FILES_SENTENCE = f" Open files: {FILE_LIMIT:,} descriptors for each process (RLIMIT_NOFILE), as in Lambda."


class Fencing:
    """Part of `Supervisor` (processes/supervisor.py): it runs on the supervisor's state."""

    _keeper: InitKeeper | None  # forks each life's init from inside the cgroup (init_keeper.py)
    _dying: SandboxInit | None  # the last life's init, killed, its namespace perhaps not yet empty
    _adopted: bool  # a process this supervisor did not start was adopted (a SnapStart copy): it is not in the namespace
    _namespaced: bool  # its environments get a PID namespace each (its first init could start)
    _closed: bool
    # The core's freeze through the freezer (`freeze_whole`), and whether SnapStart's snapshot runs through it for a
    # moment (`wake_while_frozen`): the cgroup is frozen when the first holds and the second does not.
    _frozen_whole = False
    _woken = False

    def init_settling(self) -> bool:
        """Whether a spawn now would wait: for the namespace's init (a reset's next, forked by the keeper ~1.5 ms
        before; a new keeper's, still booting or moving into the cgroup, ~20 ms; or one not asked for yet), or for the
        last life's namespace to end."""
        if not self._namespaced or self._closed:
            return False
        init = self._init
        return init is None or not (init.ready or init.gone) or (self._dying is not None and not self._dying.emptied)

    async def init_settled(self) -> None:
        """Until a spawn would not wait: the last life's end awaited, the init asked for if it is not, its keeper's
        move and its first word awaited off the event loop. What went wrong is left for the spawn to report."""
        if self._init is None and self._namespaced and not self._closed:
            self._start_init(move_in_now=False)
        dying = self._dying
        if dying is not None:
            import trio

            with trio.move_on_after(5):  # its `aclose` sets it, at most 2 s after the kill
                await dying.ended.wait()
        await self._init_up_off_loop()

    async def _init_up_off_loop(self) -> None:
        """Its move into the cgroup and its first word, awaited on worker threads. Only the waits: the init itself
        is started from the host's thread, as every process is, since its parent-death signal follows the thread
        that forked it (a worker thread trio retires after 10 s idle would take the init along)."""
        import trio

        init = self._init
        if init is not None and not init.ready:
            init.move_in_on_thread()
            await trio.to_thread.run_sync(init.until_settled, abandon_on_cancel=True)

    def _wait_dying(self) -> None:
        """Before a spawn: the last life's namespace has ended, so that nothing of it is charged to the cgroup when the
        new runtime's memory peak starts. Its kill was ~1 ms ago at least (a new init is up since): it rarely waits."""
        dying, self._dying = self._dying, None
        if dying is not None:
            dying.wait_empty()

    def _start_init(self, move_in_now: bool = True) -> str:
        """Start the sandbox init for the current sandbox (forked by the environment's keeper, which is started here
        the first time and boots while we go on); the containment it gives. `move_in_now` False: the keeper's move
        into the cgroup waits for the first `wait_ready` (a thread's, ahead)."""
        self._thaw_cgroup()
        try:
            plan = self._sandbox.init_plan()
            if plan is None:
                return "no PID namespace: no mount namespace here"
            init = SandboxInit(plan, keeper=self._keeper_for(move_in_now))
        except InitUnavailable as exc:
            return f"no PID namespace: {exc}"
        self._init = init
        self._start_soon(self._pump_exits, init, name=f"sandbox init (keeper {init.keeper.pid})")
        return "a PID namespace whose pid 1 takes every process inside with it"

    async def _pump_exits(self, init: SandboxInit) -> None:
        """The init's reports of its children's exits, until it ends. Ended (killed, its keeper lost), it leaves its
        pid 1 to end the namespace: frozen with the environment, that one could not, and the runtime would live on."""
        await init.pump_exits()
        self._thaw_cgroup()

    def _keeper_for(self, move_in_now: bool) -> InitKeeper:
        """The environment's keeper: the one it has, or a new one where there is none yet (or it is gone)."""
        keeper = self._keeper
        if keeper is not None and not keeper.gone:
            return keeper
        self._end_keeper()
        cgroup = self.cgroup
        keeper = InitKeeper(join=cgroup.join if cgroup is not None else None, move_in_now=move_in_now,
                            function_procs=cgroup.function_procs if cgroup is not None else None)
        self._keeper = keeper
        self._watchdog.add(keeper.pid)
        return keeper

    def _end_init(self) -> None:
        init, self._init = self._init, None
        if init is not None:
            init.kill()
            try:
                self._start_soon(init.aclose, name="sandbox init ending")
            except RuntimeError:
                pass  # the host is going away: the init was killed, and the parent-death signal needs no reaping

    def _end_keeper(self) -> None:
        """The environment is over (or its keeper was): the keeper goes, and every init it forked with it."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.kill()
            self._watchdog.remove(keeper.pid)
            try:
                self._start_soon(keeper.aclose, name=f"sandbox init keeper ({keeper.pid}) ending")
            except RuntimeError:
                keeper.abandon()  # the host is going away: reaped here, at once

    def containment(self) -> str:
        """One line for start-up: what keeps the environment's processes inside it, and what does not."""
        fences = [self.cgroup.describe()] if self.cgroup is not None else []
        missing = [] if self.cgroup is not None else ["no writable cgroup here"]
        if self._namespaced:
            fences.append(self.pid_namespace_note)
        else:
            missing.append(self.pid_namespace_note)
        why_not = f" ({'; '.join(missing)})" if missing else ""
        # Whether the processes get the read-only root: through the init's namespace, else their own (child_setup).
        root = self._sandbox.root_note(self._namespaced or self._sandbox.namespaced_children)
        limits = self._memory_sentence() + self._freeze_sentence() + _FILES_SENTENCE + " " + root
        if not fences:
            return (f"Processes are fenced by process groups only{why_not}: one that leaves its group (setsid) can "
                    f"outlive the environment and keep running while it is frozen.{limits}")
        return (f"Processes are contained by {' and '.join(fences)}{why_not}: one that leaves its process group "
                f"(setsid) still ends, and stops, with the environment.{limits}")

    async def _watch(self, watcher: RssWatcher) -> None:
        with self._watching:
            await watcher.run()

    def _freeze_sentence(self) -> str:
        if self.cgroup is not None and self.cgroup.has_freezer():
            return " Freeze: by the cgroup's freezer, which no process inside can tell, as in Lambda."
        return " Freeze: by SIGSTOP and SIGCONT, which a process's parent hears (SIGCHLD), unlike Lambda's freeze."

    def _memory_sentence(self) -> str:
        if self.memory is None:
            return ""
        return (f" Memory: {self.memory.limit_mb} MB for the runtime and extensions together, enforced by "
                f"{self.memory.describe()}.")

    def memory_usage(self) -> MemoryUsage | None:
        """The environment's processes together, now (None without a limit)."""
        return self.memory.usage() if self.memory is not None else None

    def inherit_memory(self, charged_elsewhere: int) -> None:
        """The processes hold memory charged to another environment's cgroup (a SnapStart copy's share of the
        snapshot): it counts against this one's limit too (MemoryLimit.inherit)."""
        if self.memory is not None:
            self.memory.inherit(charged_elsewhere)

    def exits_tell_peaks(self) -> bool:
        """Whether the processes' exit statuses carry their peak memory: their reaper is the sandbox's init, whose
        wait4 reads it (ExitStatus.peak_rss_kb). The host's own reaping does not (children.py says why)."""
        return self._init is not None

    def memory_peak_mb(self) -> int | None:
        """The most the environment's processes held together since the runtime started, in MiB rounded up (None
        without a limit, or where the kernel keeps no peak)."""
        if self.memory is None:
            return None
        return MemoryUsage(self.memory.peak_bytes(), self.memory.limit_mb).mb

    def settle_oom_kills(self, runtime_pid: int) -> None:
        """The runtime is alive now: OOM kills it did not suffer are not its own (MemoryLimit.settle_ooms)."""
        if self.memory is not None:
            self.memory.settle_ooms(runtime_pid)

    def reset_memory_peak(self) -> None:
        if self.memory is not None:
            self.memory.reset_peak()

    def _environment_pids(self) -> list[int]:
        """Every process of the environment: through its cgroup or PID namespace, else the children we started.
        Finding the namespace's processes walks /proc (~1.5 ms): the walk is redone every NAMESPACE_RESCAN_S,
        the participants themselves are always counted."""
        if self.cgroup is not None:
            return self.cgroup.pids()
        if self._init is not None:
            now = time.monotonic()
            if now - self._scanned_at > NAMESPACE_RESCAN_S:
                self._scanned, self._scanned_at = self._init.pids(), now
            return list(set(self._scanned) | set(self._children))
        return list(self._children)

    def _own_pids(self, pids: list[int]) -> list[int]:
        """lambdatui's processes among the environment's `pids`: the keeper, the sandbox init and its pid 1."""
        return list(self._init.own_pids()) if self._init is not None else []

    def signal_strays(self, sig: int) -> int:
        """Signal what left the process groups we started (setsid daemons), found through the cgroup or the
        PID namespace; how many were signalled."""
        groups = {child.handle.pgid for child in self._children.values()}
        # The init and its pid 1 are lambdatui's, not the function's: stopped, they could not report an exit.
        spare = self._init.own_pids() if self._init is not None else frozenset()
        if self.cgroup is not None:
            return self.cgroup.signal_strays(groups, sig, spare)
        signalled = 0
        if self._init is not None:
            for pid in self._init.pids():
                try:
                    if pid not in groups and pid not in spare and os.getpgid(pid) not in groups:
                        os.kill(pid, sig)
                        signalled += 1
                except OSError:
                    pass  # gone meanwhile
        return signalled

    def freeze_whole(self, frozen: bool) -> bool:
        """The environment's freeze (or thaw) through its cgroup's freezer, where it has one that can: the function's
        processes stop and none is signalled, as in Lambda. Its init and keeper stop too where the cgroup has no
        function cgroup inside (cgroup.py): nothing inside needs them while nothing runs, and whatever ends the
        environment or starts a process in it thaws it first. False: the caller signals the participants' groups and
        the strays instead."""
        done = self.cgroup is not None and self.cgroup.set_frozen(frozen and not self._woken)
        self._frozen_whole = frozen and done
        return done

    def wake_while_frozen(self, awake: bool) -> None:
        """SnapStart's snapshot, frozen as a whole, runs for a moment (awake) and is frozen again (not): its process
        forks each restore's copy and reaps the copies (it is their parent), which a frozen cgroup would stop, with
        the copies' exit reports. Everything inside runs meanwhile; no freezer can let one process of a frozen cgroup
        run. Frozen again only if the environment still is (its shutdown thaws it for good)."""
        self._woken = awake
        if self._frozen_whole and self.cgroup is not None:
            self.cgroup.set_frozen(not awake)

    def orphans_unreaped(self) -> bool:
        """Whether the PID namespace's pid 1 has an orphan to reap: SnapStart's snapshot's adopts what the restored
        environments' processes leave (they live in its namespace), and reaps it only while it runs."""
        return self._init is not None and self._init.unreaped()

    def _thaw_cgroup(self) -> None:
        """Before the keeper is asked for an init, or a process starts inside: a frozen cgroup would stop it at once.
        Also once a process inside has died while frozen (killed from outside, or its init lost): lambdatui's own
        processes inside (the init that reports the exit, the pid 1 that ends the namespace) must act, and the
        environment it was part of is over. It stays thawed until the next freeze."""
        self._frozen_whole = False
        if self.cgroup is not None and self.cgroup.frozen:
            self.cgroup.set_frozen(False)

    def freeze_strays(self) -> None:
        """The environment's freeze: what left the participants' groups stops too."""
        self._strays_stopped = self.signal_strays(signal.SIGSTOP)

    def thaw_strays(self) -> None:
        """The thaw: what the freeze stopped goes on. When it stopped none, there is nothing to look for (a process
        started while the environment was frozen was never stopped), and the cgroup is not read: a thaw is on
        every warm invoke's way to the runtime."""
        if self._strays_stopped != 0:
            self.signal_strays(signal.SIGCONT)
        self._strays_stopped = None

    def end_everything_inside(self, prepare_next: bool = True) -> None:
        """The environment is over: whatever is still in its cgroup or PID namespace (daemons included) is killed.
        A reset's next Init gets a new namespace, whose init is asked for at once (`_ask_next_init`); the first spawn
        waits for it. After a final shutdown none is asked for ahead (`invoke` is exiting), and a later spawn starts
        its own."""
        init = self._init
        if init is not None:
            init.kill()  # pid 1 goes, and the kernel then empties its namespace
        if self.cgroup is not None and (init is None or self._adopted):
            # What is inside and not in the namespace (a SnapStart copy, forked in another's) is killed through the
            # cgroup, and waited for; the keeper stays for the next life.
            if init is not None:
                init.wait_empty()
            self.cgroup.kill_all(spare=frozenset({self._keeper.pid}) if self._keeper is not None else frozenset())
        elif init is not None:
            self._dying = init  # its end (~0.5 ms) is not waited for here, but by the next spawn (`_wait_dying`)
        if prepare_next:
            # What was inside is killed (a frozen process dies of SIGKILL too): the keeper goes on. After the last
            # life nobody asks it again: it stays frozen until the cgroup's removal kills it.
            self._thaw_cgroup()
        self._end_init()
        if prepare_next and self._namespaced and not self._closed:
            self._ask_next_init()

    def _ask_next_init(self) -> None:
        """The next life's init, asked for at once (the answer that ended the last life is written already): a word to
        the keeper. Where the keeper was lost, a new one is started, and moves into the cgroup on a thread of its own
        (~15 ms in which the host's event loop would otherwise stand still); the first spawn waits for it."""
        self._start_init(move_in_now=False)
        if self._init is not None:
            self._init.move_in_on_thread()
