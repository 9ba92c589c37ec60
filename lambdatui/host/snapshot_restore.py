"""SnapStart on the host (lambda-spec §4.8): the snapshot environment's runtime becomes the template, and each
restored environment's runtime is a copy of it with the new environment's API, output, files and /tmp.

A runtime that is not ours cannot be copied (its process does not speak the template's channel): a restore then
starts it again with `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`, its Init runs in the restored environment, and
one line says that this environment was re-initialised, not restored.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Mapping, Optional

import trio

from lambdatui.core import effects as fx
from lambdatui.core import inputs as ins
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.processes.output import close_read_end
from lambdatui.processes.snapshot_template import ENV_NAME, RestoreFailed, SnapshotTemplate
from lambdatui.processes.supervisor import ProcessSpec

# What differs between the snapshot's runtime and a copy of it: the environment's own API (its metadata endpoint's
# too: the same server), its debugging files and, where /tmp is not a mount of its own, TMPDIR. Everything else the
# copy inherits, as a restored VM does: the metadata token too (in Lambda both addresses stay 169.254.100.1:9001).
_PER_ENVIRONMENT = ("AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_METADATA_API", "LAMBDATUI_STACK_FILE", "LAMBDATUI_EXIT_FILE",
                    "TMPDIR", "TEMP", "TMP")


class SnapshotRestore:
    """Part of `EnvironmentHost` (host/environment_host.py): it runs on the host's state."""

    def _snapshot_spec(self, spec: ProcessSpec) -> ProcessSpec:
        """The snapshot environment's runtime, when it is ours: it gets the template's channel."""
        if spec.key != fx.RUNTIME or not self.env.config.snapstart == "snapshot" or not self.config.runtime.ours:
            return spec
        self.template = SnapshotTemplate()
        return dataclasses.replace(spec, pass_fd=(ENV_NAME, self.template.far_end()))

    def _snapshot_started(self, spawned: bool) -> None:
        template = self.template
        if template is None:
            return
        template.started()
        if spawned:
            self.start_soon(template.pump)
            self.subscribe(self._hold_snapshot)
        else:
            template.close()
            self.template = None

    def _hold_snapshot(self, fact: f.Fact) -> None:
        """Once the snapshot is taken, nothing runs in it: the core freezes the environment (its cgroup's freezer,
        else SIGSTOP), and its process is stopped between restores, for which it runs (with the environment, which a
        freezer can only thaw as a whole); when the environment leaves that state (its shutdown), the process runs
        again so that it can end."""
        if type(fact) is not f.StateChanged or self.template is None:
            return
        runtime = self._handle(fx.RUNTIME)
        if fact.state is EnvState.SNAPSHOT and runtime is not None:  # type: ignore[attr-defined]
            self.template.hold(runtime.pgid, self._sup)
        else:
            self.template.hold(None)

    def _sandbox_ended(self) -> None:
        """This environment's processes were killed (its reset, its shutdown): those that outlived their parents
        (daemons of a restored runtime) are the snapshot's pid 1's to reap, which the snapshot, frozen, runs for."""
        source = self.restore_source
        template = source.template if source is not None else None
        if source is not None and template is not None and not template.closed.is_set():
            try:
                source.start_soon(template.reap_orphans)  # the snapshot's task: it outlives this environment
            except RuntimeError:
                pass  # the snapshot's host is going away: its namespace ends, and everything in it, with it

    def _copy_template(self) -> Optional[SnapshotTemplate]:
        """The template to copy this restored environment's runtime from; None (said once) when there is none."""
        source = self.restore_source
        template = source.template if source is not None else None
        if template is not None and not template.closed.is_set():
            return template
        if not self._rerun_said:
            self._rerun_said = True
            why = ("its runtime is not lambdatui's Python runtime, whose process cannot be copied"
                   if not self.config.runtime.ours else "the snapshot's process is gone")
            self.note(f"env #{self.sandbox_count} was re-initialised, not restored: {why}, so its Init runs again "
                      "here (values made at Init differ between environments, unlike in Lambda)")
        return None

    async def _spawn_restored(self, effect: fx.Spawn) -> None:
        """A restored environment's first process starts once its /tmp is the snapshot's: the extensions are in the
        snapshot as much as the runtime, and see its files from their first instruction. Copied once, at the first
        restore: from then on /tmp is the environment's own, kept across a reset as Lambda keeps it (lambda-spec
        §4.5), where copying it again at the restore after a reset put back the snapshot's version of every file the
        function had changed (and kept the ones it had made), and an extension's file written at its start could be
        overwritten by the snapshot's."""
        restored = self._tmp_restored
        if restored is None:
            restored = self._tmp_restored = trio.Event()
            source = self.restore_source
            try:
                # Only where the runtime is copied: a runtime that is initialised again makes its /tmp itself.
                if self._copy_template() is not None and source is not None and source.sandbox is not None:
                    assert self.sandbox is not None
                    await trio.to_thread.run_sync(_copy_tmp, source.sandbox.tmp_dir, self.sandbox.tmp_dir)
            finally:
                restored.set()
        await restored.wait()
        if effect.generation == self.env.generation and restored is self._tmp_restored:
            self._spawn(effect)  # type: ignore[attr-defined]  # (not spawned for an Init the environment left)
        else:
            self._landed(effect.participant, effect.generation, None)  # type: ignore[attr-defined]

    async def _restore_runtime(self, effect: fx.Spawn, template: SnapshotTemplate, spec: ProcessSpec) -> None:
        """Copy the snapshot's runtime into this environment (its /tmp is the snapshot's already: `_spawn_restored`)."""
        sandbox = self.sandbox
        assert sandbox is not None
        env = sandbox.adjust_env(spec.env)
        changes: dict[str, Optional[str]] = {name: env.get(name) for name in _PER_ENVIRONMENT}
        # Its own /tmp where the template has a mount namespace to copy (the copy makes its own and mounts this
        # folder on /tmp); elsewhere TMPDIR points at the folder, as for every process there.
        tmp = str(sandbox.tmp_dir) if sandbox.mode == "mount-namespace" else None
        (out_r, out_w), (err_r, err_w) = self._sup.output_pipes()
        with template.running():  # until the copy has left the snapshot's cgroup, frozen again after
            try:
                # Its log fd writes to its stdout, as the snapshot's did (processes/supervisor.py spawn).
                pid, placed = await template.restore(changes, tmp, out_w, err_w, spec.log_fd)
            except BaseException as exc:
                close_read_end(out_r)
                close_read_end(err_r)
                self._landed(fx.RUNTIME, effect.generation, None)  # type: ignore[attr-defined]
                if not isinstance(exc, RestoreFailed):
                    raise
                self.feed(ins.LaunchFailed(fx.RUNTIME, effect.generation,
                                           f"the snapshot could not be restored: {exc}"))
                return
            snapshot = self.restore_source
            held = snapshot.memory_usage() if snapshot is not None else None
            if held is not None and held.bytes:
                # What Init made is the copy's as much as the snapshot's (in Lambda, in the restored microVM's
                # memory), but charged to the snapshot's cgroup: this limit leaves room for it.
                self._sup.inherit_memory(held.bytes)
            try:
                handle = self._sup.adopt(spec, pid, out_r, err_r, template)  # into this environment's cgroup
            finally:
                os.close(placed)  # the copy goes on: what it forks from now on is this environment's
        if template.note:
            self.note(f"env #{self.sandbox_count}: the restored runtime shares the snapshot's /tmp ({template.note})")
        self._landed(fx.RUNTIME, effect.generation, handle)  # type: ignore[attr-defined]
        if effect.generation != self.env.generation:
            self._sup.kill(handle)  # the environment moved on (a reset) while the copy was made: not its runtime
            return
        self._processes[fx.RUNTIME] = (effect.generation, handle)
        self._runtime_peak_mb = None


