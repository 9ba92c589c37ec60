"""What `lambdatui invoke` prints for a handler's answer (found by a bug hunt of a user's own project).

README ("`lambdatui invoke PATH`"): "Each response body goes to stdout as the function answered it, followed by a
newline". A Python handler that returns `bytes` answers them as they are, with `Content-Type: application/unknown`
(lambda-spec §6.3, awslambdaric's marshaller; `serve` passes them through byte for byte), as a function returning an
image, a gzip or a protobuf does. `invoke` decoded the body as UTF-8 with replacement before writing it: every byte
that is not UTF-8 became U+FFFD (three bytes), so `lambdatui invoke fn > out.png` wrote a file that is not the answer.

Everything lives in `code_dir` (never under /tmp).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from e2e_support import REPO, lambdatui_argv, write_file


def test_a_bytes_answer_goes_to_stdout_byte_for_byte(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    return bytes(range(256))\n")

    done = subprocess.run([*lambdatui_argv(), "invoke", str(handler)], cwd=REPO, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=30)

    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert done.stdout == bytes(range(256)) + b"\n"
