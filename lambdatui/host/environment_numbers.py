"""The fleet's environment numbers (env #1, #2, ...): taken when the fleet decides to start an environment, so that a
replay, which starts a burst's environments one by one in the order the session routed them, numbers them alike."""

from __future__ import annotations

from typing import Optional


class EnvironmentNumbers:
    """env #1, #2, ... across the fleet (a new sandbox takes the next, never reused), and which comes next: a replay's
    invoke that names that one starts it, as in the session recorded."""

    def __init__(self) -> None:
        self.next = 1
        self.skipped: set[int] = set()  # passed over when a replay asked for a later one first: still to be given

    def __call__(self) -> int:
        number, self.next = self.next, self.next + 1
        return number

    def take(self, number: int) -> int:
        """`number`, never given yet (fleet_rules.route says when a replay's invoke asks for it)."""
        if number < self.next and number not in self.skipped:
            raise ValueError(f"environment #{number} was given already")
        if number in self.skipped:
            self.skipped.discard(number)
        else:
            self.skipped.update(range(self.next, number))
            self.next = number + 1
        return number

    def reserved(self, number: Optional[int] = None) -> ReservedNumbers:
        """For a new environment: its number (the next, or `number`), taken now, then the next free one for each
        sandbox after its first (a reset's). Taken when the fleet decides to start it, not once it has started:
        environments started together come up in any order, and a replay, which starts them one by one in the order
        the session decided, numbers them as the session did (its invokes' `env = N` name them)."""
        return ReservedNumbers(self, self() if number is None else self.take(number))


class ReservedNumbers:
    """One environment's numbers: `first`, reserved when the fleet decided to start it, then the next free one for
    each sandbox after it (a reset's)."""

    def __init__(self, numbers: EnvironmentNumbers, first: int) -> None:
        self.first = first
        self._numbers = numbers
        self._given = False

    def __call__(self) -> int:
        if self._given:
            return self._numbers()
        self._given = True
        return self.first
