"""What the detail view says for each value: pure functions over real-shaped facts, no app."""

from __future__ import annotations

import json

from replay_backend import load_session

from lambdatui.bootstrap.inspect_state import REPR_LIMIT, bounded_repr
from lambdatui.model.facts import GlobalEntry, InvocationResult
from lambdatui.ui.detail_texts import MAX_CHARS, event_detail, global_detail, pretty_repr, repr_cut_note, result_detail

ERROR = {"errorMessage": "no such order: 42", "errorType": "KeyError", "requestId": "r1",
         "stackTrace": ['  File "/var/task/handler.py", line 9, in handler\n    return ORDERS[event["id"]]\n']}


def test_a_repr_the_bootstrap_cut_says_so_and_a_whole_one_does_not() -> None:
    # The bootstrap's own bounded repr, not a copy of its rules: six 120-character strings overflow the whole.
    cut = bounded_repr({f"key{n}": "v" * 500 for n in range(6)})
    assert len(cut) == REPR_LIMIT and cut.endswith("...")
    assert f"cut at {REPR_LIMIT} characters by the runtime" in (repr_cut_note(cut) or "")
    listed = bounded_repr(list(range(100)))  # reprlib's own "..." after 8 items, the whole under the limit
    assert len(listed) < REPR_LIMIT and "left out" in (repr_cut_note(listed) or "")
    assert repr_cut_note(bounded_repr([1, 2, 3])) is None


def test_a_global_that_was_not_shown_says_why() -> None:
    entry = GlobalEntry("client", "Client", "<repr took over 50 ms>", 1, "state", "same")
    detail = global_detail(entry)
    assert "did not show this value" in detail.notes[0]
    assert detail.sections[0].text == "<repr took over 50 ms>"


def test_a_long_literal_is_laid_out_one_item_a_line() -> None:
    value = {"orders": [{"id": n, "total": n * 1.5} for n in range(8)], "region": "eu-west-1"}
    text = pretty_repr(repr(value))
    assert text.count("\n") >= 8 and eval(text) == value  # noqa: S307 - our own literal


def test_a_function_error_is_type_message_and_a_python_traceback() -> None:
    snapshot = load_session("warm").snapshot
    error = InvocationResult("r1", json.dumps(ERROR).encode(), function_error=True, error_type="KeyError")
    detail = result_detail(snapshot.__class__(**{**snapshot.__dict__, "last_result": error}))
    assert detail is not None
    sections = {s.heading: s for s in detail.sections}
    assert sections["errorType"].text == "KeyError" and sections["errorMessage"].text == "no such order: 42"
    trace = sections["stackTrace"]
    assert trace.lexer == "pytb" and trace.text.startswith("Traceback (most recent call last):\n")
    assert trace.text.endswith("KeyError: no such order: 42") and 'line 9, in handler' in trace.text
    assert json.loads(sections["other fields"].text) == {"requestId": "r1"}


def test_a_huge_event_is_bounded_and_says_so() -> None:
    event = json.dumps({"blob": "x" * (MAX_CHARS + 10)})
    detail = event_detail(event, "edited")
    assert len(detail.sections[0].text) == MAX_CHARS
    assert any(f"showing the first {MAX_CHARS:,}" in note for note in detail.notes)
