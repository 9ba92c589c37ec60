"""How one exchange is worded in the API traffic view (pure)."""

from __future__ import annotations

import traffic_session as ts

from lambdatui.api.headers import header_text
from lambdatui.ui.api_traffic_format import body_cell, exchange_text, headers_cell, parked_cell, path_cell, row_cells

FACTS = {fact.seq: fact for fact in ts.facts()}  # the last of each seq: answered where it was


def test_a_row_of_a_next_answered_with_an_invoke() -> None:
    delivered = [f for f in ts.facts() if f.seq == 3][-1]
    assert row_cells(delivered, ts.T0, ts.NOW) == (
        "+0.062 s", "GET", "/2018-06-01/runtime/invocation/next", "200", "2.0 s", "rid a1000000 · deadline +3.0 s",
        '{"n": 1}')


def test_a_parked_next_counts_and_a_hung_up_one_says_so() -> None:
    parked = FACTS[8]
    assert parked_cell(parked, ts.NOW) == "1.2 s…"
    assert parked_cell(parked.__class__(**{**parked.__dict__, "answered": ts.NOW}), ts.NOW) == "hung up"
    assert parked_cell(FACTS[4], ts.NOW) == ""  # not a long poll


def test_ids_in_paths_are_cut_short() -> None:
    assert path_cell(f"/2018-06-01/runtime/invocation/{ts.REQUEST_ID}/error") == \
        "/2018-06-01/runtime/invocation/a1000000…/error"


def test_headers_and_bodies_in_short() -> None:
    assert headers_cell(FACTS[1]) == "name audit · ext-id e0000000"
    assert headers_cell(FACTS[7]) == "error InvalidRequestID"
    assert body_cell(FACTS[4]) == '{"invocations": 1, "cold": true}'  # a POST: what it sent
    assert body_cell(FACTS[2]).startswith('{"eventType":"INVOKE"') and len(body_cell(FACTS[2])) == 32


def test_the_whole_exchange() -> None:
    text = exchange_text(FACTS[2], ts.NOW)
    assert "GET /2020-01-01/extension/event/next" in text and "by audit · #2" in text
    assert "· parked 2.0 s · status 200" in text
    assert f"  lambda-extension-identifier: {ts.EXTENSION_ID}" in text
    assert "response body:" in text and "request body: (empty)" in text
    waiting = exchange_text(FACTS[8], ts.NOW)
    assert "not answered yet: parked 1.2 s…" in waiting


def test_a_streamed_response_says_its_body_was_not_kept() -> None:
    streamed = FACTS[4].__class__(**{**FACTS[4].__dict__, "request_preview": "", "request_bytes": 0,
                                     "request_headers": (("lambda-runtime-function-response-mode", "streaming"),
                                                         ("transfer-encoding", "chunked"))})
    assert "request body: streamed (read piece by piece, not kept)" in exchange_text(streamed, ts.NOW)


def test_a_header_of_utf8_text_reads_as_that_text() -> None:
    # The Runtime API sends a client context as its UTF-8 bytes (what awslambdaric decodes); the view shows the text.
    on_the_wire = '{"custom": {"name": "Zoë 日本"}}'.encode().decode("latin-1")
    fact = FACTS[3].__class__(**{**FACTS[3].__dict__,
                                 "response_headers": (("Lambda-Runtime-Client-Context", on_the_wire),)})
    assert 'Lambda-Runtime-Client-Context: {"custom": {"name": "Zoë 日本"}}' in exchange_text(fact, ts.NOW)
    assert header_text("caf\xe9") == "caf\xe9"  # not UTF-8: shown as it came
