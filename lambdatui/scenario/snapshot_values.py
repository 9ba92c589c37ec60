"""SnapStart: what the snapshot's Init made, which a replay's snapshot makes anew, so a recording cannot expect it.

With SnapStart, Init runs once, into the snapshot, and every environment restored from it starts from a copy: an id, a
seed or a token Init made to be unique is the same in all of them (the uniqueness trap; model/shared_init_values.py).
A replay publishes a new snapshot, whose Init makes other values, so a recorded response that quotes them can never
match. What else in that response came from them (a draw of a generator they seeded) cannot be told apart from a
constant, so such a response is compared by its success only, and a comment names the parts that quote them.

Where the session had the snapshot report its globals after Init (the debugger: its views ask for them), those are
the values Init made: a response that quotes none of them is compared as usual. Where it made no report (`invoke` and
`serve` pay for no globals view; awslambdaric and custom runtimes never report), no part of a response can be cleared:
each is compared by its success only, and the comment says why.

What the recording still compares of them: invokes that each restored an environment of their own at once (a burst,
one `parallel` step) got the same values from the one snapshot, so the keys whose values were the same in all of them
are written as `expect.same`: a replay's restored environments must share their own snapshot's values likewise (the
SnapStart lesson of sample_functions/snapstart). Honest both ways: a constant the function answers alike everywhere is
in `expect.same` too (it holds in a replay); and where the globals were reported, a value drawn from Init's state that
no global shows as a value (`rng = random.Random()`, whose repr is no number), in a response that quotes no global's
value, is compared, and fails the replay naming its key, as any value made at random does. A global whose repr the
bootstrap cut at 200 characters is not read.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, AbstractSet, Any, Callable, Iterable, Optional, Sequence

from lambdatui.config import FunctionConfig
from lambdatui.json_text import nesting_depth
from lambdatui.model.facts import GlobalsReported
from lambdatui.model.shared_init_values import STATE, handler_source_paths, is_a_value, literal_names
from lambdatui.scenario.match import json_equal
from lambdatui.scenario.stable_parts import stable_parts
from lambdatui.scenario.toml_writer import json_text, toml_string
from lambdatui.scenario.values import MAX_VALUE_DEPTH

if TYPE_CHECKING:
    from lambdatui.scenario.record_expectations import RecordedInvoke

# Text shorter than this is only the value when it is the whole string: "a" or "prod" inside a longer text says
# nothing, where a 32-digit id, or a seed written out, does.
MIN_QUOTED = 8
# A key `expect.same` can name as written (response_paths splits a path at its dots).
_SAME_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

INIT_MADE_WHY = ("(SnapStart): a replay publishes a new snapshot,\n# whose Init makes others, and what else in the "
                 "response came from them (a draw of a generator they seeded)\n# cannot be told apart: its success "
                 "is compared")
NO_REPORT_WHY = ("# response not compared (SnapStart): a replay publishes a new snapshot, whose Init makes new values "
                 "(an id, a seed),\n# and this session had no report of the snapshot's globals after Init to tell "
                 "which parts of the response\n# quote them (`invoke` and `serve` make none; the debugger does): "
                 "its success is compared")


@dataclass
class SnapshotValues:
    """What a SnapStart session heard of the values its snapshot's Init made (shared by the invokes recorded)."""

    config: FunctionConfig
    reported: bool = False  # a snapshot reported its globals after Init
    strings: set[str] = field(default_factory=set)
    numbers: set[float] = field(default_factory=set)
    _literal: Optional[frozenset[str]] = None

    def heard(self, report: GlobalsReported) -> None:
        """A globals report: one made after Init is the snapshot's (a restored environment reports "restore")."""
        if report.phase != "init":
            return
        self.reported = True
        if self._literal is None:
            self._literal = _handler_literal_names(self.config)
        for entry in report.entries:
            if entry.kind != STATE or entry.name in self._literal or not is_a_value(entry):
                continue
            for leaf in _leaves(_value_of(entry.repr)):
                if isinstance(leaf, str) and leaf.strip():
                    self.strings.add(leaf)
                elif isinstance(leaf, (int, float)) and not isinstance(leaf, bool):
                    self.numbers.add(leaf)

    def quoted(self, response: Any) -> list[str]:
        """The paths of `response` that quote a value the snapshot's Init made."""
        if not self.strings and not self.numbers:
            return []
        texts = [text for text in self.strings if len(text) >= MIN_QUOTED]
        texts += [str(int(n)) for n in self.numbers if n == int(n) and len(str(abs(int(n)))) >= MIN_QUOTED]

        def made_at_init(part: Any) -> bool:
            if isinstance(part, bool):
                return False
            if isinstance(part, (int, float)):
                return part in self.numbers
            return isinstance(part, str) and (part in self.strings or any(text in part for text in texts))

        return stable_parts(response, made_at_init)[1]