def restored_env(env: Mapping[str, str]) -> dict[str, str]:
    """SnapStart functions get no log group or stream variables (lambda-spec §4.8, §5)."""
    return {k: v for k, v in env.items() if k not in ("AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME")}


def _copy_tmp(source: Path, target: Path) -> None:
    """The snapshot holds the disk too: a restored environment's /tmp starts as the snapshot's was.

    Iterative, as the function's /tmp may be nested however deep: `shutil.copytree` recursed once per level and a
    /tmp ~500 directories deep raised RecursionError, which crashed the host at the restore. Links are copied as
    links; what cannot be copied (a FIFO, a socket, an unreadable file, a path past PATH_MAX) is simply not in the
    copy. Each directory gets its times and mode once its contents are in (deepest first), as copytree did."""
    made: list[tuple[str, str]] = []
    pending = [(str(source), str(target))]
    while pending:
        src, dst = pending.pop()
        try:
            os.makedirs(dst, exist_ok=True)
            entries = list(os.scandir(src))
        except OSError:
            continue
        made.append((src, dst))
        for entry in entries:
            to = os.path.join(dst, entry.name)
            try:
                if entry.is_symlink():
                    os.symlink(os.readlink(entry.path), to)
                elif entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, to))
                elif entry.is_file(follow_symlinks=False):
                    shutil.copy2(entry.path, to, follow_symlinks=False)
            except OSError:
                pass
    for src, dst in reversed(made):
        try:
            shutil.copystat(src, dst, follow_symlinks=False)
        except OSError:
            pass
