"""Who the debugger's commands can be aimed at, from the snapshot: the participants a fault can target (with the
labels the pickers show), and the extensions whose events can be shown."""

from __future__ import annotations

from typing import Optional

from lambdatui.model.debug_snapshot import DebuggerSnapshot


def fault_targets(snapshot: Optional[DebuggerSnapshot], *, frozen_marks: bool = False) -> list[tuple[str, str]]:
    """(target, label) per participant; `frozen_marks` says in each label whether a freeze would thaw it."""
    targets = [("runtime", "runtime")]
    if snapshot is not None:
        frozen = snapshot.environment.user_frozen
        with_environment = snapshot.environment.frozen  # held, or idle between invokes: every process is stopped
        targets = []
        for p in snapshot.environment.participants:
            target = "runtime" if p.key == "runtime" else p.key.split(":", 1)[1]
            label = f"{target}  ({p.kind}, {p.state}{', alive' if p.alive else ', not running'})"
            if frozen_marks:
                if p.key in frozen:
                    label += "  — frozen: thaw it"
                elif with_environment and p.alive:
                    label += "  — stopped with the environment: freeze it to keep it stopped when it goes on"
                else:
                    label += "  — running: freeze it"
            targets.append((target, label))
        if not targets:
            targets = [("runtime", "runtime (not started yet)")]
    return targets


def extension_names(snapshot: Optional[DebuggerSnapshot]) -> list[str]:
    """Every extension: those running now, then any that was sent something earlier (a past environment's)."""
    if snapshot is None:
        return []
    names = [p.key.split(":", 1)[1] for p in snapshot.environment.participants if p.key.startswith("extension:")]
    names += [x.name for x in snapshot.extensions if x.name not in names]
    return names
