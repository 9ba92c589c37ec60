"""lambdatui's dataclasses made from what `@dataclass` did to them at an earlier start (issue 9).

The method cache (dataclass_cache.py) spares `@dataclass` its compiling, but not the rest of its work: it still
reads every field, writes each method's text and executes it to make the function, ~150 µs a class, and `invoke`
defines ~180 of lambdatui's classes before it can serve its runtime (~25 ms here, a tenth of the command). What it
does to a class depends only on the class's shape: its fields (names, annotations as text, which have a default or a
factory, their flags), the decorator's arguments, its bases' fields and which methods the class defines itself. So
the first start records, for each shape, what `dataclasses._process_class` changed in the class: each attribute it
set or deleted, and each function as its code and where each of its closure cells, defaults and annotations came
from (this class, a field's annotation, default or factory, a name of `dataclasses`'). A later start with the same
shape makes the same changes: the same code objects, made into functions with values from the class being defined.

Only what can be recorded exactly is: a recording is checked against the functions `dataclasses` made (the same code,
defaults, cells and annotations) and kept only if every change it saw is one it can make again. Anything else
(another module's class, a class without a docstring, whose `__doc__` dataclasses writes from its signature, slots,
keyword-only fields, annotations that are not text, ClassVar or InitVar fields, Python 3.13's dataclasses, which make
their methods another way) is left to `dataclasses` itself, as is every class before its shape was recorded.
"""

from __future__ import annotations

import abc
import builtins
import dataclasses
import re
import sys
import threading
from types import CellType, CodeType, FunctionType, MemberDescriptorType
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from lambdatui.dataclass_cache import MethodCache

_VERSION = 1
_KEY = f"class\0{_VERSION}\0{sys.version} {sys.byteorder}\0" + "{shape}"  # the build's own dataclasses wrote it
_OWN = "lambdatui."  # whose classes: a shape's recording is only as good as its key, checked here for ours
# What `_process_class` leaves alone where the class defines it itself: part of the shape.
_OWN_METHODS = ("__init__", "__repr__", "__eq__", "__lt__", "__le__", "__gt__", "__ge__", "__setattr__",
                "__delattr__", "__match_args__", "__slots__")
# A field's annotation or default among a method's values: `_type_x`, `_dflt_x` (3.10, 3.11), `__dataclass_type_x__`...
_FIELD_LOCAL = re.compile(r"^(?:_(type|dflt)_(\w+)|__dataclass_(type|dflt)_(\w+)__)$")
_ARG = re.compile(r"^([A-Za-z_]\w*)(?::([A-Za-z_]\w*))?(?:=([A-Za-z_]\w*))?$")  # `name:_type_name=_dflt_name`

_real_process_class: Optional[Callable[..., Any]] = getattr(dataclasses, "_process_class", None)
_real_create_fn: Optional[Callable[..., Any]] = getattr(dataclasses, "_create_fn", None)
_FIRST_NAME = getattr(dataclasses, "_MODULE_IDENTIFIER_RE", None)
_recursive_repr = getattr(dataclasses, "_recursive_repr", None)
_FIELD = getattr(dataclasses, "_FIELD", None)
SUPPORTED = (3, 10) <= sys.version_info[:2] <= (3, 12) and None not in (
    _real_process_class, _real_create_fn, _FIRST_NAME, _recursive_repr, _FIELD)
_REPR_WRAPPER = _recursive_repr(lambda self: "").__code__ if SUPPORTED else None  # type: ignore[misc]
_MISSING = dataclasses.MISSING

_recording = threading.local()  # the `_create_fn` calls of the class being recorded on this thread
_cache: Optional[MethodCache] = None


def install(cache: MethodCache) -> None:
    """Make lambdatui's dataclasses from their recordings from now on (and record those not yet seen)."""
    global _cache
    if SUPPORTED and _cache is None:
        _cache = cache
        dataclasses._process_class = process_class  # type: ignore[attr-defined]  # dataclass() looks it up per class
        dataclasses._create_fn = _recording_create_fn  # type: ignore[attr-defined]


def _recording_create_fn(name: str, args: Any, body: Any, *, globals: Any = None, locals: Any = None,
                         return_type: Any = _MISSING) -> Any:
    given = dict(locals) if locals else {}
    fn = _real_create_fn(name, args, body, globals=globals, locals=locals, return_type=return_type)  # type: ignore[misc]
    calls = getattr(_recording, "calls", None)
    if calls is not None:
        calls.append((fn, tuple(args), given, return_type, globals))
    return fn


