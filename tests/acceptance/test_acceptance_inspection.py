"""Item 1: the globals report is off the function's clock, bounded, and leaves the function's own SIGALRM alone.

Expectations come from the README ("Globals" bullet): a repr over 50 ms shows as `<repr took over 50 ms>`,
one that raises as `<repr raised ValueError>`, the report's time is excluded from every deadline and
duration, and a repr is bounded to 200 characters.
"""

from __future__ import annotations

import json

import pytest

from acceptance_support import cli, outcomes, report_field, reports, write
from controller_support import debugger, payload
from lambdatui.model import facts as f

SLOW_AND_RAISING = """\
    import time

    class Slow:
        def __repr__(self):
            time.sleep(2)
            return "slow"

    class Raises:
        def __repr__(self):
            raise ValueError("no repr for you")

    SLOW = Slow()
    BROKEN = Raises()
    calls = 0

    def handler(event, context):
        global calls
        calls += 1
        return {"calls": calls, "remaining": context.get_remaining_time_in_millis()}
    """

SLOWISH_30 = """\
    import time

    class Slowish:
        def __repr__(self):
            time.sleep(0.04)
            return "slowish"

""" + "".join(f"    G{i} = Slowish()\n" for i in range(30)) + """
    def handler(event, context):
        time.sleep(event.get("sleep", 0))
        return {"remaining": context.get_remaining_time_in_millis()}
    """


# The same thirty, with a cheap global beside them.
CHEAP_AFTER_SLOWISH = SLOWISH_30.replace("    def handler", "    calls = 0\n\n    def handler").replace(
    "        time.sleep(event.get(\"sleep\", 0))", "        global calls\n        calls += 1\n        time.sleep(event.get(\"sleep\", 0))")


def shown(dbg) -> dict[str, str]:
    return {g.name: g.repr for report in dbg.facts.of(f.GlobalsReported) for g in report.entries}


@pytest.mark.trio
async def test_debugger_slow_and_raising_reprs_are_labelled_and_do_not_time_out(code_dir):
    write(code_dir / "handler.py", SLOW_AND_RAISING)
    async with debugger(code_dir / "handler.py", timeout_s=1) as dbg:
        results = [await dbg.invoke() for _ in range(3)]
        reprs = shown(dbg)
    assert [payload(r)["calls"] for r, _ in results] == [1, 2, 3]
    assert [rep.status for _, rep in results] == ["success"] * 3
    for result, rep in results:
        assert not result.function_error
        # Every report ran SLOW's repr (cut at 50 ms) but that time is not the function's.
        assert payload(result)["remaining"] > 700, payload(result)
        assert rep.duration_ms < 500, rep
    assert results[0][1].init_duration_ms is not None and results[0][1].init_duration_ms < 1000
    assert reprs["SLOW"] == "<repr took over 50 ms>"
    assert reprs["BROKEN"] == "<repr raised ValueError>"
    assert reprs["calls"] == "3"


@pytest.mark.slow
@pytest.mark.trio
async def test_debugger_thirty_slowish_reprs_do_not_inflate_durations(code_dir):
    write(code_dir / "handler.py", SLOWISH_30)
    async with debugger(code_dir / "handler.py", timeout_s=1) as dbg:
        first, first_report = await dbg.invoke({"sleep": 0.3})
        second, second_report = await dbg.invoke({})
        reprs = shown(dbg)
    assert first_report.status == "success", first_report
    assert 300 <= first_report.duration_ms < 700, first_report  # the handler's 0.3 s, not 30 x 40 ms of reports
    assert payload(first)["remaining"] > 450, payload(first)
    assert second_report.status == "success" and second_report.duration_ms < 300, second_report
    assert payload(second)["remaining"] > 800, payload(second)
    # 30 x 40 ms = 1.2 s of reprs after Function init: not part of Init Duration.
    assert first_report.init_duration_ms is not None and first_report.init_duration_ms < 800, first_report
    # The reprs ran (their time was spent). Each one's 40 ms is 10 ms under its 50 ms bound: on a busy machine a late
    # wake-up may label one as too slow, so not a given one.
    assert "slowish" in {reprs[f"G{i}"] for i in range(30)}, reprs


HUGE = """\
    BIG_STR = "x" * 1_000_000
    BIG_LIST = list(range(50_000))
    BIG_DICT = {str(i): i for i in range(20_000)}

    class Loud:
        def __repr__(self):
            return "L" * 5_000_000

    LOUD = Loud()

    def handler(event, context):
        return {"ok": True}
    """


