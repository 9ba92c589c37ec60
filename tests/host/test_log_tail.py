"""The last 4 KB of an invoke's log, as `X-Amz-Log-Type: Tail` returns it."""

from __future__ import annotations

from lambdatui.host.log_tail import TAIL_BYTES, LogTail
from lambdatui.model.facts import FUNCTION, LogLine


def test_the_tail_is_the_last_4_kb_and_begins_at_a_character() -> None:
    tail = LogTail()
    tail.expect("req")
    for i in range(100):
        tail.add("req", LogLine(FUNCTION, "é€😀" * 20 + f" {i}"))  # 2-, 3- and 4-byte characters
    got = tail.tail("req")
    assert TAIL_BYTES - 3 <= len(got) <= TAIL_BYTES
    assert got.decode("utf-8").endswith("😀 99\n")  # a boto3 caller decodes it: half a character would fail


def test_only_the_invokes_whose_caller_asked_keep_lines() -> None:
    tail = LogTail()
    tail.add("other", LogLine(FUNCTION, "not kept"))
    tail.expect("req")
    tail.add("req", LogLine(FUNCTION, "kept"))
    assert (tail.tail("other"), tail.tail("req")) == (b"", b"kept\n")
