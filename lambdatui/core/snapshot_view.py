"""What an environment shows of itself (`Environment.snapshot`): its state, participants and armed faults, as one
immutable `EnvironmentSnapshot` for the UI and every other client. Part of `Environment`."""

from __future__ import annotations

from lambdatui.core.common import SNAPSHOT
from lambdatui.core.effects import RUNTIME, extension_key
from lambdatui.core.runtime_machine import RuntimeState
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import EnvState
from lambdatui.model.snapshot import EnvironmentSnapshot, ParticipantView


class SnapshotView:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""

    def snapshot(self, now: float) -> EnvironmentSnapshot:
        participants: list[ParticipantView] = []
        run = self.current
        if self.runtime.state is not RuntimeState.NOT_STARTED or self.state is EnvState.INIT:
            next_up = ""
            if self.runtime.parked is not None:
                if run is not None and not run.delivered:
                    next_up = f"event {run.invocation.request_id}"
                elif self.queue:
                    next_up = f"event {self.queue[0][1].request_id}"
                elif self.config.snapstart == SNAPSHOT:
                    next_up = "nothing: it is the snapshot, copied by each restore"
                else:
                    next_up = "the next invoke's event"
            participants.append(ParticipantView(
                RUNTIME, "runtime", self.runtime.state.value, self.runtime.alive, self.runtime.parked is not None,
                self.runtime.parked_since, ("INVOKE",), next_up,
            ))
        for slot in self.extensions.values():
            next_up = ""
            if slot.parked is not None:
                if self.state in (EnvState.RESETTING, EnvState.SHUTTING_DOWN) and slot.subscribed("SHUTDOWN"):
                    next_up = "SHUTDOWN"
                elif slot.subscribed("INVOKE"):
                    next_up = "INVOKE"
                elif slot.subscribed("SHUTDOWN"):
                    next_up = "SHUTDOWN (at shutdown)"
            participants.append(ParticipantView(
                extension_key(slot.name), "extension" if slot.external else "internal extension", slot.state.value,
                # An internal extension is threads of the runtime process: it has no process of its own to exit.
                slot.alive if slot.external else self.runtime.alive, slot.parked is not None, slot.parked_since,
                slot.events, next_up,
            ))
        return EnvironmentSnapshot(
            state=self.state,
            generation=self.generation,
            generation_base=self.generation_base,
            held_at=self.hold.boundary if self.hold is not None else None,
            breakpoints=self.breakpoints,
            frozen=self.frozen,
            init_phase=self.init.phase if self.init else None,
            init_sub_phase=self.init.sub_phase if self.init else None,
            current_request_id=run.invocation.request_id if run else None,
            queued=tuple(inv.request_id for _, inv in self.queue),
            participants=tuple(participants),
            invocations_done=self.invocations_done,
            as_of=now,
            user_frozen=frozenset(self.user_frozen),
            armed=self.armed_descriptions(),
            reset=self.state is EnvState.COLD and not self.fresh,
            init_timeout_ms=(self.config.init_timeout_ms if self.init is not None and self.init.phase == "init"
                             else None),
        )

    def armed_descriptions(self) -> tuple[str, ...]:
        """Every fault armed and not fired yet, as the debugger says it."""
        armed = [flt.describe(fault) for fault in (*self.armed, *self.after_delivery, *self.delayed.values())]
        if self.raise_next is not None:
            armed.append(flt.describe(flt.RaiseInHandler(*self.raise_next)) + " on its next entry")
        armed += [f"init/error from extension {name} when it registers" for name in sorted(self.init_error_pending)]
        if self.timeout_on_delivery:
            armed.append("force the deadline once the held event is delivered")
        return tuple(armed)
