"""Requests the core answers: an API call fed as an input, its caller waiting for the core's reply.

Part of `EnvironmentHost` (see host/environment_host.py): a route feeds its input with `request` and waits, perhaps
long (a runtime's /next until an invoke comes); the core's Reply (or the effect that ends the request) is handed
back through the request's slot, by its token.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from functools import partial
from typing import Awaitable, Callable, Optional, Protocol, TypeVar

import trio

from lambdatui.core import effects as fx
from lambdatui.core import inputs as ins

Answered = TypeVar("Answered")
Answer = fx.Reply | fx.AnswerEvent | fx.CompleteInvocation | fx.HandBack


class LongPollCaller(Protocol):
    """Who made a long poll (api/http11_exchange.Exchange): whether it is still there."""

    def left(self) -> bool:
        """It hung up already, before its call was handed on."""

    async def until_hangup(self, wait: Callable[[], Awaitable[Answered]]) -> Optional[Answered]:
        """`wait()`'s result, or None (its wait cancelled) if it hangs up first."""


@dataclasses.dataclass
class Slot:
    """A parked request's reply slot: it waits on `done` until the core answers it with `value`; `now`, if given, gets
    it once the fed inputs' effects are all carried out (a crash or freeze armed at that boundary lands first: a
    runtime must not read its 202 and move on), before their facts are told and any task runs; it must not block."""

    done: trio.Event = dataclasses.field(default_factory=trio.Event)
    value: object = None
    now: Optional[Callable[[object], None]] = None


async def _answer_of(slot: Slot) -> object:
    await slot.done.wait()
    return slot.value


class CoreRequests:
    """Part of `EnvironmentHost`: it runs on the host's state."""

    _tokens: Iterator[int]
    _slots: dict[int, Slot]
    _answers_now: list[tuple[Callable[[object], None], object]]  # Slot.now's, until the batch's end

    async def request(self, make_input: Callable[[int], ins.Input], now: Optional[Callable[[object], None]] = None, *,
                      long_poll: Optional[LongPollCaller] = None) -> Answer:
        """Feed an input that the core answers (perhaps much later) with a Reply (or the effect that ends it);
        `now` is handed that answer as soon as the core gives it (see Slot).

        A `long_poll`'s caller that has left already is not heard (None is returned: typed for the other callers);
        one that leaves while it waits abandons the request (None too). One answered at once is not watched: on a
        cold start's first /next, that saves the watch's two system calls (epoll's), for one that looks (poll)."""
        if long_poll is not None and long_poll.left():
            return None  # type: ignore[return-value]
        token = next(self._tokens)
        slot = self._slots[token] = Slot(now=now)
        try:
            self.feed(make_input(token))  # type: ignore[attr-defined]
            if not slot.done.is_set():  # answered at once: no scheduler pass, so a /next pipelined behind is read next
                if long_poll is None:
                    await slot.done.wait()
                elif await long_poll.until_hangup(partial(_answer_of, slot)) is None and not slot.done.is_set():
                    self.feed(ins.RequestAbandoned(token))  # type: ignore[attr-defined]
                    return None  # type: ignore[return-value]
        except BaseException:
            if not slot.done.is_set():
                self.feed(ins.RequestAbandoned(token))  # type: ignore[attr-defined]
            raise
        finally:
            self._slots.pop(token, None)
        return slot.value  # type: ignore[return-value]

    def _answer(self, token: int, value: object) -> None:
        slot = self._slots.get(token)
        if slot is not None and not slot.done.is_set():
            slot.value = value
            slot.done.set()
            if slot.now is not None:
                self._answers_now.append((slot.now, value))  # once the batch's effects are carried out (feed)

    def _write_answers(self) -> None:
        answers, self._answers_now = self._answers_now, []
        for now, value in answers:
            now(value)
