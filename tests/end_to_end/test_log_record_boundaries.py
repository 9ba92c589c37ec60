"""Log records of lambdatui's Python runtime as the function log shows them, against Lambda's (found by a bug
hunt).

In Lambda the Python runtime writes each logging record as one frame on _LAMBDA_TELEMETRY_LOG_FD (spec §6.6): a
record is one log event, whatever it ends with. A record that carries a traceback (`logger.exception`) ends with
the exception's last line and no newline (logging.Formatter appends exc_text after the format's "\\n"), so when
records were written one after another on stdout (awslambdaric's fallback without the fd, which lambdatui's
runtime followed) the next record was glued onto that last line. Our runtime now ends each record's line.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from e2e_support import ServeProcess, run_cli, source_lines, write_file

HANDLER = '''import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("caught it")
    logger.error("next record")
    return "ok"
'''


def test_the_record_after_a_logged_exception_starts_its_own_line(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    result = run_cli("invoke", str(handler))
    assert result.returncode == 0, result.stderr
    texts = source_lines(result.stderr, "function")
    assert any(t.startswith("[ERROR]\t") and t.endswith("\tcaught it") for t in texts), texts
    assert any("ZeroDivisionError: division by zero" in t for t in texts), texts
    assert any(t.startswith("[ERROR]\t") and t.endswith("\tnext record") for t in texts), texts


def test_the_tail_has_the_record_after_a_logged_exception_on_its_own_line(code_dir: Path) -> None:
    import httpx

    handler = write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(handler) as served:
        response = httpx.post(served.invoke_url(), content=b"{}", headers={"X-Amz-Log-Type": "Tail"}, timeout=30)
    assert response.status_code == 200 and json.loads(response.content) == "ok"
    tail = base64.b64decode(response.headers["X-Amz-Log-Result"]).decode()
    assert re.search(r"(?m)^\[ERROR\]\t[^\n]*\tnext record$", tail), tail
