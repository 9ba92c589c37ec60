"""The API traffic reducer: per participant, in order, bounded; a parked long poll replaced by its answer."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from lambdatui.model.api_traffic import ApiTraffic
from lambdatui.model.debug_state import DebugState
from lambdatui.model.facts import ApiExchanged


def exchange(seq: int, participant: str = "runtime", *, method: str = "POST", status: int = 202,
             answered: Optional[float] = 1.0) -> ApiExchanged:
    return ApiExchanged(seq=seq, participant=participant, method=method, path=f"/p/{seq}", status=status,
                        request_headers=(), response_headers=(), request_preview="", response_preview="",
                        started=0.5, answered=answered, long_poll=method == "GET")


def seqs(traffic: ApiTraffic, participant: str) -> list[int]:
    kept = {p.participant: p for p in traffic.participants()}[participant]
    return [e.seq for e in kept.exchanges]


def test_runtime_first_then_extensions_in_first_call_order() -> None:
    traffic = ApiTraffic()
    for fact in (exchange(1, "audit"), exchange(2, "probe"), exchange(3), exchange(4, "audit")):
        traffic.apply(fact)
    assert [p.participant for p in traffic.participants()] == ["runtime", "audit", "probe"]
    assert seqs(traffic, "audit") == [1, 4]


def test_a_parked_next_is_replaced_by_its_answer_in_place() -> None:
    traffic = ApiTraffic()
    parked = exchange(1, method="GET", status=0, answered=None)
    traffic.apply(parked)
    traffic.apply(exchange(2))  # a call meanwhile (a Managed Instance's workers, or a stranger)
    assert traffic.participants()[0].exchanges[0].parked_ms is None
    traffic.apply(replace(parked, status=200, answered=2.5))
    runtime = traffic.participants()[0]
    assert [e.seq for e in runtime.exchanges] == [1, 2]
    assert runtime.exchanges[0].status == 200 and runtime.exchanges[0].parked_ms == 2000.0


def test_each_participant_keeps_its_newest_and_counts_the_rest() -> None:
    traffic = ApiTraffic(max_exchanges=3)
    for seq in range(1, 8):
        traffic.apply(exchange(seq))
    traffic.apply(exchange(8, "audit"))
    runtime, audit = traffic.participants()
    assert [e.seq for e in runtime.exchanges] == [5, 6, 7] and runtime.dropped == 4
    assert [e.seq for e in audit.exchanges] == [8] and audit.dropped == 0


def test_an_answer_whose_parked_record_was_dropped_is_kept_as_new() -> None:
    traffic = ApiTraffic(max_exchanges=2)
    traffic.apply(exchange(1, method="GET", status=0, answered=None))
    traffic.apply(exchange(2))
    traffic.apply(exchange(3))
    traffic.apply(exchange(1, method="GET", status=200, answered=2.0))
    assert seqs(traffic, "runtime") == [3, 1]


def test_participants_are_bounded() -> None:
    traffic = ApiTraffic(max_participants=2)
    for seq, name in enumerate(("runtime", "a", "b", "c"), 1):
        traffic.apply(exchange(seq, name))
    assert [p.participant for p in traffic.participants()] == ["runtime", "a"]


def test_the_answer_is_cached_until_something_new_arrives() -> None:
    traffic = ApiTraffic()
    traffic.apply(exchange(1))
    first = traffic.participants()
    assert traffic.participants() is first  # the view compares by identity to know nothing changed
    traffic.apply(exchange(2))
    assert traffic.participants() is not first


def test_debug_state_folds_the_traffic_apart_from_its_views() -> None:
    state = DebugState()
    state.apply(exchange(1), at=1.0)
    assert seqs(state.api_traffic, "runtime") == [1]
    assert state.timeline.bars() == () and not state.logs