def process_class(cls: type, *args: Any) -> Any:
    """`dataclasses._process_class(cls, init, repr, eq, order, unsafe_hash, frozen, match_args, kw_only, slots, ...)`."""
    module = sys.modules.get(cls.__module__)
    fields = _fields(cls, args) if module is not None and _cache is not None else None
    if fields is None:
        return _real_process_class(cls, *args)  # type: ignore[misc]
    key = _KEY.format(shape=_shape(cls, args, fields))
    recipe = _cache.recipe(key)  # type: ignore[union-attr]
    if recipe is not None:
        try:
            changes = _changes(cls, fields, recipe, vars(module))
        except Exception:  # a recording this code cannot read (another version's): dataclasses does it
            changes = None
        if changes is not None:
            for attr, value in changes:
                if value is _DELETE:
                    delattr(cls, attr)
                else:
                    setattr(cls, attr, value)
            abc.update_abstractmethods(cls)
            return cls
    before = dict(cls.__dict__)
    outer = getattr(_recording, "calls", None)  # a class made while another is (in a default's module, say)
    calls: list = []
    _recording.calls = calls
    try:
        made = _real_process_class(cls, *args)  # type: ignore[misc]
    finally:
        _recording.calls = outer
    if made is cls and _same_fields(fields, cls.__dict__.get("__dataclass_fields__")):
        recipe = _record(cls, before, calls, vars(module))
        if recipe is not None:
            _cache.keep(key, recipe)  # type: ignore[union-attr]
    return made


def _fields(cls: type, args: tuple) -> Optional[dict[str, Any]]:
    """The fields `_process_class` would find: the bases' as they are, the class's own made as
    `dataclasses._get_field` makes a plain field (the same Field object where the class gives one); or None where
    this class is not one to make from a recording."""
    kw_only, slots = args[7], args[8]
    if not cls.__module__.startswith(_OWN) or kw_only or slots or any(args[9:]) or not cls.__doc__:
        return None
    fields: dict[str, Any] = {}
    for base in cls.__mro__[-1:0:-1]:
        base_fields = getattr(base, "__dataclass_fields__", None)
        if base_fields is not None:
            fields.update((f.name, f) for f in base_fields.values())
    if any(type(f.type) is not str for f in fields.values()):
        return None  # a base's field annotated with an object: its shape is not text
    own = cls.__dict__.get("__annotations__", {})
    names = vars(sys.modules[cls.__module__])
    given: list[tuple[str, str, Any]] = []  # all checked before any Field is touched: dataclasses may do it all
    for name, annotation in own.items():
        if type(annotation) is not str or _marks(annotation, names):
            return None
        default = getattr(cls, name, _MISSING)
        value = default.default if isinstance(default, dataclasses.Field) else default
        if value is not _MISSING and (value.__class__.__hash__ is None or isinstance(value, MemberDescriptorType)):
            return None  # dataclasses' error (a mutable default), or a slot
        given.append((name, annotation, default))
    for name, value in cls.__dict__.items():
        if isinstance(value, dataclasses.Field) and name not in own:
            return None  # dataclasses' own error
    for name, annotation, default in given:
        field = default if isinstance(default, dataclasses.Field) else dataclasses.field(default=default)
        field.name, field.type, field._field_type = name, annotation, _FIELD  # type: ignore[attr-defined]
        if field.kw_only is _MISSING:
            field.kw_only = False
        fields[name] = field
    return fields


def _marks(annotation: str, names: dict[str, Any]) -> bool:
    """Whether `dataclasses` could read this annotation as ClassVar, InitVar or KW_ONLY (`_is_type`: their names,
    or the first name in it looked up in the class's module); True for more than it would, never for less."""
    if "ClassVar" in annotation or "InitVar" in annotation or "KW_ONLY" in annotation:
        return True  # named through its module (`typing.ClassVar`), which dataclasses looks up there
    found = _FIRST_NAME.match(annotation)
    if found is None:
        return False
    value = names.get(found.group(2))
    typing = sys.modules.get("typing")
    class_var = getattr(typing, "ClassVar", _MISSING)
    return (value is class_var or getattr(value, "__origin__", None) is class_var or value is dataclasses.InitVar
            or type(value) is dataclasses.InitVar or value is dataclasses.KW_ONLY)