@pytest.mark.trio
async def test_debugger_reprs_of_huge_values_are_cut_to_200_chars(code_dir):
    write(code_dir / "handler.py", HUGE)
    async with debugger(code_dir / "handler.py", timeout_s=1) as dbg:
        result, rep = await dbg.invoke()
        reprs = shown(dbg)
    assert payload(result) == {"ok": True} and rep.status == "success"
    for name in ("BIG_STR", "BIG_LIST", "BIG_DICT", "LOUD"):
        assert name in reprs, sorted(reprs)
        value = reprs[name]
        if value == "<repr took over 50 ms>":
            continue  # a bounded label is a correct outcome too
        assert 0 < len(value) <= 200, (name, len(value))
    assert reprs["BIG_STR"].startswith("'xxxx") and len(reprs["BIG_STR"]) >= 100  # cut, not dropped
    assert reprs["LOUD"].startswith("LLLL") and len(reprs["LOUD"]) >= 100
    assert reprs["BIG_LIST"].startswith("[0, 1, 2")


EXOTIC = """\
    import sys

    class Exits:
        def __repr__(self):
            sys.exit(7)

    class Interrupts:
        def __repr__(self):
            raise KeyboardInterrupt

    class NotAString:
        def __repr__(self):
            return 42

    EXITS = Exits()
    INTERRUPTS = Interrupts()
    NOT_A_STRING = NotAString()
    calls = 0

    def handler(event, context):
        global calls
        calls += 1
        return {"calls": calls}
    """


@pytest.mark.trio
async def test_debugger_reprs_raising_base_exceptions_do_not_kill_the_function(code_dir):
    """A repr that raises is labelled; "raises" includes SystemExit and KeyboardInterrupt, which must not
    end the runtime (watching must never change the outcome)."""
    write(code_dir / "handler.py", EXOTIC)
    async with debugger(code_dir / "handler.py", timeout_s=2) as dbg:
        results = [await dbg.invoke() for _ in range(2)]
        reprs = shown(dbg)
    assert [rep.status for _, rep in results] == ["success", "success"]
    assert [payload(r) for r, _ in results] == [{"calls": 1}, {"calls": 2}]
    assert [rep.cold for _, rep in results] == [True, False]  # no reset in between
    assert reprs["EXITS"] == "<repr raised SystemExit>"
    assert reprs["INTERRUPTS"] == "<repr raised KeyboardInterrupt>"
    assert reprs["NOT_A_STRING"] == "<repr raised TypeError>"


# --------------------------------------------------------------------------- headless modes, --timeout 1

SCENARIO = """\
[[step]]
invoke = {}
expect = { response = { calls = 1 }, cold = true }

[[step]]
invoke = {}
expect = { response = { calls = 2 }, cold = false }

[[step]]
invoke = {}
expect = { response = { calls = 3 }, cold = false }
"""


