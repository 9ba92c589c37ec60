"""The SnapStart uniqueness trap: which globals every environment restored from one snapshot shares.

Reports are built two ways: by hand (each rule on its own), and by the real bootstrap's inspection of a
module whose Init ran once and is reported by every "restored" environment, which is what a restore is: a
copy of the initialised process, so the same memory, the same reprs.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from lambdatui.bootstrap.inspect_state import build_report
from lambdatui.model.facts import GlobalEntry, GlobalsReported
from lambdatui.model.globals_diff import diff_globals
from lambdatui.model.shared_init_values import handler_source_paths, literal_names, shared_init_values


def entry(name: str, repr_: str, type_: str = "str", kind: str = "state") -> GlobalEntry:
    return GlobalEntry(name, type_, repr_, 1, kind, "same")


def report(*entries: GlobalEntry) -> GlobalsReported:
    return GlobalsReported("invoke", "req-1", 1, entries, (), ())


TOKEN = entry("REQUEST_PREFIX", "'9f1c2e0b7d4a4c1e8b6f3a2d5c7e9b10'")


# ---------------------------------------------------------------------- literal_names


class TestLiteralNames:
    @pytest.mark.parametrize("line", [
        'X = "abc"', "X = 3", "X = -3", "X = 2.5", "X = None", "X = True", 'X = (1, "a")', "X = [1, 2]",
        'X = {"k": [1, 2], "n": None}', "X = {1, 2}", 'X = f"plain"', "X = 60 * 5", 'X = "a" + "b"',
        'X = b"raw"', "X: int = 4", "X = not True", "X = ()",
    ])
    def test_a_plain_literal_is_the_same_everywhere_by_design(self, line: str) -> None:
        assert literal_names(line) == {"X"}

    @pytest.mark.parametrize("line", [
        "X = uuid.uuid4().hex", "X = random.random()", "X = time.time()", 'X = f"id-{uuid4()}"', "X = Y",
        "X = os.environ[KEY]", "X = [uuid4()]", "X = {'k': make()}", "X = (1, *rest)", "X = {**base}",
        "X = [i for i in range(3)]", "X = lambda: 1", "X = -n", "X = 3 if a else 4", "X: str",
    ])
    def test_anything_computed_is_not_a_literal(self, line: str) -> None:
        assert literal_names(line) == frozenset()

    def test_the_functions_configuration_and_paths_made_of_it_are_the_same_everywhere_by_design(self) -> None:
        source = ("import os, uuid\nTABLE = os.environ['TABLE']\nREGION = os.getenv('AWS_REGION', 'us-east-1')\n"
                  "ROOT = os.path.dirname(__file__)\nDB = os.path.join(ROOT, 'db')\nNAME = f'{TABLE}-cache'\n"
                  "ID = uuid.uuid4().hex\nKEY = f'{ID}-x'\nSEEDED = os.path.join(ROOT, ID)\n")
        assert literal_names(source) == {"TABLE", "REGION", "ROOT", "DB", "NAME"}

    def test_every_target_of_a_chained_assignment(self) -> None:
        assert literal_names("A = B = 0\nC, D = 1, 2\n") == {"A", "B"}  # unpacking targets are not Names

    def test_a_name_also_bound_from_a_call_is_not_a_literal(self) -> None:
        source = "SEED = None\nSEED = random.random()\nCOUNT = 0\nCOUNT += 1\nKEEP = 1\n"
        assert literal_names(source) == {"KEEP"}

    def test_module_level_blocks_count_and_function_and_class_bodies_do_not(self) -> None:
        source = (
            "if DEBUG:\n    LEVEL = 'debug'\nelse:\n    LEVEL = 'info'\n"
            "try:\n    TOKEN = 'x'\nexcept ImportError:\n    TOKEN = fetch()\n"
            "with lock:\n    LIMIT = 10\n"
            "def handler(event, context):\n    INNER = 1\n    global STARTED\n    STARTED = time.time()\n"
            "class Config:\n    FIELD = 'f'\n"
        )
        assert literal_names(source) == {"LEVEL", "LIMIT"}

    def test_source_that_does_not_parse_excuses_nothing(self) -> None:
        assert literal_names("X = 1\ndef broken(:\n") == frozenset()
        assert literal_names(b"X = '\xff'\n") == frozenset()  # not UTF-8, no coding cookie

    def test_bytes_follow_their_coding_cookie(self) -> None:
        source = "# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n".encode("latin-1")
        assert literal_names(source) == {"NAME"}


class TestHandlerSourcePaths:
    def test_a_module_beside_the_code(self) -> None:
        code = Path("/code")
        assert handler_source_paths(code, "handler.lambda_handler") == (code / "handler.py",
                                                                        code / "handler" / "__init__.py")

    @pytest.mark.parametrize("handler", ["pkg.sub.mod.fn", "pkg/sub/mod.fn", "pkg/sub.mod.fn"])
    def test_a_dotted_or_slashed_module_maps_to_folders(self, handler: str) -> None:
        code = Path("/code")
        assert handler_source_paths(code, handler)[0] == code / "pkg" / "sub" / "mod.py"

    @pytest.mark.parametrize("handler", ["bootstrap", ".fn", "a..b.fn", ""])
    def test_no_module_gives_nothing(self, handler: str) -> None:
        assert handler_source_paths(Path("/code"), handler) == ()


# ---------------------------------------------------------------------- shared_init_values


class TestSharedInitValues:
    def test_one_environment_has_nothing_to_compare_with(self) -> None:
        assert shared_init_values([report(TOKEN)], frozenset()) == {}
        assert shared_init_values([], frozenset()) == {}

    @pytest.mark.parametrize("count", [2, 3, 7])
    def test_the_same_value_in_every_environment_is_flagged_with_their_number(self, count: int) -> None:
        assert shared_init_values([report(TOKEN)] * count, frozenset()) == {"REQUEST_PREFIX": count}

    def test_a_value_that_differs_in_one_environment_is_not_flagged(self) -> None:
        other = entry("REQUEST_PREFIX", "'0b1d3f5a7c9e4b2d8f6a1c3e5b7d9f20'")
        assert shared_init_values([report(TOKEN), report(TOKEN), report(other)], frozenset()) == {}

    def test_a_name_one_environment_lacks_is_not_flagged(self) -> None:
        assert shared_init_values([report(TOKEN), report(TOKEN), report()], frozenset()) == {}

    def test_the_same_repr_of_another_type_is_not_the_same_value(self) -> None:
        as_text, as_number = entry("N", "'42'", "str"), entry("N", "'42'", "mylib.Quoted")
        assert shared_init_values([report(as_text), report(as_number)], frozenset()) == {}

    def test_names_assigned_from_literals_are_excused(self) -> None:
        table = entry("TABLE", "'orders'")
        assert shared_init_values([report(TOKEN, table)] * 2, frozenset({"TABLE"})) == {"REQUEST_PREFIX": 2}

    @pytest.mark.parametrize("kind", ["module", "function", "class", "import", "dunder"])
    def test_code_and_the_import_machinery_are_never_flagged(self, kind: str) -> None:
        code = entry("thing", "<function thing at 0x7f0000002000>", "function", kind)
        assert shared_init_values([report(code)] * 3, frozenset()) == {}

    @pytest.mark.parametrize(("type_", "repr_"), [
        ("NoneType", "None"), ("bool", "True"), ("dict", "{}"), ("list", "[]"), ("str", "''"), ("set", "set()"),
        ("str", "<repr raised ValueError>"), ("Slow", "<repr took over 50 ms>"),
        ("dict", "<not shown: the report took over 1 s>"),
    ])
    def test_values_that_carry_nothing_unique_are_not_flagged(self, type_: str, repr_: str) -> None:
        assert shared_init_values([report(entry("X", repr_, type_))] * 3, frozenset()) == {}

    def test_only_the_shared_names_in_the_first_reports_order(self) -> None:
        seed, started = entry("SEED", "0.6394267984578837", "float"), entry("STARTED", "1700000000.123", "float")
        mine, yours = entry("LAST", "'a1'"), entry("LAST", "'b2'")
        found = shared_init_values([report(seed, mine, started), report(started, yours, seed)], frozenset())
        assert list(found) == ["SEED", "STARTED"] and set(found.values()) == {2}


# ---------------------------------------------------------------------- with the real bootstrap's reports


HANDLER = '''
import random
import time
import uuid

REGION = "eu-west-1"
RETRIES = 3
REQUEST_PREFIX = uuid.uuid4().hex
SEED = random.random()
STARTED_AT = time.time()
_rng = random.Random()
TOKEN_CACHE = {"token": uuid.uuid4().hex}


class Client:
    pass


def handler(event, context):
    return REQUEST_PREFIX
'''


def init(source: str) -> types.ModuleType:
    """Run the handler module's Init, as the runtime imports it."""
    module = types.ModuleType("handler")
    exec(compile(source, "handler.py", "exec"), module.__dict__)
    return module


def reported(module: types.ModuleType, phase: str = "init") -> GlobalsReported:
    return diff_globals(build_report(phase, None, module), None, 1)


class TestWithTheBootstrapsReports:
    def test_restored_environments_share_what_init_made_unique(self) -> None:
        snapshot = init(HANDLER)  # Init runs once; each restored environment reports the same memory
        # Each restored copy reports once its after-restore hooks have run.
        found = shared_init_values([reported(snapshot, "restore") for _ in range(3)], literal_names(HANDLER))
        # `_rng` too: a generator seeded at Init gives every restored environment the same sequence.
        assert found == {name: 3 for name in ("REQUEST_PREFIX", "SEED", "STARTED_AT", "_rng", "TOKEN_CACHE")}

    def test_environments_that_each_ran_init_share_nothing(self) -> None:
        # Without SnapStart each environment runs Init itself: its ids, seeds and tokens are its own.
        reports = [reported(init(HANDLER)) for _ in range(3)]
        found = shared_init_values(reports, literal_names(HANDLER))
        assert not {"REQUEST_PREFIX", "SEED", "_rng", "TOKEN_CACHE"} & set(found)
