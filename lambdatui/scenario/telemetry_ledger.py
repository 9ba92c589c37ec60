"""Which telemetry records each extension received for each invoke, from the deliveries the controller publishes.

`expect.telemetry` checks the records a step's invoke produced for an extension (its Init's records too, when
the invoke ran one), in the order the extension received them, whenever they arrived. That cannot be "what was
delivered during the step": Lambda freezes the environment after an invoke, its telemetry with it, so an invoke's
records, `platform.report` always among them, usually reach the listener during the next invoke, or at the
shutdown, and when the buffer's `timeoutMs` falls inside the invoke some arrive earlier. Arrival varies from run
to run; what each invoke produced does not, and the records say which invoke they belong to.

So the ledger reads every delivered batch in order and gives each record an owner: a record that names a request
id (`platform.start`, `platform.runtimeDone`, `platform.report`, a JSON log line) belongs to that invoke; one that
does not (a text log line, Init's records) belongs to the invoke in progress in the stream (after its
`platform.start`, up to its `platform.report`), and records between invokes (an Init) go with the next
`platform.start`. An invoke's records are complete once its `platform.report` arrived, or once a reset or
shutdown that followed it is over (the host has then delivered or dropped everything its subscribers had).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from lambdatui.model import facts as f
from lambdatui.model.telemetry import LOGS_DROPPED

REPORT = "platform.report"
START = "platform.start"
_REQUEST_ID = re.compile(r"RequestId: ([0-9A-Za-z-]+)")


@dataclass
class _Stream:
    """One extension's records, in the order its listener took them."""

    invoke: Optional[str] = None  # the request id whose records the stream is in (after its start)
    waiting: list[str] = field(default_factory=list)  # records between invokes: they go with the next one
    by_invoke: dict[str, list[str]] = field(default_factory=dict)
    complete: set[str] = field(default_factory=set)  # invokes whose platform.report arrived


def record_types(batch: str, types: tuple[str, ...]) -> list[tuple[str, Optional[str]]]:
    """(type, request id or None) for each record of a delivered batch; from `types` alone if the batch text is
    not whole JSON (a host may cut a batch it keeps for the debugger)."""
    try:
        records = json.loads(batch)
    except ValueError:
        records = None
    if not isinstance(records, list) or len(records) != len(types):
        return [(kind, None) for kind in types]
    out: list[tuple[str, Optional[str]]] = []
    for kind, record in zip(types, records):
        body = record.get("record") if isinstance(record, dict) else None
        request_id: Any = None
        if isinstance(body, dict):
            request_id = body.get("requestId")
        elif isinstance(body, str) and kind.startswith("platform."):
            found = _REQUEST_ID.search(body)  # the Logs API's text records: "RequestId: ..."
            request_id = found.group(1) if found else None
        out.append((kind, request_id if isinstance(request_id, str) and request_id else None))
    return out


class TelemetryLedger:
    """A fact listener: the records each extension received, by the invoke they belong to.

    Environments are told apart when the facts come with their number (`numbered`, from the fleet): each has its
    own extension processes under the same names, and its own resets and shutdowns. Facts without a number (`__call__`)
    count as one environment's.
    """

    def __init__(self) -> None:
        self._streams: dict[tuple[int, str], _Stream] = {}  # (env #N, extension)
        self.subscribed: set[str] = set()
        self._ends: dict[int, int] = {}  # env #N -> its resets and shutdowns over: each ends its subscribers
        self._begun: dict[str, dict[int, int]] = {}  # request id -> `_ends` when its invoke began
        self._env_of: dict[str, int] = {}  # request id -> the environment that took it

    def begin(self, request_id: str) -> None:
        """An invoke is about to be sent: a reset or shutdown over after this ends the delivery of its records."""
        self._begun[request_id] = dict(self._ends)

    def __call__(self, fact: f.Fact) -> None:
        self.numbered(0, fact)

    def numbered(self, number: int, fact: f.Fact) -> None:
        if isinstance(fact, f.TelemetryDelivered):
            if fact.error is None:
                self._delivered(number, fact)
        elif isinstance(fact, f.TelemetrySubscribed):
            self.subscribed.add(fact.extension)
        elif isinstance(fact, f.InvocationQueued):
            self._env_of[fact.request_id] = number
        elif isinstance(fact, f.PhaseEnded) and fact.phase in ("reset", "shutdown"):
            self._ends[number] = self._ends.get(number, 0) + 1

    def _delivered(self, number: int, fact: f.TelemetryDelivered) -> None:
        stream = self._streams.setdefault((number, fact.extension), _Stream())
        for kind, request_id in record_types(fact.batch, tuple(fact.types)):
            if kind == START and request_id is not None:
                stream.invoke = request_id
                stream.by_invoke.setdefault(request_id, []).extend(stream.waiting)
                stream.waiting = []
            owner = request_id or stream.invoke
            if owner is None:
                stream.waiting.append(kind)
                continue
            stream.by_invoke.setdefault(owner, []).append(kind)
            if kind == REPORT:
                stream.complete.add(owner)
                if stream.invoke == owner:
                    stream.invoke = None

    # ------------------------------------------------------------------ reading

    def _holding(self, extension: str, request_id: str) -> Optional[_Stream]:
        """The stream of `extension` that has records of that invoke (one environment ran it)."""
        return next((stream for (_, name), stream in self._streams.items()
                     if name == extension and request_id in stream.by_invoke), None)

    def types_for(self, extension: str, request_id: str) -> list[str]:
        """The record types `extension` received for that invoke so far, in order."""
        stream = self._holding(extension, request_id)
        return list(stream.by_invoke[request_id]) if stream is not None else []

    def dropped_by(self, extension: str, request_id: str) -> bool:
        """Whether records were dropped for `extension` (its buffer overflowed: platform.logsDropped) during that
        invoke or an earlier one of its environment: the backlog of one burst spills into the next invokes."""
        stream = self._holding(extension, request_id)
        if stream is None:
            return False
        for invoke, kinds in stream.by_invoke.items():
            if LOGS_DROPPED in kinds:
                return True
            if invoke == request_id:
                return False
        return False

    def complete(self, extension: str, request_id: str) -> bool:
        """Whether no more records of that invoke can reach `extension`."""
        stream = self._holding(extension, request_id)
        if stream is not None and request_id in stream.complete:
            return True
        begun = self._begun.get(request_id)
        if begun is None:
            return False
        env = self._env_of.get(request_id)
        if env is None:  # it never reached an environment: any end since it began is the last word
            return sum(self._ends.values()) > sum(begun.values())
        return self._ends.get(env, 0) > begun.get(env, 0)

    def extensions_for(self, request_id: str) -> list[str]:
        """The extensions that received records for that invoke, in the order they first received anything."""
        names: list[str] = []
        for (_, name), stream in self._streams.items():
            if stream.by_invoke.get(request_id) and name not in names:
                names.append(name)
        return names
