"""An extension whose Telemetry API destination names a port that is lambdatui's own function URL (a bug hunt).

Environments share the host's network; delivery tries the sandbox's own loopback address, then 127.0.0.1 (README,
"/tmp" section: "A listener that binds 127.0.0.1 or 0.0.0.0 instead is still found"). When the extension's listener
is not up (or bound elsewhere), 127.0.0.1:PORT is whatever the host has there: with `serve --url-port PORT` that is
lambdatui's own function URL, which takes every telemetry batch as an invoke of the function. In Lambda the sandbox's
loopback is its own, and nothing of the platform listens on it. Now a destination at one of lambdatui's own
listening addresses counts as no listener (host/telemetry_links.py, listen_address.is_own_listener).
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from e2e_support import API_CALLS_SOURCE, ServeProcess, write_file
from free_ports import free_port

MAX_INVOKES = 100  # each gives the batches due a window in which the environment is thawed

# Subscribes to platform and function records at sandbox.localdomain:$TEL_PORT, and never listens there.
EXTENSION = "#!/usr/bin/env python3\nimport http.client, json, os, sys\n" + API_CALLS_SOURCE + '''
_, _, h = call("POST", "/2020-01-01/extension/register", json.dumps({"events": ["SHUTDOWN"]}),
               {"Lambda-Extension-Name": "tel"})
eid = h["Lambda-Extension-Identifier"]
subscription = {"schemaVersion": "2022-12-13", "types": ["platform", "function"], "buffering": {"timeoutMs": 25},
                "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:%s/" % os.environ["TEL_PORT"]}}
status, _, _ = call("PUT", "/2022-07-01/telemetry", json.dumps(subscription), {"Lambda-Extension-Identifier": eid})
print("subscribed", status, flush=True)
call("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": eid})
'''

HANDLER = '''import json


def handler(event, context):
    text = json.dumps(event)
    print("INVOKED-BY " + ("telemetry" if "platform." in text else "caller"), flush=True)
    return "ok"
'''


def test_telemetry_is_never_delivered_to_lambdatuis_own_function_url(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "tel", EXTENSION, executable=True)
    port = free_port()
    with ServeProcess(code_dir / "handler.py", "--url-port", str(port), "--env", f"TEL_PORT={port}") as serve:
        serve.wait_for_line(r"\[tel\]\s+subscribed 200")
        # Batches wait while the environment is frozen between invokes (as its extension does): the next invoke thaws
        # it for those the last left due, and a line or the other comes: a telemetry-made invoke, or the delivery's
        # trouble said on stderr (README). An invoke may end, and freeze it again, before the delivery's turn comes
        # (as in Lambda, where a short invoke's records may wait for the one after): callers go on until one does.
        delivered = re.compile(r"INVOKED-BY telemetry|Telemetry for extension tel was not taken")
        made = 0
        while made < 2 or not delivered.search(serve.output()):
            assert made < MAX_INVOKES, serve.output()
            answer = httpx.post(serve.invoke_url(), content=b"{}", timeout=30)
            assert answer.status_code == 200 and answer.json() == "ok"
            made += 1
        first = serve.wait_for_line(delivered.pattern)
        assert "not taken" in first.group(0), serve.output()
        assert "lambdatui's own server listens" in first.string, first.string
        serve.wait_for_lines(r"INVOKED-BY caller", made)  # a caller's line may be relayed after its answer
        assert serve.output().count("INVOKED-BY") == made, serve.output()
        invokes = [line for line in serve.lines if "START RequestId" in line]
        assert len(invokes) == made, "\n".join(invokes)
