"""Request ids and trace headers: the shapes Lambda's clients parse, and never the same twice."""

from __future__ import annotations

import re
import uuid

from lambdatui.ids import new_trace_id, new_uuid


def test_request_ids_are_canonical_random_uuids() -> None:
    ids = [new_uuid() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2_000]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # canonical: lower-case, dashed 8-4-4-4-12
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # Every hex digit of the random part varies: no position is stuck (a slicing mistake would pin one).
    for position in (0, 7, 9, 15, 20, 35):
        assert len({text[position] for text in ids}) > 8, position
    assert {text[19] for text in ids} == set("89ab")


def test_trace_headers_have_xrays_root_parent_and_sampled_fields() -> None:
    headers = [new_trace_id() for _ in range(2_000)]
    assert len(set(headers)) == len(headers)
    for header in headers:
        assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", header), header
