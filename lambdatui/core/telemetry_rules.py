"""Telemetry API and Logs API subscriptions as lifecycle inputs (lambda-spec §3.1, §3.7).

Subscriptions are core state: who subscribed to what, validated, and closed once the extension is done with
Init. Buffering and delivery to each listener are the host's (host/telemetry_delivery.py), off every invoke's
critical path.
"""

from __future__ import annotations

from typing import Optional

from lambdatui.core.common import json_bytes
from lambdatui.core.extension_machine import ExtensionState
from lambdatui.core.inputs import TelemetrySubscribe
from lambdatui.core.telemetry_subscription import Invalid, parse_subscription, validation_error_type
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model.telemetry import LOGS, TELEMETRY, Subscription

_API_NAME = {TELEMETRY: "Telemetry API", LOGS: "Logs API"}


_MAY_SUBSCRIBE = (ExtensionState.REGISTERED, ExtensionState.READY)


class TelemetryRules:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""

    def _subscription_refusal(self, subscription: Subscription) -> Optional[Invalid]:
        """Why this environment refuses a subscription Lambda's validation accepts (none here; Managed Instances
        have their own rule, core/managed_runtime_rules.py)."""
        return None

    def _on_TelemetrySubscribe(self, event: TelemetrySubscribe) -> None:
        if not event.extension_id:
            self._reply_error(event.token, 403, et.EXT_MISSING_IDENTIFIER, "Missing Lambda-Extension-Identifier header")
            return
        slot = self._slot_by_id(event.token, event.extension_id)
        if slot is None:
            return
        name = _API_NAME[event.api]
        # Lambda takes subscriptions until Init ends, for everyone (RAPID turns the APIs off once every extension
        # is ready and the runtime's Init is over): an extension parked on /event/next may still subscribe from
        # another thread while the function's Init runs. An Init that failed is over, though its extensions are
        # still Registered until the reset stops them.
        if slot.state not in _MAY_SUBSCRIBE or self.init is None:
            kind = "Telemetry" if event.api == TELEMETRY else "Logs"
            self._reply_error(event.token, 403, f"{kind}.SubscriptionClosed", f"{name} subscription is closed")
            return
        parsed = parse_subscription(event.api, event.body)
        if not isinstance(parsed, Invalid):
            parsed = self._subscription_refusal(parsed) or parsed
        if isinstance(parsed, Invalid):
            self._reply_error(event.token, parsed.status, parsed.error_type, parsed.message)
            return
        other = slot.subscription
        if other is not None and other.api != event.api:
            self._reply_error(event.token, 400, validation_error_type(event.api),
                              f"Extension {slot.name} already subscribed to the {_API_NAME[other.api]}: an extension "
                              f"may use the Telemetry API or the Logs API, not both")
            return
        slot.subscription = parsed
        self._reply(event.token, 200, json_bytes("OK"))
        self._emit(f.TelemetrySubscribed(slot.name, parsed, self._now.mono))