def _shape(cls: type, args: tuple, fields: dict[str, Any]) -> str:
    """What `_process_class` reads of the class, as text: equal shapes are processed alike."""
    own = cls.__dict__.get("__annotations__", {})
    parts = [cls.__module__, cls.__qualname__, repr(args)]
    for f in fields.values():
        # Whether the class's own attribute is the Field: dataclasses then replaces it with its default, or deletes it.
        given_as_field = isinstance(getattr(cls, f.name, None), dataclasses.Field)
        parts.append(f"{f.name}:{f.type}:{f.default is _MISSING:d}{f.default_factory is _MISSING:d}{f.init!r}"
                     f"{f.repr!r}{f.hash!r}{f.compare!r}{f.kw_only!r}{len(f.metadata)}{f.name in own:d}"
                     f"{given_as_field:d}")
    own_hash = cls.__dict__.get("__hash__", _MISSING)
    frozen_bases = [getattr(base, "__dataclass_params__").frozen for base in cls.__mro__[1:]
                    if hasattr(base, "__dataclass_fields__")]
    parts.append(f"{'-' if own_hash is _MISSING else 'None' if own_hash is None else 'own'} {frozen_bases}"
                 f" {''.join('1' if name in cls.__dict__ else '0' for name in _OWN_METHODS)}"
                 f" {hasattr(cls, '__post_init__'):d}")
    return "\n".join(parts)


# ------------------------------------------------------------------ recording


def _same_fields(ours: dict[str, Any], theirs: Any) -> bool:
    """Whether the fields found for the class (`_fields`) are dataclasses' own, in order and in every attribute:
    a replay gives ours as the class's fields."""
    if type(theirs) is not dict or list(ours) != list(theirs):
        return False
    return all(a.name == b.name and a.type == b.type and a.default is b.default and a.default_factory is
               b.default_factory and (a.init, a.repr, a.hash, a.compare, a.kw_only) == (b.init, b.repr, b.hash,
               b.compare, b.kw_only) and a._field_type is b._field_type and dict(a.metadata) == dict(b.metadata)
               for a, b in zip(ours.values(), theirs.values()))


class _Unrecordable(Exception):
    pass


_DELETE = object()


def _record(cls: type, before: dict[str, Any], calls: list, module_globals: dict) -> Optional[tuple]:
    """What `_process_class` changed in `cls`, as a recording `_changes` can carry out again; None if it did
    anything else."""
    fields = cls.__dict__.get("__dataclass_fields__")
    try:
        functions: list[tuple] = []
        made: dict[int, int] = {}  # id(function) → its index in `functions`

        def function(fn: Any) -> int:
            if id(fn) not in made:
                made[id(fn)] = len(functions)
                functions.append(_function(cls, fn, calls, fields, module_globals))
            return made[id(fn)]

        changes: list[tuple] = []
        for attr, value in cls.__dict__.items():
            if attr in before and before[attr] is value:
                continue
            changes.append((attr, _value(attr, value, fields, function)))
        changes.extend((attr, ("del",)) for attr in before if attr not in cls.__dict__)
    except Exception:  # _Unrecordable, or a value this code does not know where to find: dataclasses' every time
        return None
    return (tuple(functions), tuple(changes))


def _value(attr: str, value: Any, fields: Any, function: Callable[[Any], int]) -> tuple:
    if attr == "__dataclass_fields__" and value is fields:
        return ("fields",)
    if attr == "__dataclass_params__":
        params = tuple(getattr(value, slot) for slot in type(value).__slots__)
        if all(type(param) is bool for param in params):
            return ("params", params)
    elif type(value) is FunctionType:
        if value.__code__ is _REPR_WRAPPER:
            return ("repr", function(value.__wrapped__), value.__qualname__)
        return ("function", function(value))
    elif fields is not None and attr in fields and value is fields[attr].default:
        return ("default",)
    elif value is None or (type(value) is tuple and all(type(item) is str for item in value)):
        return ("constant", value)
    raise _Unrecordable


def _function(cls: type, fn: Any, calls: list, fields: Any, module_globals: dict) -> tuple:
    """A function `_create_fn` made: its code, and where each value it holds came from, checked by making it again."""
    call = next((call for call in calls if call[0] is fn), None)
    if call is None or call[4] is not module_globals or fn.__kwdefaults__ is not None:
        raise _Unrecordable
    _, args, given, return_type, _ = call
    given = dict(given)
    annotations: list[tuple[str, str]] = []
    defaults: list[str] = []
    for arg in args:
        parsed = _ARG.match(arg)
        if parsed is None:
            raise _Unrecordable
        if parsed.group(2):
            annotations.append((parsed.group(1), parsed.group(2)))
        if parsed.group(3):
            defaults.append(parsed.group(3))
    if return_type is not _MISSING:
        given["_return_type"] = return_type
        annotations.append(("return", "_return_type"))
    code = fn.__code__
    used = {*code.co_freevars, *defaults, *(local for _, local in annotations)}
    sources = tuple((local, _source(cls, local, given[local], fields)) for local in sorted(used) if local in given)
    recipe = (code, fn.__name__, code.co_freevars, tuple(defaults), tuple(annotations), sources, fn.__qualname__)
    again = _make(recipe, cls, fields, module_globals)
    if not _same(again, fn):
        raise _Unrecordable
    return recipe


