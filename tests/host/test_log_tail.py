"""The last 4 KB of an invoke's log, as `X-Amz-Log-Type: Tail` returns it."""

from __future__ import annotations

from lambdatui.host.log_tail import TAIL_BYTES, LogTail
from lambdatui.model.facts import FUNCTION, LAMBDATUI, PLATFORM, LogLine


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


def test_the_tail_is_the_functions_log_without_lambdatuis_own_notes() -> None:
    """CloudWatch holds the platform's lines and what the function (and its extensions) printed; lambdatui's notes on
    the invoke (a failure after the response, a late timeout) are its console's, not the function's log."""
    tail = LogTail()
    tail.expect("req")
    tail.add("req", LogLine(PLATFORM, "START RequestId: req Version: $LATEST", "req"))
    tail.add("req", LogLine(LAMBDATUI, "The caller already had its response, yet the invoke failed after it", "req"))
    tail.add("req", LogLine(FUNCTION, "printed", "req"))
    assert tail.tail("req") == b"START RequestId: req Version: $LATEST\nprinted\n"
