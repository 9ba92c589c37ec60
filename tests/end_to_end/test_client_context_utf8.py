"""A client context holding non-ASCII text reaches the handler as the caller wrote it (lambda-spec §1.3, §7.1).

The caller's X-Amz-Client-Context is base64 of UTF-8 JSON; Lambda hands the runtime those UTF-8 bytes in
Lambda-Runtime-Client-Context. awslambdaric decodes that header as UTF-8 (a byte that is not UTF-8 makes its /next
raise UnicodeDecodeError and the runtime exit), so the bytes on the wire must be the caller's UTF-8, whatever the
characters: `é` (which latin-1 could carry as one byte) as much as `日本` (which it cannot). Both runtimes are
checked: awslambdaric (a custom runtime exec-ing `python -m awslambdaric`) and lambdatui's own bootstrap.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, write_file

PROBE = '''def handler(event, context):
    cc = context.client_context
    return {"custom": None if cc is None else cc.custom}
'''

RIC_BOOTSTRAP = f"""#!/bin/sh
exec {sys.executable} -m awslambdaric handler.handler
"""

NAMES = ["é", "Zoë Müller", "日本", "日本é"]


def _encoded(value: object) -> str:
    return base64.b64encode(json.dumps(value, ensure_ascii=False).encode("utf-8")).decode()


@pytest.mark.parametrize("runtime", ["awslambdaric", "lambdatui"])
def test_a_non_ascii_client_context_reaches_the_handler_unchanged(code_dir: Path, runtime: str) -> None:
    pytest.importorskip("awslambdaric")
    handler = write_file(code_dir / "handler.py", PROBE)
    target = handler
    if runtime == "awslambdaric":
        target = write_file(code_dir / "bootstrap", RIC_BOOTSTRAP, executable=True)

    with ServeProcess(target) as served:
        with httpx.Client(timeout=30) as http:
            answers = [http.post(served.invoke_url(), content=b"{}",
                                 headers={"X-Amz-Client-Context": _encoded({"custom": {"name": name}})})
                       for name in NAMES]
        output = served.output()

    for name, answer in zip(NAMES, answers):
        assert answer.status_code == 200, answer.text
        assert "x-amz-function-error" not in answer.headers, (name, answer.text, output)
        assert answer.json() == {"custom": {"name": name}}, (name, answer.text)