def test_replay_with_timeout_1_and_slow_reprs_succeeds(code_dir):
    write(code_dir / "handler.py", SLOW_AND_RAISING)
    write(code_dir / "s.toml", SCENARIO, dedent=False)
    result = cli("replay", code_dir / "handler.py", code_dir / "s.toml", "--timeout", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert outcomes(result.stdout) == ["success"] * 3, result.stdout
    assert "Status: timeout" not in result.stdout
    init = report_field([l for l in result.stdout.splitlines() if "REPORT" in l][0], "Init Duration")
    assert init is not None and init < 1000, result.stdout


def test_replay_with_thirty_slowish_reprs_and_timeout_1_and_a_cheap_global_still_shown(code_dir):
    """30 reprs of 40 ms are not the invoke's or Init's time; a cheap global (`calls`) is still shown next to them.
    (One replay for what two tests checked apart: the same thirty globals, the cheap one beside them.)"""
    write(code_dir / "handler.py", CHEAP_AFTER_SLOWISH)
    write(code_dir / "s.toml", """\
[[step]]
invoke = { sleep = 0.3 }
expect = { globals = { calls = "1" } }
""", dedent=False)
    result = cli("replay", code_dir / "handler.py", code_dir / "s.toml", "--timeout", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert outcomes(result.stdout) == ["success"], result.stdout
    report_lines = [l for l in result.stdout.splitlines() if "REPORT RequestId" in l]
    assert len(report_lines) == 1
    for line in report_lines:
        assert report_field(line, "Duration") < 700, line
    assert report_field(report_lines[0], "Init Duration") < 800, report_lines[0]


def test_invoke_with_timeout_1_and_slow_reprs_succeeds(code_dir):
    write(code_dir / "handler.py", SLOW_AND_RAISING)
    result = cli("invoke", code_dir / "handler.py", "--timeout", "1", "--repeat", "3")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["calls"] for line in lines] == [1, 2, 3]
    assert all("Status" not in line for line in reports(result.stderr)), result.stderr


# --------------------------------------------------------------------------- the function's own SIGALRM

ALARM = """\
    import signal
    import time

    class Slowish:
        def __repr__(self):
            time.sleep(0.04)
            return "slowish"

    SLOWS = [Slowish() for _ in range(3)]
""" + "".join(f"    S{i} = Slowish()\n" for i in range(10)) + """
    class OwnTimeout(Exception):
        pass

    def on_alarm(signum, frame):
        raise OwnTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    fired = 0

    def handler(event, context):
        global fired
        state = {
            "own_handler_installed": signal.getsignal(signal.SIGALRM) is on_alarm,
            # a pending alarm left by the previous invoke (seconds left), as alarm(0) reports it
            "left_over": signal.alarm(0),
        }
        if event.get("work"):
            signal.alarm(1)
            start = time.monotonic()
            try:
                while time.monotonic() - start < 2.5:
                    time.sleep(0.01)
                state["alarm"] = "never fired"
            except OwnTimeout:
                fired += 1
                state["alarm"] = "fired"
                state["after_s"] = round(time.monotonic() - start, 2)
            finally:
                signal.alarm(0)
        if event.get("leave"):
            signal.alarm(event["leave"])  # still pending when the invoke returns
        state["fired"] = fired
        return state
    """


@pytest.mark.trio
async def test_debugger_leaves_the_functions_own_sigalrm_working(code_dir):
    write(code_dir / "handler.py", ALARM)
    async with debugger(code_dir / "handler.py", timeout_s=3) as dbg:
        one, r1 = await dbg.invoke({"work": True, "leave": 30})
        two, r2 = await dbg.invoke({})
    assert [r.status for r in (r1, r2)] == ["success"] * 2
    one, two = payload(one), payload(two)
    for state in (one, two):
        assert state["own_handler_installed"], state  # Function init installed it; no report replaced it
    assert one["alarm"] == "fired", one
    assert 0.9 <= one["after_s"] <= 1.6, one
    assert two["fired"] == 1
    # The alarm(30) left pending by invoke 1 is still pending at invoke 2, slow reprs reported in between.
    assert 25 <= two["left_over"] <= 30, two


def test_invoke_cli_runs_the_functions_own_sigalrm_the_same_way(code_dir):
    """The same function without the debugger, as the reference for the test above."""
    write(code_dir / "handler.py", ALARM)
    result = cli("invoke", code_dir / "handler.py", "-e", json.dumps({"work": True}))
    assert result.returncode == 0, result.stderr
    states = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["alarm"] for s in states] == ["fired"], states
    assert all(0.9 <= s["after_s"] <= 1.6 and s["own_handler_installed"] for s in states), states


# --------------------------------------------------------------------------- background threads and the report

TICKER = """\
    import threading, time

    class Slowish:
        def __repr__(self):
            time.sleep(0.04)
            return "slowish"

""" + "".join(f"    G{i} = Slowish()\n" for i in range(10)) + """
    ticks = 0

    def tick():
        global ticks
        while True:
            ticks += 1
            time.sleep(0.01)

    threading.Thread(target=tick, daemon=True).start()
    last = None

    def handler(event, context):
        global last
        gap = None if last is None else ticks - last
        time.sleep(0.05)
        last = ticks
        return {"ticks_between_invokes": gap}
    """

TWO = "[[step]]\ninvoke = {}\n[[step]]\ninvoke = {}\n"


def gaps(lines: list[str]) -> list[int]:
    return [json.loads(line)["ticks_between_invokes"] for line in lines][1:]


def test_reference_background_thread_does_not_run_between_invokes_without_the_debugger(code_dir):
    write(code_dir / "handler.py", TICKER)
    result = cli("invoke", code_dir / "handler.py", "--repeat", "2")
    assert result.returncode == 0, result.stderr
    assert all(gap <= 5 for gap in gaps(result.stdout.splitlines())), result.stdout


@pytest.mark.xfail(strict=True, reason="known limitation: the report runs in the live process before the freeze, so "
                   "background threads run while it lasts (here 10 reprs of 40 ms each)")
def test_background_thread_does_not_run_during_the_globals_report(code_dir):
    write(code_dir / "handler.py", TICKER)
    write(code_dir / "s.toml", TWO, dedent=False)
    result = cli("replay", code_dir / "handler.py", code_dir / "s.toml")
    assert result.returncode == 0, result.stdout
    responses = [line.split("response", 1)[1].strip() for line in result.stdout.splitlines()
                 if line.strip().startswith("response ")]
    assert len(responses) == 2, result.stdout
    assert all(gap <= 5 for gap in gaps(responses)), responses


