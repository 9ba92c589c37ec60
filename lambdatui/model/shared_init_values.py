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


def is_a_value(entry: GlobalEntry) -> bool:
    """Whether the entry's repr shows its value (not the bootstrap's note that it could not take one)."""
    return not entry.repr.startswith(_NOT_A_VALUE)


def _may_be_unique(entry: GlobalEntry) -> bool:
    if entry.kind != STATE or entry.type in _EMPTY_TYPES or entry.repr in _EMPTY_REPRS:
        return False
    return is_a_value(entry)


def _same(entry: GlobalEntry, other: GlobalEntry | None) -> bool:
    return other is not None and other.kind == entry.kind and other.type == entry.type and other.repr == entry.repr


# ---------------------------------------------------------------------- the handler module's source


def literal_names(source: str | bytes) -> frozenset[str]:
    """Names the module binds at module level only from plain literals (`X = "abc"`, `N = -3`, `T = (1, "a")`,
    `D = {"k": [1, 2]}`, `F = f"no placeholders"`, `K = 60 * 5`) or from the function's configuration and paths
    made of it (`TABLE = os.environ["TABLE"]`, `DB = os.path.join(ROOT, "db")` with ROOT such a name): the same
    in every environment by design.

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
            fixed = value is not None and _is_literal(value, frozenset(literal - computed) | _MODULE_NAMES)
            (literal if fixed else computed).update(names)
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


# Calls whose result is the same in every environment of a function: its configuration (environment
# variables) and paths made from it. `TABLE = os.environ["TABLE"]` is the same everywhere by design.
_FIXED_CALLS = frozenset({
    "os.environ.get", "os.getenv", "environ.get", "getenv", "os.path.join", "os.path.dirname", "os.path.basename",
    "os.path.abspath", "os.path.realpath", "os.path.expanduser", "str", "int", "float", "bool", "Path",
    "pathlib.Path", "PurePath",
})


_MODULE_NAMES = frozenset({"__file__", "__name__"})  # what the import gives every copy of the module alike


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _is_literal(node: ast.expr, fixed: AbstractSet[str] = frozenset()) -> bool:
    """Whether `node` has the same value in every environment by design: literals, and (given the names already
    bound that way, `fixed`) the function's configuration read from the environment and paths made of it."""
    def same(item: ast.expr) -> bool:
        return _is_literal(item, fixed)

    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in fixed
    if isinstance(node, ast.JoinedStr):  # an f-string whose placeholders are fixed too
        return all(isinstance(part, ast.Constant) or (isinstance(part, ast.FormattedValue) and same(part.value))
                   for part in node.values)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(same(item) for item in node.elts)  # a Starred item is not
    if isinstance(node, ast.Dict):
        return all(k is not None and same(k) for k in node.keys) and all(same(v) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, (ast.USub, ast.UAdd, ast.Not, ast.Invert)) and same(node.operand)
    if isinstance(node, ast.BinOp):  # constant arithmetic: `TIMEOUT = 60 * 5`, `PREFIX = "a" + "b"`
        return isinstance(node.op, (*_ARITHMETIC, ast.Div)) and same(node.left) and same(node.right)
    if isinstance(node, ast.Subscript):  # os.environ["TABLE"]
        return _dotted(node.value) in ("os.environ", "environ") and same(node.slice)
    if isinstance(node, ast.Call):
        return (_dotted(node.func) in _FIXED_CALLS and all(same(arg) for arg in node.args)
                and all(same(keyword.value) for keyword in node.keywords))
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
