"""A pure reducer over `ApiExchanged` facts: the newest exchanges of each participant, in order (bounded).

The debugger's API traffic view reads it through the controller's `api_traffic(focus)` query rather than the
snapshot, which is built far more often than anyone looks at the traffic. A long poll arrives twice under one
`seq` (parked, then answered): the answer takes the parked record's place.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Optional

from lambdatui.model.facts import ApiExchanged

MAX_EXCHANGES = 300  # per participant: a debugger that runs for hours keeps the newest
MAX_PARTICIPANTS = 16  # Lambda allows 10 extensions; a caller that is none of them still gets a tab, within bounds
RUNTIME = "runtime"


@dataclass(frozen=True)
class ParticipantTraffic:
    """One participant's exchanges, oldest first; `dropped` counts the older ones no longer kept."""

    participant: str
    exchanges: tuple[ApiExchanged, ...]
    dropped: int = 0


class ApiTraffic:
    def __init__(self, max_exchanges: int = MAX_EXCHANGES, max_participants: int = MAX_PARTICIPANTS) -> None:
        self._max_exchanges = max_exchanges
        self._max_participants = max_participants
        self._by_participant: dict[str, deque[ApiExchanged]] = {}
        self._dropped: dict[str, int] = {}
        self._cache: Optional[tuple[ParticipantTraffic, ...]] = None

    def apply(self, fact: ApiExchanged) -> None:
        self._cache = None
        kept = self._by_participant.get(fact.participant)
        if kept is None:
            if len(self._by_participant) >= self._max_participants:
                return  # beyond any real function's participants: not worth the memory
            kept = self._by_participant[fact.participant] = deque(maxlen=self._max_exchanges)
            self._dropped[fact.participant] = 0
        if fact.answered is not None and fact.long_poll:
            # Its parked record is near the end (several park at once only on a Managed Instance).
            for index in range(len(kept) - 1, -1, -1):
                if kept[index].seq == fact.seq:
                    kept[index] = fact
                    return
        if len(kept) == kept.maxlen:
            self._dropped[fact.participant] += 1
        kept.append(fact)

    def participants(self) -> tuple[ParticipantTraffic, ...]:
        """The runtime first, then each extension in the order it first called."""
        if self._cache is None:
            names = sorted(self._by_participant, key=lambda name: name != RUNTIME)  # stable: first-call order
            self._cache = tuple(ParticipantTraffic(name, tuple(self._by_participant[name]), self._dropped[name])
                                for name in names)
        return self._cache