BLOCKING = """\
    import os, threading

    _held = threading.Lock()
    _held.acquire()
    _read_end, _write_end = os.pipe()

    class WaitsOnALock:
        def __repr__(self):
            _held.acquire()  # never released
            return "never"

    class ReadsAnEmptyPipe:
        def __repr__(self):
            os.read(_read_end, 1)  # blocks in a system call
            return "never"

    class HogsTheGil:
        def __repr__(self):
            sum(range(30_000_000))  # one C call: no bytecode boundary to stop at
            return "hog"

    LOCKED = WaitsOnALock()
    PIPE = ReadsAnEmptyPipe()
    HOG = HogsTheGil()
    calls = 0

    def handler(event, context):
        global calls
        calls += 1
        return {"calls": calls, "remaining": context.get_remaining_time_in_millis()}
    """


@pytest.mark.trio
async def test_debugger_reprs_that_block_in_a_lock_a_syscall_or_hold_the_gil(code_dir):
    write(code_dir / "handler.py", BLOCKING)
    async with debugger(code_dir / "handler.py", timeout_s=1) as dbg:
        results = [await dbg.invoke(bound=30) for _ in range(2)]
        reprs = shown(dbg)
    assert [rep.status for _, rep in results] == ["success", "success"], results
    assert [payload(r)["calls"] for r, _ in results] == [1, 2]
    assert all(payload(r)["remaining"] > 700 for r, _ in results), results
    assert [rep.cold for _, rep in results] == [True, False]
    assert reprs["LOCKED"] == "<repr took over 50 ms>"
    assert reprs["PIPE"] == "<repr took over 50 ms>"
    assert reprs["HOG"] in ("<repr took over 50 ms>", "hog")


ITIMER = """\
    import signal, time

    class Slowish:
        def __repr__(self):
            time.sleep(0.04)
            return "slowish"

""" + "".join(f"    S{i} = Slowish()\n" for i in range(10)) + """
    fired = 0

    def on_alarm(signum, frame):
        global fired
        fired += 1

    signal.signal(signal.SIGALRM, on_alarm)

    def handler(event, context):
        at_start = fired
        if event.get("arm"):
            signal.setitimer(signal.ITIMER_REAL, event["arm"])  # fires after this invoke has returned
            return {"armed": True}
        start = time.monotonic()
        while fired == 0 and time.monotonic() - start < 1.5:
            time.sleep(0.005)
        return {"fired_at_start": at_start, "fired": fired, "waited": round(time.monotonic() - start, 3)}
    """


def test_a_timer_armed_at_the_end_of_an_invoke_fires_as_it_would_without_the_report(code_dir):
    """Without the debugger the next invoke follows at once, so a 0.1 s timer fires ~0.1 s into it, once."""
    write(code_dir / "handler.py", ITIMER)
    write(code_dir / "s.toml", "[[step]]\ninvoke = { arm = 0.1 }\n[[step]]\ninvoke = {}\n", dedent=False)
    result = cli("replay", code_dir / "handler.py", code_dir / "s.toml")
    assert result.returncode == 0, result.stdout
    last = json.loads([line for line in result.stdout.splitlines() if line.strip().startswith("response ")][-1]
                      .split("response", 1)[1])
    assert last["fired"] == 1, last
    assert last["fired_at_start"] == 1 or last["waited"] < 0.5, last


SURROGATE = """\
    import json

    # Half an emoji, as a JavaScript client that cut a UTF-16 string sends it: json.loads keeps the lone surrogate.
    class User:
        def __init__(self, name):
            self.name = name

        def __repr__(self):
            return f"User({self.name})"

    LAST_USER = User(json.loads('"Zo\\\\ud83d"'))
    calls = 0

    def handler(event, context):
        global calls
        calls += 1
        return {"calls": calls}
    """


def test_a_global_whose_repr_holds_a_lone_surrogate_does_not_sink_the_globals_report(code_dir):
    write(code_dir / "handler.py", SURROGATE)
    write(code_dir / "s.toml", '[[step]]\ninvoke = {}\nexpect = { globals = { calls = "1" } }\n', dedent=False)
    result = cli("replay", code_dir / "handler.py", code_dir / "s.toml")
    assert outcomes(result.stdout) == ["success"], result.stdout
    assert "answered 400" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout


@pytest.mark.trio
async def test_debugger_outcome_is_untouched_by_a_lone_surrogate_repr(code_dir):
    write(code_dir / "handler.py", SURROGATE)
    async with debugger(code_dir / "handler.py") as dbg:
        result, report = await dbg.invoke()
        reprs = shown(dbg)
    assert report.status == "success" and payload(result) == {"calls": 1}  # the outcome itself is untouched
    # Whatever the report shows, the invoke's outcome holds: no crash, no reset.
    assert reprs.get("calls") in (None, "1")
