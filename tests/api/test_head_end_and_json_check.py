"""find_head_end's plain searches and json_text's shared decoder, each against what it replaced (the expression
`\\r?\\n\\r?\\n`, a `json.loads` with the same hooks per call), on long buffers, the 8 KB window's edges and the 431
bound; the decoder from several threads at once."""

from __future__ import annotations

import json
import random
import re
import threading

import pytest

from lambdatui.api import http11_head
from lambdatui.api.http11_head import MAX_HEAD_BYTES, BadRequest, find_head_end
from lambdatui.json_text import MAX_DEPTH, _no_constant, check_json

_EXPR = re.compile(rb"\r?\n\r?\n")


def _old_find_head_end(buffer: bytearray, start: int):
    match = _EXPR.search(buffer, start)
    if match is None:
        return None
    if match.start() > MAX_HEAD_BYTES:
        raise BadRequest(431, "RequestHeaderFieldsTooLarge", "Request header fields too large")
    return match.start(), match.end()


def _both(buffer: bytearray, start: int):
    out = []
    for fn in (_old_find_head_end, find_head_end):
        try:
            out.append(("ok", fn(buffer, start)))
        except BadRequest as bad:
            out.append(("bad", bad.answer()[0]))
    return out


@pytest.mark.parametrize("plain_bytes", [8192, 6], ids=["as-served", "fallback-exercised"])
def test_equivalent_on_every_mix_of_cr_lf_and_text(monkeypatch, plain_bytes: int) -> None:
    """Every short mix of CR, LF and text, from every offset; with a tiny window, the fallback past it too."""
    monkeypatch.setattr(http11_head, "_SEARCHED_PLAINLY", plain_bytes)
    rng = random.Random(9)
    for _ in range(60_000):
        buffer = bytearray(b"".join(rng.choice((b"\r", b"\n", b"a")) for _ in range(rng.randint(0, 14))))
        start = rng.randint(0, len(buffer))
        old, new = _both(buffer, start)
        assert old == new, (bytes(buffer), start)


def test_the_search_stops_at_the_head_whatever_the_body_behind_it() -> None:
    for line_end in (b"\r\n", b"\n"):
        head = b"POST /x HTTP/1.1" + line_end + b"Host: h" + line_end + line_end
        assert find_head_end(bytearray(head + b"y" * 6_000_000), 0) == (len(head) - 2 * len(line_end), len(head))


def test_equivalent_around_the_8k_window_edge() -> None:
    window = http11_head._SEARCHED_PLAINLY
    rng = random.Random(39)
    ends = [b"\r\n\r\n", b"\n\n", b"\n\r\n", b"\r\n\n", b"\r\r\n\n", b"\n\r\r\n\n"]
    for _ in range(800):
        start = rng.choice([0, 1, 2, 3, rng.randint(0, 40)])
        at = start + window + rng.randint(-6, 6)
        filler = bytes(rng.choice(b"ab\r") for _ in range(max(0, at - start)))
        buffer = bytearray(b"x" * start + filler + rng.choice(ends) + bytes(rng.choice(b"a\r\n") for _ in range(
            rng.randint(0, 8))))
        for s in {start, max(0, start - 1), min(len(buffer), start + 1)}:
            old, new = _both(buffer, s)
            assert old == new, (len(buffer), s, bytes(buffer[-20:]))


def test_equivalent_on_random_longer_buffers() -> None:
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(0, 20_000)
        sparse = rng.random()
        buffer = bytearray(rng.choice(b"\r\n") if rng.random() < sparse * 0.02 else 97 for _ in range(n))
        start = rng.randint(0, n)
        old, new = _both(buffer, start)
        assert old == new, (n, start)


@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"])
@pytest.mark.parametrize("head_size", [MAX_HEAD_BYTES - 10, MAX_HEAD_BYTES, MAX_HEAD_BYTES + 1, MAX_HEAD_BYTES + 50])
def test_the_431_bound_is_where_it_was(line_end: bytes, head_size: int) -> None:
    head = b"GET / HTTP/1.1" + line_end + b"X: " + b"a" * (head_size - 17 - 2 * len(line_end))
    buffer = bytearray(head + line_end + line_end + b"body\n\nmore")
    for start in (0, max(0, len(head) - 8000), len(head) - 3):
        old, new = _both(buffer, start)
        assert old == new, (head_size, start)


def test_a_head_split_across_reads_as_the_reader_searches_it() -> None:
    """`_read_head` searches again from len(buffer) - 3 after each read: every split point gives the same end."""
    for line_end in (b"\r\n", b"\n"):
        request = b"POST /x HTTP/1.1" + line_end + b"Content-Length: 4" + line_end + line_end + b"\n\nab"
        for cut in range(1, len(request)):
            first = bytearray(request[:cut])
            got = find_head_end(first, 0)
            if got is None:
                searched = max(0, len(first) - 3)
                first += request[cut:]
                got = find_head_end(first, searched)
            assert got == _old_find_head_end(bytearray(request), 0), (line_end, cut)


# ---- json_text: the shared decoder

_DOCS = [
    "{}", "[]", "1", "-0", "1e400", "NaN", "Infinity", "-Infinity", "[NaN]", '{"a": Infinity}',
    "1" * 5000, "[" + "9" * 10_000 + "]", '"\\ud800"', "\ufeff{}", "{} ", " {}", "{}x", "", " ", "nul",
    '{"a":1,"a":2}', "[1,]", '{"a" 1}', "tru", "1.", ".5", "01", '"\x00"', "[" * 500 + "]" * 500,
]


@pytest.mark.parametrize("doc", _DOCS, ids=range(len(_DOCS)))
def test_check_json_accepts_and_refuses_as_json_loads_did(doc: str) -> None:
    def old(text):
        try:
            json.loads(text, parse_int=str, parse_constant=_no_constant)
        except ValueError:
            return "refused"
        return "ok"

    def new(text):
        try:
            check_json(text)
        except ValueError:
            return "refused"
        return "ok"

    assert new(doc) == old(doc)
    assert new(doc.encode("utf-8", "surrogatepass")) in ("ok", "refused")


def test_deep_nesting_past_the_recursion_limit_still_checked() -> None:
    # Past the parser of every Python from 3.10 (~1,000 levels) to 3.13 (~10,000): checked without it, and taken.
    for depth in (5000, MAX_DEPTH):
        assert check_json("[" * depth + "]" * depth) is None
        with pytest.raises(ValueError):
            check_json("[" * depth + "]" * (depth - 1))
    with pytest.raises(ValueError):
        check_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert check_json("[1]") is None  # the decoder is fine after a RecursionError


def test_the_shared_decoder_from_many_threads() -> None:
    docs = [json.dumps({"k%d" % i: [i, {"x": "y" * i}], "n": 10 ** 50}) for i in range(50)]
    bad = ['{"k": NaN}', '{"k": [1,}']
    errors: list[object] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(2000):
                if rng.random() < 0.2:
                    try:
                        check_json(rng.choice(bad))
                        errors.append("accepted a bad doc")
                    except ValueError:
                        pass
                else:
                    check_json(rng.choice(docs))  # taken: no ValueError
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
