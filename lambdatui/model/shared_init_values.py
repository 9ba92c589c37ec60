"""The SnapStart uniqueness trap: module state that every environment restored from one snapshot shares.

With SnapStart, Init runs once; the initialised runtime process is the snapshot, and every environment
restored from it starts with a copy of that memory. Whatever Init made to be unique (an id, a random
seed, a timestamp, a token) is therefore the same in all of them. This module finds such values in
the globals the restored environments report, and leaves out what is the same everywhere by design:
modules, functions and classes, and names the handler module assigns from plain literals.

Pure: the caller gathers the reports (one per live restored environment) and reads the source.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import AbstractSet, Iterable, Sequence

from lambdatui.model.facts import GlobalEntry, GlobalsReported

# Only module state can carry a value made at Init; the other kinds are code (the same by design), and
# dunders (`__file__`, `__spec__`) are the import machinery's.
STATE = "state"

# Values that carry no information cannot be a shared id, seed or token: `CLIENT = make_client()` that
# returned None, or a cache that is still empty, would only be noise.
_EMPTY_TYPES = frozenset({"NoneType", "bool"})
_EMPTY_REPRS = frozenset({"''", '""', "b''", "()", "[]", "{}", "set()", "frozenset()"})

# What the bootstrap writes instead of a repr it could not take: equal text, but nothing is known of the values.
_NOT_A_VALUE = ("<repr raised ", "<repr took over ", "<not shown: ")


def shared_init_values(reports: Sequence[GlobalsReported], literal_names: AbstractSet[str]) -> dict[str, int]:
    """Name -> N for each global that holds the same value in all N (at least 2) `reports`, where each report
    is the latest of one live environment restored from the same snapshot.

    "The same value" is the same type and the same repr (bounded by the bootstrap to 200 characters, so two
    values that differ only past that bound read as the same). A name missing from any report, or of another
    kind in one of them, is not shared: each environment must show it.
    """
    count = len(reports)
    if count < 2:
        return {}
    first, *others = reports
    by_name = [{e.name: e for e in report.entries} for report in others]
    shared: dict[str, int] = {}
    for entry in first.entries:
        if entry.name in literal_names or not _may_be_unique(entry):
            continue
        if all(_same(entry, entries.get(entry.name)) for entries in by_name):
            shared[entry.name] = count
    return shared


def _may_be_unique(entry: GlobalEntry) -> bool:
    if entry.kind != STATE or entry.type in _EMPTY_TYPES or entry.repr in _EMPTY_REPRS:
        return False
    return not entry.repr.startswith(_NOT_A_VALUE)


def _same(entry: GlobalEntry, other: GlobalEntry | None) -> bool:
    return other is not None and other.kind == entry.kind and other.type == entry.type and other.repr == entry.repr


# ---------------------------------------------------------------------- the handler module's source


def literal_names(source: str | bytes) -> frozenset[str]:
    """Names the module binds at module level only from plain literals (`X = "abc"`, `N = -3`, `T = (1, "a")`,
    `D = {"k": [1, 2]}`, `F = f"no placeholders"`, `K = 60 * 5`): the same in every environment by design.

    A name also bound at module level from anything else (`X = None` and later `X = uuid4()`, or `N += 1`) is not
    a literal. Statements inside `if`, `try`, `with` and loops at module level count; function and class bodies
    do not (they are another scope). Unparseable source gives the empty set: nothing is excused.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: NUL bytes (before 3.12), bad UTF-8
        return frozenset()
    literal: set[str] = set()
    computed: set[str] = set()
    try:
        for node in _module_level(tree.body):
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            elif isinstance(node, ast.AugAssign):
                targets, value = [node.target], None
            else:
                continue
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            (literal if value is not None and _is_literal(value) else computed).update(names)
    except RecursionError:  # absurdly nested literals: give up rather than fail the snapshot
        return frozenset()
    return frozenset(literal - computed)


def _module_level(body: Iterable[ast.stmt]) -> Iterable[ast.stmt]:
    """Every statement that runs in the module's own scope, compound statements' blocks included."""
    for node in body:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for block in ("body", "orelse", "finalbody"):
            yield from _module_level(getattr(node, block, None) or ())
        for handler in getattr(node, "handlers", None) or ():  # try/except (and except*)
            yield from _module_level(handler.body)
        for case in getattr(node, "cases", None) or ():  # match
            yield from _module_level(case.body)


_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)


def _is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.JoinedStr):  # an f-string is a literal only without placeholders
        return all(isinstance(part, ast.Constant) for part in node.values)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_is_literal(item) for item in node.elts)  # a Starred item is not a literal
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_literal(k) for k in node.keys) and all(_is_literal(v) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, (ast.USub, ast.UAdd, ast.Not, ast.Invert)) and _is_literal(node.operand)
    if isinstance(node, ast.BinOp):  # constant arithmetic: `TIMEOUT = 60 * 5`, `PREFIX = "a" + "b"`
        return isinstance(node.op, _ARITHMETIC) and _is_literal(node.left) and _is_literal(node.right)
    return False


def handler_source_paths(code_dir: Path, handler: str) -> tuple[Path, ...]:
    """Where the handler module's source may be, in the order the import finds it: `handler.lambda_handler` ->
    code_dir/handler.py; `pkg/sub.mod.fn` and `pkg.sub.mod.fn` -> code_dir/pkg/sub/mod.py, then the package's
    `__init__.py` when the module is a package. No dot (a custom runtime's handler) gives nothing."""
    module, dot, _ = handler.rpartition(".")
    if not dot or not module:
        return ()
    parts = module.replace("/", ".").split(".")
    if not all(parts):
        return ()
    base = code_dir.joinpath(*parts)
    return (base.with_name(base.name + ".py"), base / "__init__.py")
