"""Globals reports: validation of untrusted input, and the new/changed/replaced/same/gone diff."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any, Optional

import pytest

from lambdatui.model.facts import GlobalEntry, GlobalsReported, ThreadEntry
from lambdatui.model.globals_diff import MAX_ENTRIES, MAX_TEXT, diff_globals


def g(name: str, repr_: str = "0", id_: int = 1, type_: str = "int", kind: str = "state") -> dict[str, Any]:
    return {"name": name, "type": type_, "repr": repr_, "id": id_, "kind": kind}


def report(*globals_: dict[str, Any], phase: str = "invoke", request_id: Optional[str] = "req-1",
           threads: Optional[list] = None) -> dict[str, Any]:
    return {
        "phase": phase,
        "requestId": request_id,
        "globals": list(globals_),
        "threads": threads if threads is not None else [{"name": "MainThread", "ident": 1, "daemon": False,
                                                         "alive": True}],
    }


def changes(fact: GlobalsReported) -> dict[str, str]:
    return {e.name: e.change for e in fact.entries}


# ---------------------------------------------------------------------- the diff


def test_first_report_is_all_new_and_keeps_every_field():
    fact = diff_globals(report(g("counter", "0", 10), g("__name__", "'app'", 11, "str", "dunder"),
                               phase="init", request_id=None), None, 1)
    assert fact == GlobalsReported(
        phase="init", request_id=None, generation=1,
        entries=(GlobalEntry("counter", "int", "0", 10, "state", "new"),
                 GlobalEntry("__name__", "str", "'app'", 11, "dunder", "new")),
        gone=(), threads=(ThreadEntry("MainThread", 1, False, True),))


CASES = [
    # name, before, after, expected change
    ("untouched", g("x", "[1]", 5, "list"), g("x", "[1]", 5, "list"), "same"),
    ("mutated in place", g("x", "[1]", 5, "list"), g("x", "[1, 2]", 5, "list"), "changed"),
    ("rebound to another object", g("x", "[1]", 5, "list"), g("x", "[1]", 6, "list"), "replaced"),
    ("rebound, new value", g("x", "1", 5), g("x", "2", 6), "replaced"),
    # CPython recycles ids: same id, different type is another object, never a mutation
    ("recycled id, other type", g("x", "1", 5, "int"), g("x", "'1'", 5, "str"), "replaced"),
]


@pytest.mark.parametrize("before,after,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_change_of_one_global_against_the_previous_report(before, after, expected):
    previous = diff_globals(report(before, phase="init", request_id=None), None, 1)
    fact = diff_globals(report(after), previous, 1)
    assert changes(fact) == {"x": expected}
    assert fact.gone == ()


def test_new_and_gone_names_in_one_report():
    previous = diff_globals(report(g("a"), g("b", id_=2), g("c", id_=3)), None, 1)
    fact = diff_globals(report(g("b", id_=2), g("d", id_=4)), previous, 1)
    assert changes(fact) == {"b": "same", "d": "new"}
    assert fact.gone == ("a", "c")  # in the previous report's order


def test_a_new_generation_is_a_fresh_process_everything_new_nothing_gone():
    previous = diff_globals(report(g("a", id_=7), g("b", id_=8)), None, 1)
    fact = diff_globals(report(g("a", id_=7)), previous, 2)  # same id by chance in the new process
    assert changes(fact) == {"a": "new"}
    assert fact.gone == ()
    assert fact.generation == 2


def test_the_diff_chains_report_after_report():
    first = diff_globals(report(g("cache", "{}", 9, "dict")), None, 1)
    second = diff_globals(report(g("cache", "{'k': 1}", 9, "dict")), first, 1)
    third = diff_globals(report(g("cache", "{'k': 1}", 9, "dict")), second, 1)
    assert [changes(r)["cache"] for r in (first, second, third)] == ["new", "changed", "same"]


def test_threads_are_reported_as_given():
    threads = [{"name": "MainThread", "ident": 1, "daemon": False, "alive": True},
               {"name": "leaked", "ident": None, "daemon": True, "alive": False}]
    fact = diff_globals(report(threads=threads), None, 1)
    assert fact.threads == (ThreadEntry("MainThread", 1, False, True), ThreadEntry("leaked", None, True, False))


# ---------------------------------------------------------------------- bounds


def test_repr_and_type_are_capped_at_200_characters():
    fact = diff_globals(report(g("big", "x" * 5000, type_="T" * 300)), None, 1)
    entry = fact.entries[0]
    assert len(entry.repr) == MAX_TEXT == 200 and entry.repr.endswith("...")
    assert len(entry.type) == MAX_TEXT
    assert diff_globals(report(g("ok", "y" * 200)), None, 1).entries[0].repr == "y" * 200  # at the bound: kept


def test_entries_are_capped_at_1000():
    many = [g(f"v{i}", id_=i) for i in range(MAX_ENTRIES + 50)]
    many.append({"broken": True})  # past the cap: never even looked at
    fact = diff_globals(report(*many), None, 1)
    assert len(fact.entries) == MAX_ENTRIES == 1000
    assert fact.entries[-1].name == "v999"


def test_the_report_is_not_mutated():
    raw = report(g("x", "z" * 500))
    before = copy.deepcopy(raw)
    diff_globals(raw, None, 1)
    assert raw == before


# ---------------------------------------------------------------------- malformed reports: ValueError, never KeyError


def _without(key: str) -> dict[str, Any]:
    r = report(g("x"))
    del r[key]
    return r


def _global_with(**fields: Any) -> dict[str, Any]:
    entry = g("x")
    for key, value in fields.items():
        if value is _DELETE:
            del entry[key]
        else:
            entry[key] = value
    return report(entry)


def _thread_with(**fields: Any) -> dict[str, Any]:
    thread = {"name": "t", "ident": 1, "daemon": False, "alive": True}
    for key, value in fields.items():
        if value is _DELETE:
            del thread[key]
        else:
            thread[key] = value
    return report(threads=[thread])


_DELETE = object()

MALFORMED = [
    ("not an object", [1, 2], "must be a JSON object"),
    ("null", None, "must be a JSON object"),
    ("no phase", _without("phase"), "has no 'phase'"),
    ("unknown phase", {**report(), "phase": "shutdown"}, "phase must be one of"),
    ("phase not a string", {**report(), "phase": 3}, "phase must be a string"),
    ("requestId a number", {**report(), "requestId": 12}, "requestId must be a string or null"),
    ("no globals", _without("globals"), "has no 'globals'"),
    ("globals an object", {**report(), "globals": {"x": 1}}, "globals must be an array"),
    ("no threads", _without("threads"), "has no 'threads'"),
    ("entry not an object", report("x"), "globals[0] must be an object"),
    ("entry without name", _global_with(name=_DELETE), "globals[0] has no 'name'"),
    ("name not a string", _global_with(name=5), "globals[0].name must be a string"),
    ("id a string", _global_with(id="140234"), "globals[0].id must be an integer"),
    ("id a float", _global_with(id=1.5), "globals[0].id must be an integer"),
    ("id a boolean", _global_with(id=True), "globals[0].id must be an integer, got a boolean"),
    ("repr null", _global_with(repr=None), "globals[0].repr must be a string, got null"),
    ("unknown kind", _global_with(kind="weird"), "globals[0].kind must be one of"),
    ("duplicate name", report(g("x"), g("x", id_=2)), "globals[1].name 'x' appears twice"),
    ("thread not an object", report(threads=["t"]), "threads[0] must be an object"),
    ("thread ident a string", _thread_with(ident="1"), "threads[0].ident must be an integer or null"),
    ("thread daemon missing", _thread_with(daemon=_DELETE), "threads[0] has no 'daemon'"),
    ("thread alive a number", _thread_with(alive=1), "threads[0].alive must be a boolean"),
]


@pytest.mark.parametrize("raw,message", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_a_malformed_report_raises_value_error_naming_the_field(raw, message):
    with pytest.raises(ValueError) as caught:
        diff_globals(raw, None, 1)
    assert message in str(caught.value)
    assert type(caught.value) is ValueError  # not a KeyError/TypeError dressed up


# ---------------------------------------------------------------------- the real bootstrap's report


def test_a_report_built_by_the_real_bootstrap_diffs_as_expected():
    """The contract with lambdatui.bootstrap.inspect_state, run in its own interpreter."""
    code = r'''
import json, sys, threading, types
from lambdatui.bootstrap.inspect_state import build_report
m = types.ModuleType("app")
exec("import os\nfrom json import dumps\ncounter = 0\ncache = {}\nitems = []\ndef handler(e, c): pass\n"
     "class Thing: pass\n", m.__dict__)
reports = [build_report("init", None, m)]
m.counter += 1                 # rebinds: an int is immutable
m.cache["k"] = "v"             # mutates in place
del m.items                    # gone
m.fresh = "hello"              # new
reports.append(build_report("invoke", "req-1", m))
print(json.dumps(reports))
'''
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    init_raw, invoke_raw = json.loads(out.stdout)
    init = diff_globals(init_raw, None, 1)
    kinds = {e.name: e.kind for e in init.entries}
    assert kinds["os"] == "module" and kinds["dumps"] == "import" and kinds["counter"] == "state"
    assert kinds["handler"] == "function" and kinds["Thing"] == "class" and kinds["__name__"] == "dunder"
    after = diff_globals(invoke_raw, init, 1)
    c = changes(after)
    assert (c["counter"], c["cache"], c["fresh"], c["handler"], c["os"]) == ("replaced", "changed", "new", "same", "same")
    assert after.gone == ("items",)
    assert after.request_id == "req-1" and after.threads[0].name == "MainThread"
