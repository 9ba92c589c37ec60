"""InitFailed reads the runtime's error document as the core's rules do (model/error_types.body_error_type)."""

from __future__ import annotations

from lambdatui.model import error_types as et
from lambdatui.model import facts as f

DEEP = b'{"errorType": "ValueError", "nested": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def test_the_runtimes_type_is_shown_over_the_platforms() -> None:
    failed = f.InitFailed("error", et.RUNTIME_UNKNOWN, "", b'{"errorType": "ValueError", "errorMessage": "x"}')
    assert failed.runtime_error_type == "ValueError" and failed.shown_type == "ValueError"


def test_a_document_nested_deeper_than_python_reads_shows_the_platforms_type() -> None:
    """The property parsed the body itself and let RecursionError through, so showing such an Init's failure
    raised; the core had read the same body as having no type all along."""
    failed = f.InitFailed("error", et.RUNTIME_UNKNOWN, "", DEEP)
    assert failed.runtime_error_type is None and failed.shown_type == et.RUNTIME_UNKNOWN
    assert et.body_error_type(DEEP) is None


def test_no_document_or_no_type_in_it_is_none() -> None:
    for payload in (b"", b"not json", b"[1]", b'{"errorType": 3}', b'{"errorType": ""}'):
        assert f.InitFailed("error", None, "", payload).runtime_error_type is None, payload
