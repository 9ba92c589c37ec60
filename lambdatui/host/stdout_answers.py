"""`invoke`'s answers on stdout, written by a thread of their own.

A pipe read late (`lambdatui invoke fn | slow-tool`, a script that reads stderr first) makes a write to stdout wait
for its reader. Written from the host's trio run, that wait stopped everything: the runtime's next `/next` went
unanswered, REPORT's Duration took the wait in, and a longer one timed out a warm environment. In Lambda how fast
the caller reads never changes the invoke. So the thread waits, answer after answer in order, and the command
waits for it only at its end. Unlike stderr's log lines (nonblocking_output.py), nothing here is ever dropped:
an answer is the command's result.

A signal while an answer is written leaves it whole: the run's own handler (runner.cancel_on_signals) notes a
signal that comes after the run, and only a second signal stops the wait (lambdatui then dies of it).
A reader that has gone (`| head -c 5`, `| true`) ends the writing quietly, as it ends `cat`; stdout closed
(`>&-`) or a failed write (a full disk) is said in one line.
"""

from __future__ import annotations

import os
import queue
import select
import sys
import threading
from typing import Callable, Optional

_JOIN_POLL_S = 0.05  # how often the end's wait looks for a second signal


class StdoutAnswers:
    def __init__(self) -> None:
        # Python has no sys.stdout where fd 1 was closed (`>&-`): fd 1 may since be a file or socket of ours.
        self._fd: Optional[int] = None
        if sys.stdout is not None:
            sys.stdout.flush()  # whatever text went first stays first
            self._fd = sys.stdout.fileno()
        self._queue: queue.SimpleQueue[Optional[bytes]] = queue.SimpleQueue()
        self.reader_left = False
        self.failure: Optional[str] = None  # why stdout could not take an answer, for one line on stderr
        self._thread = threading.Thread(target=self._write_all, name="stdout answers", daemon=True)
        self._thread.start()

    def put(self, payload: bytes) -> None:
        """The body as the function answered it, and a newline: its bytes, not text decoded from them (a function may
        answer an image or a gzip, `lambdatui invoke fn > out.png`)."""
        self._queue.put(payload + b"\n")

    def finish(self, give_up: Callable[[], bool] = lambda: False) -> None:
        """Until every answer is written (or stdout failed), or `give_up` says to stop waiting (a second signal)."""
        self._queue.put(None)
        while self._thread.is_alive() and not give_up():
            self._thread.join(_JOIN_POLL_S)

    def _write_all(self) -> None:
        while (data := self._queue.get()) is not None:
            if self.reader_left or self.failure is not None:
                continue
            if self._fd is None:
                self.failure = "stdout is closed"
                continue
            view = memoryview(data)
            try:
                while view:
                    try:
                        view = view[os.write(self._fd, view):]
                    except BlockingIOError:
                        # A stdout its caller left non-blocking (a file it shares with a process that wanted it so):
                        # this thread waits for room, as a blocking write does.
                        select.select([], [self._fd], [])
            except BrokenPipeError:
                self.reader_left = True
            except OSError as exc:
                self.failure = exc.strerror or str(exc)
