"""The last 4 KB of each invoke's log, for the Invoke API's `X-Amz-Log-Type: Tail`: its log as CloudWatch holds it
(the platform's lines, the function's and its extensions' output), never lambdatui's own notes about it."""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Optional

from lambdatui.model.facts import LAMBDATUI, LogLine

TAIL_BYTES = 4096
_MAX_REQUESTS = 64  # invokes whose caller never collects the tail must not accumulate


class LogTail:
    """Kept only for the invokes whose caller asked for it: a log burst must not pay for tails nobody reads."""

    def __init__(self) -> None:
        self._lines: OrderedDict[str, deque[bytes]] = OrderedDict()
        self._sizes: dict[str, int] = {}

    def expect(self, request_id: str) -> None:
        """This invoke's caller wants its tail: keep its lines from now on."""
        self._lines[request_id] = deque()
        self._sizes[request_id] = 0
        while len(self._lines) > _MAX_REQUESTS:
            old, _ = self._lines.popitem(last=False)
            self._sizes.pop(old, None)

    @property
    def wanted(self) -> bool:
        """Some invoke's caller wants its tail now."""
        return bool(self._lines)

    def add(self, request_id: Optional[str], line: LogLine) -> None:
        if request_id is None or line.source == LAMBDATUI:
            return
        lines = self._lines.get(request_id)
        if lines is None:
            return
        data = (line.text + "\n").encode("utf-8", "replace")
        lines.append(data)
        self._sizes[request_id] += len(data)
        # The oldest line goes only while the rest still hold TAIL_BYTES: the tail is the log's last 4 KB, which
        # may begin inside a line (`tail` cuts it there).
        while len(lines) > 1 and self._sizes[request_id] - len(lines[0]) >= TAIL_BYTES:
            self._sizes[request_id] -= len(lines.popleft())

    def tail(self, request_id: str) -> bytes:
        """The last 4 KB, begun at a character: the caller decodes it as UTF-8 (boto3 users do), and half of one
        would make that fail."""
        tail = b"".join(self._lines.get(request_id, ()))[-TAIL_BYTES:]
        start = 0
        while start < min(3, len(tail)) and tail[start] & 0xC0 == 0x80:  # a continuation byte: inside a character
            start += 1
        return tail[start:]

    def forget(self, request_id: str) -> None:
        self._lines.pop(request_id, None)
        self._sizes.pop(request_id, None)