def _source(cls: type, local: str, value: Any, fields: Any) -> tuple:
    """Where a value the function holds comes from, found by identity; a name's own field first."""
    named = _FIELD_LOCAL.match(local)
    kind, name = (named.group(1) or named.group(3), named.group(2) or named.group(4)) if named else ("", "")
    field = fields.get(name) if fields is not None and name else None
    if field is not None:
        if kind == "type" and value is field.type:
            return ("type", name)
        if kind == "dflt" and value is field.default:
            return ("default", name)
        if kind == "dflt" and value is field.default_factory:
            return ("factory", name)
    if value is cls:
        return ("class",)
    if value is None or value is True or value is False:
        return ("constant", value)
    for module, where in ((dataclasses, "dataclasses"), (builtins, "builtins")):
        for attr, candidate in vars(module).items():
            if candidate is value:
                return (where, attr)
    raise _Unrecordable


# ------------------------------------------------------------------ replaying


def _changes(cls: type, fields: dict[str, Any], recipe: tuple, module_globals: dict) -> Optional[list]:
    """The attributes to set (or delete) for the recorded changes, all made before any is applied."""
    recorded, changes = recipe
    functions = [_make(function, cls, fields, module_globals) for function in recorded]
    result: list[tuple[str, Any]] = []
    for attr, change in changes:
        kind = change[0]
        if kind == "function":
            value = functions[change[1]]
        elif kind == "repr":
            value = _recursive_repr(functions[change[1]])  # type: ignore[misc]
            value.__qualname__ = change[2]
        elif kind == "fields":
            value = fields
        elif kind == "params":
            value = dataclasses._DataclassParams(*change[1])  # type: ignore[attr-defined]
        elif kind == "default":
            value = fields[attr].default
        elif kind == "constant":
            value = change[1]
        elif kind == "del":
            if attr not in cls.__dict__:
                return None  # recorded for a class that had it: not this one (dataclasses does it)
            value = _DELETE
        else:
            return None
        result.append((attr, value))
    return result


def _make(recipe: tuple, cls: type, fields: Any, module_globals: dict) -> FunctionType:
    code, name, freevars, defaults, annotations, sources, qualname = recipe
    if type(code) is not CodeType:
        raise TypeError("not a code object")
    values = {local: _resolve(source, cls, fields) for local, source in sources}
    fn = FunctionType(code, module_globals, name, tuple(values[local] for local in defaults) or None,
                      tuple(CellType(values[local]) for local in freevars) or None)
    if annotations:
        fn.__annotations__ = {param: values[local] for param, local in annotations}
    fn.__qualname__ = qualname
    return fn


def _resolve(source: tuple, cls: type, fields: Any) -> Any:
    kind = source[0]
    if kind == "type":
        return fields[source[1]].type
    if kind == "default":
        return fields[source[1]].default
    if kind == "factory":
        return fields[source[1]].default_factory
    if kind == "class":
        return cls
    if kind == "constant":
        return source[1]
    if kind == "dataclasses":
        return getattr(dataclasses, source[1])
    if kind == "builtins":
        return getattr(builtins, source[1])
    raise ValueError(f"unknown source {kind!r}")


def _same(made: Any, real: Any) -> bool:
    """Whether two functions are the same in all `_create_fn` gives one: code, globals, name, qualname, defaults,
    cells and annotations (values compared by identity)."""
    def same_items(a: Any, b: Any) -> bool:
        return a is b or (a is not None and b is not None and len(a) == len(b)
                          and all(x is y for x, y in zip(a, b)))

    return (made.__code__ is real.__code__ and made.__globals__ is real.__globals__
            and made.__name__ == real.__name__ and made.__qualname__ == real.__qualname__
            and made.__module__ == real.__module__ and made.__kwdefaults__ is None
            and same_items(made.__defaults__, real.__defaults__)
            and same_items([c.cell_contents for c in made.__closure__ or ()],
                           [c.cell_contents for c in real.__closure__ or ()])
            and list(made.__annotations__) == list(real.__annotations__)
            and all(made.__annotations__[k] is real.__annotations__[k] for k in real.__annotations__))