def hidden_by_snapshot(response: Any, snapshot: Optional[SnapshotValues]) -> Optional[str]:
    """The comment that says why a SnapStart invoke's JSON `response` is not compared, or None when it can be (not
    SnapStart, or a report of the snapshot's globals shows it quotes none of them)."""
    if snapshot is None:
        return None
    if not snapshot.reported:
        return NO_REPORT_WHY
    paths = snapshot.quoted(response)
    if not paths:
        return None
    shown = ", ".join(paths[:6]) + (f" (and {len(paths) - 6} more)" if len(paths) > 6 else "")
    carry = "carries a value" if len(paths) == 1 else "carry values"
    return f"# response not compared: {shown} {carry} the snapshot's Init made {INIT_MADE_WHY}"


# SnapStart: a burst whose invokes each restored an environment of their own from the one snapshot.
SNAPSHOT_SAME = ("# each restored its environment from the one snapshot (SnapStart), whose Init made its values once: "
                 "these keys\n# were the same in all of them, and a replay expects its own snapshot's the same in "
                 "all of its restored environments")


def snapshot_same(invokes: Sequence[RecordedInvoke],
                  left_out: Callable[[Any, RecordedInvoke], Iterable[Iterable[str]]]) -> list[str]:
    """`expect.same = [...]` for a SnapStart burst whose responses are not compared for what the snapshot's Init made:
    what a replay can still compare of them, with one another. Every invoke must have restored an environment (cold)
    and answered JSON its caller waited for; else nothing. `left_out`: the paths of a response that the other rules
    leave out (record_expectations.py), whose keys are not named either."""
    responses: list[Any] = []
    volatile: list[set[str]] = []
    hidden = False
    for step in invokes:
        result = step.result
        if (step.snapshot is None or step.cold is not True or step.throttled or step.asynchronous or step.cut_off
                or result is None or result.function_error or result.streamed >= 0):
            return []
        text = json_text(result.payload)
        if text is None or nesting_depth(text) > MAX_VALUE_DEPTH:
            return []
        try:
            value = json.loads(text)
            hidden = hidden or hidden_by_snapshot(value, step.snapshot) is not None
            volatile.append(_top_keys(path for paths in left_out(value, step) for path in paths))
        except RecursionError:  # nested nearly as deep as Python's parser allows
            return []
        responses.append(value)
    keys = _same_keys(responses, volatile) if hidden else []
    return [SNAPSHOT_SAME, f"expect.same = [{', '.join(toml_string(key) for key in keys)}]"] if keys else []


def _same_keys(responses: Sequence[Any], volatile: Iterable[AbstractSet[str]]) -> list[str]:
    """The top-level keys whose values were the same in all `responses` (JSON objects, each from an environment
    restored at once from one snapshot), but for those another rule already leaves out in one of them (`volatile`:
    each response's left-out top-level keys: the request id, the clock's readings...)."""
    if len(responses) < 2 or not all(isinstance(r, dict) for r in responses):
        return []
    skipped = set().union(*volatile)
    first, *others = responses
    return sorted(key for key, value in first.items()
                  if _SAME_KEY.match(key) and key not in skipped
                  and all(key in other and json_equal(value, other[key]) for other in others))


def _top_keys(paths: Iterable[str]) -> set[str]:
    """The top-level keys of an object's left-out paths (stable_parts writes a top-level key as it is, then `.key`
    or `[i]` for what is inside it): a key with a dot in it reads as its first part, which only rules out more."""
    return {re.split(r"[.\[]", path, maxsplit=1)[0] for path in paths}


def _value_of(text: str) -> Any:
    """The value a global's repr shows, when it is a literal Python reads back (not `<random.Random object ...>`, nor
    a repr the bootstrap cut at 200 characters)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _leaves(value: Any, depth: int = 0) -> Iterable[Any]:
    if depth > 20:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _leaves(inner, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for inner in value:
            yield from _leaves(inner, depth + 1)
    else:
        yield value


def _handler_literal_names(config: FunctionConfig) -> frozenset[str]:
    """Names the handler module binds from literals or the configuration: the same in every snapshot by design."""
    for path in handler_source_paths(Path(config.code_dir), config.handler):
        try:
            return literal_names(path.read_bytes())
        except OSError:
            continue
    return frozenset()
