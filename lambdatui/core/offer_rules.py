"""An invoke offered to an environment that is finishing its answered one (`InvokeOffered`).

A caller's next invoke comes microseconds after its answer, while the runtime asks for its next event a little later
(awslambdaric only once its response's 202 is read). The fleet does not start another environment for it; it
offers it to this one, which takes it within the input that makes it idle, so that the event goes out in the same
batch as the runtime's /next, as Lambda's RAPID hands a waiting invoke to a runtime the moment it asks. Nothing is
told of an offer until it is taken: then it is queued and started as any invoke is (`InvokeRequested`), and the
facts are those of an invoke that arrived just then. Not for Managed Instances, whose workers take invokes as they
come.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from lambdatui.core.common import OFFER_TIMER
from lambdatui.core.effects import HandBack
from lambdatui.core.fleet_rules import Fit, fit
from lambdatui.core.inputs import Invocation, InvokeOffered, InvokeRequested, Token
from lambdatui.model.boundaries import EnvState

if TYPE_CHECKING:
    from collections import deque

    from lambdatui.core.common import EnvironmentConfig
    from lambdatui.core.effects import Effect
    from lambdatui.core.slots import InvokeRun


class OfferRules:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""

    offered: Optional[tuple[Optional[Token], Invocation]]
    queue: deque[tuple[Optional[Token], Invocation]]
    config: EnvironmentConfig
    current: Optional[InvokeRun]
    state: EnvState

    def _on_InvokeOffered(self, event: InvokeOffered) -> None:
        """Kept, its wait bounded; `_settle_offer`, once this input's rules are done, takes it at once if the
        environment is idle already (its /next came between the route and this input)."""
        if self.config.managed:  # never offered there: its workers take invokes as they come
            self._on_InvokeRequested(InvokeRequested(event.token, event.invocation))  # type: ignore[attr-defined]
        elif self.offered is not None:  # a second at once never comes (the first makes it busy): routed again
            self._do(HandBack(event.token))
        else:
            self.offered = (event.token, event.invocation)
            self._start_timer(OFFER_TIMER, event.wait_s)  # type: ignore[attr-defined]

    def _settle_offer(self) -> None:
        """After every input while an invoke is offered: taken once idle; handed back unless still finishing."""
        now = fit(self, counting_offer=False)  # type: ignore[arg-type]
        if now is Fit.WARM:
            self._take_offer()
        elif now is not Fit.FINISHING:
            self._hand_offer_back()
            if self.current is None and self.state is EnvState.FROZEN:  # idle, not to take it (draining): as `_settle`
                self._freeze()  # type: ignore[attr-defined]

    def has_invoke(self, request_id: str) -> bool:
        """Whether invoke `request_id` was taken (it runs, or waits in the queue): an offer not taken has not."""
        run = self.current
        return (run is not None and run.invocation.request_id == request_id) or any(
            inv.request_id == request_id for _, inv in self.queue)

    def _take_offer(self) -> None:
        """Into the queue, as an invoke that arrives now (InvokeRequested): idle, it starts; a drain beginning answers
        a synchronous one as the queue's callers are, and runs an Event invoke it had accepted."""
        if self.offered is not None:
            token, invocation = self.offered
            self._withdraw_offer()
            self._on_InvokeRequested(InvokeRequested(token, invocation))  # type: ignore[attr-defined]

    def _hand_offer_back(self) -> None:
        """Its runtime or an extension took longer than the grace (busy until they are done, lambda-spec §4.4), or the
        environment turned to anything but idle: the fleet routes it again."""
        if self.offered is not None:
            token = self.offered[0]
            self._withdraw_offer()
            self._do(HandBack(token))

    def _offer_abandoned(self, token: Token) -> None:
        """Its caller went away before it was taken: nothing of it is told, nothing runs."""
        if self.offered is not None and self.offered[0] == token:
            self._withdraw_offer()

    def _withdraw_offer(self) -> None:
        self.offered = None
        self._cancel_timer(OFFER_TIMER)  # type: ignore[attr-defined]

    if TYPE_CHECKING:
        def _do(self, effect: Effect) -> None: ...
