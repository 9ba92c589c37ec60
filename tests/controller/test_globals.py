"""The handler module's globals after each phase, diffed per process generation (GlobalsReported facts)."""

from __future__ import annotations

import pytest

from lambdatui import controller as c
from lambdatui.model import facts as f
from lambdatui.model.faults import Crash

from controller_support import debugger, write_handler

MODULE = """\
    import json
    import threading
    from os.path import join

    COUNT = 0
    CACHE = {}
    TEMP = "temporary"


    def helper():
        return json.dumps(CACHE)


    class Thing:
        pass


    def _idle():
        threading.Event().wait()


    threading.Thread(target=_idle, name="idler", daemon=True).start()


    def handler(event, context):
        global COUNT, TEMP
        COUNT += 1
        CACHE["k"] = 1
        if event.get("new"):
            globals()["NEW"] = 1
        if event.get("drop"):
            del TEMP
        return COUNT
    """


def by_name(report: f.GlobalsReported) -> dict[str, f.GlobalEntry]:
    return {e.name: e for e in report.entries}


def changes(report: f.GlobalsReported, *names: str) -> dict[str, str]:
    entries = by_name(report)
    return {name: entries[name].change for name in names}


@pytest.mark.trio
async def test_globals_are_classified_and_diffed_across_warm_invokes_and_start_over_after_a_reset(code_dir):
    write_handler(code_dir, MODULE)
    async with debugger(code_dir / "handler.py") as dbg:
        facts = dbg.facts
        first, _ = await dbg.invoke()

        [init] = facts.globals_for(None, "init")
        assert init.generation == 1 and init.gone == ()
        entries = by_name(init)
        kinds = {name: entries[name].kind for name in
                 ("json", "threading", "join", "COUNT", "CACHE", "TEMP", "helper", "Thing", "handler", "__name__")}
        assert kinds == {
            "json": "module", "threading": "module", "join": "import",
            "COUNT": "state", "CACHE": "state", "TEMP": "state",
            "helper": "function", "Thing": "class", "handler": "function", "__name__": "dunder",
        }
        assert {e.change for e in init.entries} == {"new"}
        assert entries["COUNT"].repr == "0" and entries["CACHE"].repr == "{}"
        threads = {t.name: t for t in init.threads}
        assert threads["idler"].daemon and threads["idler"].alive
        assert not threads["MainThread"].daemon

        [after_1] = facts.globals_for(first.request_id, "invoke")
        assert after_1.generation == 1 and after_1.gone == ()
        assert changes(after_1, "COUNT", "CACHE", "TEMP", "json", "helper", "Thing") == {
            "COUNT": "replaced",  # rebound to another int object
            "CACHE": "changed",  # the same dict, mutated in place
            "TEMP": "same", "json": "same", "helper": "same", "Thing": "same",
        }
        assert by_name(after_1)["COUNT"].repr == "1" and by_name(after_1)["CACHE"].repr == "{'k': 1}"
        assert by_name(after_1)["CACHE"].identity == by_name(init)["CACHE"].identity
        assert "idler" in {t.name for t in after_1.threads}

        second, _ = await dbg.invoke({"new": True})
        [after_2] = facts.globals_for(second.request_id, "invoke")
        assert changes(after_2, "NEW", "COUNT", "CACHE") == {"NEW": "new", "COUNT": "replaced", "CACHE": "same"}
        assert by_name(after_2)["NEW"].kind == "state" and after_2.gone == ()

        third, _ = await dbg.invoke({"drop": True})
        [after_3] = facts.globals_for(third.request_id, "invoke")
        assert after_3.gone == ("TEMP",)
        assert "TEMP" not in by_name(after_3)
        assert changes(after_3, "NEW", "CACHE") == {"NEW": "same", "CACHE": "same"}
        assert dbg.snapshot().globals == after_3  # the snapshot shows the latest report

        # A reset: a new process, a new generation. Its first report compares with nothing.
        dbg.submit(c.InjectFault(Crash()))
        await dbg.settled()
        mark = facts.mark()
        fourth, report = await dbg.invoke()
        assert report.cold
        first_after_reset, *rest = facts.since(mark, f.GlobalsReported)
        assert first_after_reset.phase == "init" and first_after_reset.generation == 2
        assert {e.change for e in first_after_reset.entries} == {"new"}
        assert first_after_reset.gone == ()  # NEW (gone from this process) belonged to the old one
        assert "NEW" not in by_name(first_after_reset) and by_name(first_after_reset)["TEMP"].change == "new"
        [after_4] = rest
        assert after_4.request_id == fourth.request_id and after_4.generation == 2
        assert by_name(after_4)["COUNT"].repr == "1"
        assert changes(after_4, "COUNT", "CACHE", "TEMP") == {"COUNT": "replaced", "CACHE": "changed", "TEMP": "same"}


PAST_THE_CUT = """\
    ITEMS = list(range(100))
    CONFIG = {"a": {"b": {"c": {"d": 1}}}}
    SEEN = {i: i for i in range(20)}
    UNTOUCHED = list(range(100))


    def handler(event, context):
        ITEMS[50] = -1
        CONFIG["a"]["b"]["c"]["d"] = 2
        SEEN[15] = "changed"
        return "ok"
    """


@pytest.mark.trio
async def test_a_mutation_in_place_past_the_reprs_cut_reads_as_changed_not_same(code_dir):
    # The repr stops at 8 items and 3 levels: each mutation here leaves it as it was, yet the value changed.
    write_handler(code_dir, PAST_THE_CUT)
    async with debugger(code_dir / "handler.py") as dbg:
        result, _ = await dbg.invoke()
        [report] = dbg.facts.globals_for(result.request_id, "invoke")
        assert changes(report, "ITEMS", "CONFIG", "SEEN", "UNTOUCHED") == {
            "ITEMS": "changed", "CONFIG": "changed", "SEEN": "changed", "UNTOUCHED": "same"}


MANY = """\
    for i in range(1500):
        globals()["G%04d" % i] = i


    def handler(event, context):
        global LAST
        LAST = event.get("n", 0)
        return "ok"
    """


@pytest.mark.trio
async def test_globals_past_the_kept_number_are_counted_and_never_read_as_gone(code_dir):
    write_handler(code_dir, MANY)
    async with debugger(code_dir / "handler.py") as dbg:
        first, _ = await dbg.invoke({"n": 1})
        second, _ = await dbg.invoke({"n": 2})
        [one] = dbg.facts.globals_for(first.request_id, "invoke")
        [two] = dbg.facts.globals_for(second.request_id, "invoke")
        # 1,500 Gs, LAST, handler and the module's dunders: past the 1,000 kept, and the view must say how many.
        assert len(two.entries) == 1000 and two.dropped == one.dropped > 500
        assert two.gone == ()  # LAST and the Gs past the cap are still there
