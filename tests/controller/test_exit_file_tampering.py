"""Crash with an exit code (`x`) when the function replaced the file the host writes that code to.

The exit file lies in the run folder, which stays writable inside the sandbox, and its path is in the environment the
runtime was started with (`LAMBDATUI_EXIT_FILE`: gone from `os.environ` before the function's code runs, but readable
in /proc/self/environ). The host wrote it with `write_text`: through a link the function planted it
wrote outside the sandbox's read-only guard (into the code's folder here), and on a FIFO its open() blocked the
host's event loop until some reader came (for ever).
"""

from __future__ import annotations

import pytest
import trio

from lambdatui import controller as c
from lambdatui.model import facts as f
from lambdatui.model.faults import Crash

from controller_support import debugger, payload, write_handler

# The first invoke replaces the exit file (a link to a file in the code's folder, or a FIFO); the second sleeps.
HANDLER = """\
    import os
    import time

    def started_with(name):
        with open("/proc/self/environ", "rb") as environ:
            return dict(item.decode().split("=", 1) for item in environ.read().split(b"\\0") if b"=" in item)[name]

    def handler(event, context):
        if "plant" in event:
            path = started_with("LAMBDATUI_EXIT_FILE")
            if os.path.lexists(path):
                os.unlink(path)
            if event["plant"] == "fifo":
                os.mkfifo(path)
            else:
                os.symlink(event["plant"], path)
            return "planted"
        time.sleep(event.get("sleep", 0))
        return "slept"
    """


@pytest.mark.trio
@pytest.mark.parametrize("plant", ["link", "fifo"])
async def test_a_crash_with_an_exit_code_neither_follows_nor_blocks_on_what_the_function_put_there(code_dir, plant):
    write_handler(code_dir, HANDLER)
    victim = code_dir / "victim.txt"
    victim.write_text("untouched")
    async with debugger(code_dir / "handler.py", timeout_s=10) as dbg:
        planted, _ = await dbg.invoke({"plant": str(victim) if plant == "link" else "fifo"})
        assert payload(planted) == "planted"
        mark = dbg.facts.mark()
        started = trio.current_time()
        request_id = dbg.start_invoke({"sleep": 5})
        await dbg.facts.until(lambda: any(isinstance(x, f.ParticipantChanged) and x.participant == "runtime"
                                          and x.state == "Running" for x in dbg.facts.all[mark:]))
        dbg.submit(c.InjectFault(Crash(exit_code=3)))
        result = await dbg.facts.until(lambda: dbg.facts.completed(request_id))
        assert trio.current_time() - started < 4, "the crash must end the invoke, not the 5 s sleep"
        assert result.error_type == "Runtime.ExitError"
        assert "exit status 3" in payload(result)["errorMessage"]
    assert victim.read_text() == "untouched"
