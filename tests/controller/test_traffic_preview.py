"""The API traffic view says when a body's preview is only its first bytes, whatever bytes those are."""

from __future__ import annotations

import uuid

import pytest

from lambdatui import controller as c
from lambdatui.model import facts as f
from lambdatui.ui.api_traffic_format import exchange_text

from controller_support import debugger, write_handler

HANDLER = """\
    def handler(event, context):
        return "ok"
    """


@pytest.mark.trio
async def test_a_preview_cut_inside_a_character_still_says_it_is_cut(code_dir):
    write_handler(code_dir, HANDLER)
    # 202 bytes of JSON: the 200-byte preview ends in the middle of the "é", which decodes to one 3-byte U+FFFD.
    event = ('"' + "a" * 198 + 'é"').encode()
    async with debugger(code_dir / "handler.py") as dbg:
        request_id = str(uuid.uuid4())
        dbg.submit(c.Invoke(event, request_id))
        await dbg.facts.until(lambda: dbg.facts.report(request_id))
        [delivered] = [x for x in dbg.facts.of(f.ApiExchanged)
                       if x.path.endswith("/invocation/next") and x.status == 200]
        assert delivered.response_bytes == 202
        text = exchange_text(delivered, now=delivered.answered)
        assert "(first 200 of 202 B)" in text, text
