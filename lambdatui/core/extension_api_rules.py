"""The Extensions API's calls as lifecycle inputs (lambda-spec §2): registration, Next, init/exit errors."""

from __future__ import annotations

from collections import deque
from typing import Optional

from lambdatui.core.common import (
    json_bytes,
)
from lambdatui.core.effects import (
    extension_key,
)
from lambdatui.core.extension_machine import (
    ExtensionCall,
    ExtensionState,
    ExtensionTransitionNotAllowed,
)
from lambdatui.core.extension_machine import transition as extension_transition
from lambdatui.core.inputs import (
    ExtensionExitError,
    ExtensionInitError,
    ExtensionNext,
    ExtensionRegister,
    RequestAbandoned,
    Token,
)
from lambdatui.core.runtime_machine import RuntimeState
from lambdatui.core.slots import ExtensionSlot
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState


class ExtensionApiRules:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""


    def _on_ExtensionRegister(self, event: ExtensionRegister) -> None:
        if not self.registration_open or self.state is not EnvState.INIT:
            self._reply_error(event.token, 403, et.EXT_REGISTRATION_CLOSED, "Extension registration closed already")
            return
        slot = self.extensions.get(event.name)
        if slot is not None and slot.external and slot.state is ExtensionState.STARTED:
            slot.state = extension_transition(slot.state, ExtensionCall.REGISTER, event.name)
        elif slot is not None:
            self._reply_error(event.token, 403, et.EXT_INVALID_STATE, "Extension with this name already registered")
            return
        else:
            # A name Lambda did not launch registers an internal extension (lambda-spec §2.2).
            if "SHUTDOWN" in event.events:
                self._reply_error(event.token, 403, et.EXT_INVALID_EVENT_TYPE,
                                  "ShutdownEventNotSupportedForInternalExtension")
                return
            # Every extension Lambda launched counts, registered yet or not (an internal one registering before
            # them must not take the 11th place), plus the internal ones already in (lambda-spec §2.2).
            if len(self.extensions) >= et.MAX_EXTENSIONS:
                self._reply_error(event.token, 403, et.EXT_TOO_MANY,
                                  f"Extension limit ({et.MAX_EXTENSIONS}) reached")
                return
            slot = ExtensionSlot(event.name, external=False, state=ExtensionState.REGISTERED)
            self.extensions[event.name] = slot
            if self.config.extension_names:
                self._explain(
                    f"Extension '{event.name}' registered, but no launched extension has that name "
                    f"(launched: {', '.join(self.config.extension_names)}): it counts as an internal extension."
                )
        slot.id = self._new_id()
        # RAPID subscribes each event into a set (lambda-spec §2.2): an event named twice is subscribed once, and the
        # EXTENSION line and platform.extension list it once (kept in the order first named).
        slot.events = tuple(dict.fromkeys(event.events))
        body: dict[str, str] = {
            "functionName": self.config.function_name,
            "functionVersion": self.config.function_version,
            "handler": self.config.handler,
        }
        if event.wants_account_id:
            body["accountId"] = self.config.account_id
        self._reply(event.token, 200, json_bytes(body), (("Lambda-Extension-Identifier", slot.id),))
        self._participant_changed(extension_key(slot.name), slot.state, False)
        if slot.name in self.init_error_pending:
            self.init_error_pending.discard(slot.name)
            self._extension_reports_init_error(slot)
            return
        if slot.external and self._all_external_registered() and self.runtime.state is RuntimeState.NOT_STARTED:
            if self.init is not None:
                self.init.sub_phase = "runtime"
            self._reach(Boundary.INIT_RUNTIME)

    def _slot_by_id(self, token: Token, extension_id: str) -> Optional[ExtensionSlot]:
        for slot in self.extensions.values():
            if slot.id == extension_id:
                return slot
        self._reply_error(token, 403, et.EXT_UNKNOWN_IDENTIFIER, f"Unknown extension {extension_id}")
        return None

    def _on_ExtensionNext(self, event: ExtensionNext) -> None:
        slot = self._slot_by_id(event.token, event.extension_id)
        if slot is None:
            return
        if slot.state is ExtensionState.RUNNING and self.current is not None:
            # Its part of the invoke ended when it asked, not when the host heard it (a deadline first, if it had
            # passed by then: the slot then meets the timed-out invoke).
            self._heard_late(event.arrived, slot)
        if slot.state is ExtensionState.READY and slot.parked is None:
            # Reconnected after dropping a parked /next: hand over whatever waited for it meanwhile.
            if slot.pending is not None:
                self._hand_over(slot, event.token, slot.pending)
            else:
                self._park_extension(slot, event.token)
            return
        try:
            slot.state = extension_transition(slot.state, ExtensionCall.NEXT, slot.name)
        except ExtensionTransitionNotAllowed as refused:
            self._reply_error(event.token, 403, et.EXT_INVALID_STATE, str(refused))
            return
        if slot.pending is not None:
            self._hand_over(slot, event.token, slot.pending)
            return
        self._park_extension(slot, event.token)
        self._check_init_done()
        self._check_invoke_done()

    def _park_extension(self, slot: ExtensionSlot, token: Token) -> None:
        slot.parked = token
        slot.parked_since = self._now.mono
        self._participant_changed(extension_key(slot.name), slot.state, True)

    def _hand_over(self, slot: ExtensionSlot, token: Token, event: bytes) -> None:
        slot.pending = None
        slot.parked = None
        slot.state = ExtensionState.RUNNING
        self._reply(token, 200, event, (("Lambda-Extension-Event-Identifier", self._new_id()),))
        self._emit(f.ExtensionEventDelivered(slot.name, event, self._now.mono))
        self._participant_changed(extension_key(slot.name), slot.state, False)

    def _send_to_extension(self, slot: ExtensionSlot, event: bytes) -> None:
        if slot.parked is not None:
            self._hand_over(slot, slot.parked, event)
        else:
            slot.pending = event

    def _on_ExtensionInitError(self, event: ExtensionInitError) -> None:
        self._extension_error(event.token, event.extension_id, ExtensionCall.INIT_ERROR, et.EXTENSION_INIT_ERROR,
                              event.error_type)

    def _on_ExtensionExitError(self, event: ExtensionExitError) -> None:
        self._extension_error(event.token, event.extension_id, ExtensionCall.EXIT_ERROR, et.EXTENSION_EXIT_ERROR,
                              event.error_type)

    def _extension_error(self, token: Token, extension_id: str, call: ExtensionCall, fatal: str,
                         declared: str) -> None:
        slot = self._slot_by_id(token, extension_id)
        if slot is None:
            return
        before = slot.state
        try:
            slot.state = extension_transition(slot.state, call, slot.name)
        except ExtensionTransitionNotAllowed as refused:
            self._reply_error(token, 403, et.EXT_INVALID_STATE, str(refused))
            return
        if slot.state is before:  # a repeated report: accepted, but only the first one counts (RAPID)
            self._reply_ok(token)
            return
        slot.fatal_type = slot.fatal_type or fatal
        slot.declared_error_type = declared  # (a repeated report returned above: the first one's type stays)
        self._keep_first_fatal(slot)
        slot.parked = None
        self._reply_ok(token)
        self._participant_changed(extension_key(slot.name), slot.state, False)

    def _keep_first_fatal(self, slot: ExtensionSlot) -> None:
        """An extension reported its failure: the environment's error from now on, whichever process exits first
        (its own, or for an internal extension the runtime's, or another's), as RAPID's StoreFirstFatalError keeps
        the first one stored (lambda-spec §2.4). The runtime's own /init/error is not stored there, in RAPID either."""
        if self.first_fatal is None and slot.fatal_type is not None:
            self.first_fatal = (slot.fatal_type, slot.name)

    def _on_RequestAbandoned(self, event: RequestAbandoned) -> None:
        if self.runtime.parked == event.token:
            self.runtime.parked = None
        if self.runtime.gate == event.token:
            self.runtime.gate = None
        for slot in self.extensions.values():
            if slot.parked == event.token:
                slot.parked = None
        if self.current is not None and self.current.token == event.token:
            self.current.token = None  # Lambda still runs an invoke whose caller went away
        self.queue = deque((None if tok == event.token else tok, inv) for tok, inv in self.queue)
        self._offer_abandoned(event.token)
