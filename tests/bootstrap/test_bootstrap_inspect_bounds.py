"""Every repr in the globals report is bounded in time and length, and never disturbs the function's own alarm."""

from __future__ import annotations

import json
import signal
import time
import types

import pytest

from lambdatui.bootstrap import inspect_state


class Slow:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __repr__(self) -> str:
        time.sleep(self.seconds)  # the behaviour under test: a repr that blocks
        return "finally"


class Raising:
    def __repr__(self) -> str:
        raise ValueError("no")


class Exiting:
    def __repr__(self) -> str:
        raise SystemExit(3)


class Swallowing:
    """Catches the first interruption and sleeps again: the interval alarm interrupts it once more."""

    def __repr__(self) -> str:
        try:
            time.sleep(2)
        except BaseException:
            time.sleep(2)
        return "never"


def test_a_slow_repr_is_cut_off_at_its_time_limit():
    started = time.monotonic()
    assert inspect_state.bounded_repr(Slow(2)) == "<repr took over 50 ms>"
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(("make", "shown"), [
    (Raising, "<repr raised ValueError>"),
    (Exiting, "<repr raised SystemExit>"),
    (Swallowing, "<repr took over 50 ms>"),
    (lambda: Slow(0), "finally"),
], ids=["raising", "exiting", "swallowing", "quick"])
def test_what_a_misbehaving_repr_shows(make, shown):
    # Built here, not in the parameters: pytest itself would repr them (and exit on SystemExit).
    assert inspect_state.bounded_repr(make()) == shown


def test_a_slow_repr_inside_a_container_is_cut_off_with_the_container():
    assert inspect_state.bounded_repr([1, Slow(2)]) == "<repr took over 50 ms>"


def test_the_functions_own_alarm_handler_and_pending_alarm_survive_the_report():
    fired: list[int] = []

    def mine(signum: int, frame: object) -> None:
        fired.append(signum)

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        assert inspect_state.bounded_repr(Slow(2)) == "<repr took over 50 ms>"
        assert signal.getsignal(signal.SIGALRM) is mine
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 29.0 < left <= 30.0  # paused, not spent, while the report was written
        assert fired == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_alarm_state_after_a_report_is_the_one_before_it():
    signal.setitimer(signal.ITIMER_REAL, 0)  # pytest-timeout may have one running: this test wants none
    try:
        inspect_state.bounded_repr(Slow(2))
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def test_the_whole_report_is_bounded_too():
    module = types.ModuleType("slow_module")
    for i in range(40):
        setattr(module, f"slow_{i}", Slow(2))  # 40 × 50 ms is past the report's 1 s
    started = time.monotonic()
    report = inspect_state.globals_report(module)
    assert time.monotonic() - started < inspect_state.REPORT_TIME_LIMIT_S + 0.5
    shown = [entry["repr"] for entry in report if entry["name"].startswith("slow_")]
    assert shown[0] == "<repr took over 50 ms>"
    assert shown[-1] == "<not shown: the report took over 1 s>"


def test_plain_values_are_shown_even_after_the_reports_budget():
    module = types.ModuleType("slow_then_plain")
    for i in range(30):
        setattr(module, f"slow_{i}", Slow(2))
    module.calls = 1
    module.name = "svc"
    module.ratio = 0.5
    shown = {entry["name"]: entry["repr"] for entry in inspect_state.globals_report(module)}
    assert shown["slow_29"] == "<not shown: the report took over 1 s>"
    assert (shown["calls"], shown["name"], shown["ratio"]) == ("1", "'svc'", "0.5")


class HalfEmoji:
    def __repr__(self) -> str:
        return json.loads('"Zo\\ud83d"')  # a custom repr handing back text as it came (str's own repr escapes it)


def test_a_repr_with_a_lone_surrogate_is_reported_as_valid_utf8():
    text = inspect_state.bounded_repr(HalfEmoji())
    assert text == "Zo\\ud83d"
    text.encode("utf-8")  # would raise on a lone surrogate


def test_a_content_digest_sees_past_the_repr_and_stays_within_its_bounds():
    items = list(range(100))
    before = inspect_state.content_digest(items)
    items[50] = -1
    assert inspect_state.content_digest(items) != before
    cycle: list = []
    cycle.append(cycle)
    assert inspect_state.content_digest(cycle)  # a cycle ends the walk instead of looping
    assert inspect_state.content_digest(list(range(inspect_state.DIGEST_NODES + 1))) == ""  # too large: unknown
    assert inspect_state.content_digest(Raising()) == ""  # an object of the function's own: never walked
    assert inspect_state.content_digest([-1]) != inspect_state.content_digest([-2])  # hash(-1) == hash(-2)
