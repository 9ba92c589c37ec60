"""`replay` prints the shutdown that ends it as `invoke` prints its own: nothing said there is lost.

Before, the replay's printer listened only while the steps ran, and the final shutdown runs after them (in
`open_environment`'s exit): the output of an extension handling SHUTDOWN, the function's own on SIGTERM and lambdatui's
line for a runtime SIGKILLed at its share of the budget all appeared under `invoke` and never under `replay`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from e2e_support import run_cli, write_file

# The SIGTERM handler never finishes within the runtime's 300 ms share (an external extension is registered): the
# SIGKILL that ends it is said by lambdatui. Nothing is printed during the invoke, so every line after its REPORT
# belongs to the final shutdown.
HANDLER = '''import signal
import sys
import time


def on_term(signum, frame):
    print("function: SIGTERM, flushing", flush=True)
    time.sleep(10)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)


def handler(event, context):
    return {"ok": True}
'''

# An external extension registered for SHUTDOWN only: it says so when it gets the event, and leaves.
EXTENSION = '''#!{python}
import http.client
import json
import os

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": ["SHUTDOWN"]}}),
            headers={{"Lambda-Extension-Name": "goodbye"}})
response = api.getresponse()
response.read()
extension_id = response.getheader("Lambda-Extension-Identifier")
api.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": extension_id}})
event = json.loads(api.getresponse().read())
print(f"goodbye: {{event['eventType']}} reason={{event.get('shutdownReason')}}", flush=True)
'''

SCENARIO = """[[step]]
invoke = {}
expect.response = { ok = true }
"""

SIGKILLED = "the runtime had not exited 300 ms after SIGTERM: SIGKILLed"


def _final_shutdown(stderr: str) -> list[str]:
    """`invoke`'s console lines after the invoke's REPORT: its final shutdown's."""
    lines = stderr.splitlines()
    report = max(i for i, line in enumerate(lines) if re.match(r"\[platform\]\s+REPORT ", line))
    return lines[report + 1:]


def test_replay_prints_its_final_shutdown_as_invoke_does(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "goodbye", EXTENSION.format(python=sys.executable), executable=True)
    scenario = write_file(code_dir / "scenario.toml", SCENARIO)

    invoked = run_cli("invoke", str(handler), "-e", "{}")
    assert invoked.returncode == 0, invoked.stderr
    final = _final_shutdown(invoked.stderr)
    assert "[goodbye]    goodbye: SHUTDOWN reason=spindown" in final, invoked.stderr
    assert "[function]   function: SIGTERM, flushing" in final, invoked.stderr
    assert any(line.startswith("[lambdatui]") and SIGKILLED in line for line in final), invoked.stderr

    replayed = run_cli("replay", str(handler), str(scenario))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    timeline, console = replayed.stdout.splitlines(), replayed.stderr.splitlines()
    # The same lines: the extension's and the function's on stderr, tagged as `invoke` tags them; lambdatui's and the
    # platform's in the timeline on stdout, where the replay writes every line of theirs.
    for line in final:
        said = re.match(r"\[(lambdatui|platform)\]\s+(.*)$", line)
        if said is None:
            assert line in console, f"{line!r} not on replay's stderr:\n{replayed.stderr}"
        else:
            label, text = said.groups()
            wanted = f"  {label.ljust(10)} {text.replace(chr(9), '  ')}".rstrip()
            assert wanted in timeline, f"{wanted!r} not in replay's timeline:\n{replayed.stdout}"
    # In a block of its own, after the steps and before the verdict.
    end = timeline.index("-- end: lambdatui exits; the environment left is shut down (SHUTDOWN spindown)")
    assert any(SIGKILLED in line for line in timeline[end:]), replayed.stdout
    assert "  SHUTDOWN   spindown -> extension goodbye" in timeline[end:], replayed.stdout
    assert timeline[-1].startswith("PASSED "), replayed.stdout
