"""A step's caller options (`client_context`, `qualifier`, `trace_header`, `streamed`; a parallel step's
`client_contexts`, `qualifiers`, `trace_headers`, `streams`): what an invoke's caller sent besides the event that
reaches the function, and how it took the response, so that a replay invokes as it did."""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional, Sequence

from lambdatui.lambda_limits import QUALIFIER
from lambdatui.scenario.model import NO_CALLER, Caller, streamed_text
from lambdatui.scenario.session_values import sendable_trace_header
from lambdatui.scenario.values import json_text, to_json, type_name

ONE = ("client_context", "qualifier", "streamed", "trace_header")
_STREAM_KEYS = ("hung_up_after", "stopped_reading_after")
EACH = ("client_contexts", "qualifiers", "streams", "trace_headers")
KEYS = ONE + EACH


def parse_caller(raw: Mapping[str, Any], kind: str, name: str) -> Caller:
    """An invoke step's `client_context = {...}` (or its JSON text), `qualifier = "prod"`, `streamed = true` and
    `trace_header = "Root=...;Sampled=1"`; any of these keys where it does not belong is refused."""
    given = [key for key in KEYS if key in raw]
    if not given:
        return NO_CALLER
    if kind not in ("invoke", "event_file", "parallel"):
        raise ValueError(f"{name}: {given[0]} goes with invoke, event_file or parallel, not with {kind}")
    wrong = [key for key in (ONE if kind == "parallel" else EACH) if key in raw]
    if wrong and kind == "parallel":
        raise ValueError(f"{name}: {wrong[0]} goes with invoke or event_file; a parallel step takes "
                         f"{EACH[ONE.index(wrong[0])]} = [...], one for each event")
    if wrong:
        one = ONE[EACH.index(wrong[0])]
        raise ValueError(f"{name}: {wrong[0]} goes with parallel = [...]; an invoke takes {one}")
    if kind == "parallel":
        return NO_CALLER  # each event's: parse_callers
    streamed, hung_up_after, stopped_after = _streamed(raw.get("streamed", False), f"{name}: streamed")
    return Caller(_client_context(raw["client_context"], f"{name}: client_context") if "client_context" in raw
                  else None, _qualifier(raw.get("qualifier", ""), f"{name}: qualifier"), streamed,
                  hung_up_after=hung_up_after, stopped_reading_after=stopped_after,
                  trace_header=_trace_header(raw.get("trace_header", ""), f"{name}: trace_header"))


def parse_callers(raw: Mapping[str, Any], count: int, name: str) -> tuple[Caller, ...]:
    """A parallel step's `client_contexts = [...]`, `qualifiers = [...]`, `streams = [...]` and `trace_headers = [...]`,
    one for each of its `count` events ("" for none, false for a buffered invoke); () when none is given."""
    columns = []
    defaults = {"client_contexts": None, "qualifiers": "", "streams": (False, None, None), "trace_headers": ""}
    for key in EACH:
        values = raw.get(key)
        if values is None:
            columns.append([defaults[key]] * count)
            continue
        if not isinstance(values, list) or len(values) != count:
            none = "false for a buffered invoke" if key == "streams" else "\"\" for none"
            raise ValueError(f"{name}: {key} = {values!r}: give one for each of the {count} events ({none})")
        if key == "client_contexts":
            columns.append([None if value == "" else _client_context(value, f"{name}: {key}[{i}]")
                            for i, value in enumerate(values)])
        elif key == "qualifiers":
            columns.append([_qualifier(value, f"{name}: {key}[{i}]") for i, value in enumerate(values)])
        elif key == "trace_headers":
            columns.append([_trace_header(value, f"{name}: {key}[{i}]") for i, value in enumerate(values)])
        else:
            columns.append([_streamed(value, f"{name}: {key}[{i}]") for i, value in enumerate(values)])
    if all(key not in raw for key in EACH):
        return ()
    return tuple(Caller(context, qualifier, streamed, hung_up_after=hung_up_after, stopped_reading_after=stopped_after,
                        trace_header=trace)
                 for context, qualifier, (streamed, hung_up_after, stopped_after), trace in zip(*columns))


def refuse_streamed_events(callers: Sequence[Caller], asynchronous: Sequence[bool], name: str, each: bool = False
                           ) -> None:
    """A caller that takes the response as a stream cannot be an Event invoke's, which takes none."""
    for i, (caller, event) in enumerate(zip(callers, asynchronous)):
        if caller.streamed and event:
            what = f"streams[{i}]" if each else "streamed"
            given = streamed_text(True, caller.hung_up_after, caller.stopped_reading_after)
            raise ValueError(f"{name}: {what} = {given} takes the response as a stream; an Event invoke's caller "
                             "takes no response")


def _client_context(value: Any, what: str) -> str:
    """The client context as the function's runtime gets it: the JSON text of an object."""
    if isinstance(value, dict):
        return json.dumps(to_json(value, what))
    if not isinstance(value, str):
        raise ValueError(f"{what} takes a table or the JSON text of an object, got {type_name(value)}")
    if not isinstance(json_text(value, what), dict):
        raise ValueError(f"{what} must be a JSON object (X-Amz-Client-Context is one), got {value!r}")
    return value


def _streamed(value: Any, what: str) -> tuple[bool, Optional[int], Optional[int]]:
    """true, false, `{ hung_up_after = N }` (streamed to a caller that hung up once it had taken N bytes) or
    `{ stopped_reading_after = N }` (one that took N bytes and read no more while the invoke ran)."""
    if isinstance(value, dict):
        (key, taken), = value.items() if len(value) == 1 else ((None, None),)
        if key not in _STREAM_KEYS or not isinstance(taken, int) or isinstance(taken, bool) or taken < 0:
            raise ValueError(f"{what} = {value!r}: give {{ hung_up_after = N }}, the bytes its caller took before it "
                             "hung up mid-stream, or { stopped_reading_after = N }, the bytes it took before it read no "
                             "more (N >= 0)")
        return True, (taken if key == "hung_up_after" else None), (taken if key != "hung_up_after" else None)
    if not isinstance(value, bool):
        raise ValueError(f"{what} = {value!r}: give true (the caller took the response as a stream: "
                         "InvokeWithResponseStream, a function URL), { hung_up_after = N } (it hung up mid-stream "
                         "once it had taken N bytes), { stopped_reading_after = N } (it took N bytes and read no "
                         "more) or false")
    return value, None, None


def _trace_header(value: Any, what: str) -> str:
    """The caller's X-Amzn-Trace-Id, as the function gets it (`_X_AMZN_TRACE_ID`): sent again as a header."""
    if not isinstance(value, str) or not sendable_trace_header(value):
        raise ValueError(f"{what} = {value!r}: give the X-Amzn-Trace-Id its caller sent (\"Root=...;Sampled=1\": "
                         "latin-1 text, no control character), or \"\" for none")
    return value


def _qualifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or (value and not QUALIFIER.fullmatch(value)):
        raise ValueError(f"{what} = {value!r}: give a version or alias (letters, digits, $, _ and -), or \"\" for none")
    return value
