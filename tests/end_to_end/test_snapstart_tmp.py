"""A restored environment's /tmp, end to end (lambda-spec §4.5, §4.8): it starts as the snapshot's for every process
of the environment, its extensions as much as its runtime (the snapshot holds the whole environment, extensions and
disk), and from then on it is the environment's own, kept across a reset as Lambda keeps /tmp.

Real `lambdatui serve --snapstart`, a real extension and real HTTP; what each process saw is read from what it wrote
and printed. The files are written through tempfile.gettempdir(): /tmp where the environment has a /tmp of its own,
the folder TMPDIR names elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from e2e_support import write_file
from test_fleet_support import invoke, wait_for_count
from test_snapstart_restore import snap_serve

# At its start, before it registers: what its /tmp holds, then a state file of its own (a token per process).
EXTENSION = '''#!/usr/bin/env python3
import http.client
import json
import os
import tempfile
import uuid

TMP = tempfile.gettempdir()
# Files only: a checkout cloned under /tmp is a folder seen in it too (sandbox.kept_folders).
seen = sorted(n for n in os.listdir(TMP) if not os.path.isdir(os.path.join(TMP, n)))
token = uuid.uuid4().hex
with open(os.path.join(TMP, "extension-state"), "w") as fh:
    fh.write(token)
print("started token=%s saw=%s" % (token, ",".join(seen) or "-"), flush=True)
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({"events": ["INVOKE"]}),
            headers={"Lambda-Extension-Name": "stateful"})
answer = api.getresponse()
answer.read()
identifier = answer.getheader("Lambda-Extension-Identifier")
while True:
    api.request("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": identifier})
    api.getresponse().read()
'''

FUNCTION = '''import os
import tempfile

TMP = tempfile.gettempdir()
with open(os.path.join(TMP, "from-init"), "w") as fh:
    fh.write("written during Init")


def handler(event, context):
    if event.get("change"):
        with open(os.path.join(TMP, "from-init"), "w") as fh:
            fh.write("changed by an invoke")
        with open(os.path.join(TMP, "from-invoke"), "w") as fh:
            fh.write("made by an invoke")
    if event.get("crash"):
        os._exit(3)
    names = sorted(n for n in os.listdir(TMP) if not os.path.isdir(os.path.join(TMP, n)))  # files only, as above
    return {name: open(os.path.join(TMP, name)).read() for name in names}
'''

STARTED = r"#(\d+) \[stateful\]\s+started token=(\w+) saw=(\S+)"


def test_a_restored_environments_extension_starts_with_the_snapshots_tmp_and_its_own_files_stay(code_dir: Path) -> None:
    """The restored extension sees what Init wrote (the function's file, the snapshot's extension's state); the
    state file it then writes is the one the environment keeps, not overwritten by the snapshot's copy."""
    handler = write_file(code_dir / "handler.py", FUNCTION)
    write_file(code_dir / "extensions" / "stateful", EXTENSION, executable=True)
    with snap_serve(handler) as served:
        answer = invoke(served, {})
        assert answer.status_code == 200, answer.text
        started = {int(m.group(1)): m for m in wait_for_count(served, STARTED, 2)}
        assert sorted(started) == [1, 2], served.output()
        assert started[1].group(3) == "-", served.output()  # the snapshot's Init: nothing yet
        assert started[2].group(3) == "extension-state,from-init", served.output()
        files = answer.json()
        assert files["from-init"] == "written during Init", files
        assert files["extension-state"] == started[2].group(2), (
            f"the restored extension's own state was replaced by the snapshot's ({started[1].group(2)}): {files}")


def test_a_reset_restored_environment_keeps_its_own_tmp(code_dir: Path) -> None:
    """A crash resets a restored environment and its next invoke restores the runtime again; /tmp is not cleared by
    a reset, nor put back to the snapshot's: a file an invoke changed keeps its change, as one it made stays."""
    handler = write_file(code_dir / "handler.py", FUNCTION)
    with snap_serve(handler) as served:
        changed = invoke(served, {"change": True})
        assert changed.json() == {"from-init": "changed by an invoke", "from-invoke": "made by an invoke"}, changed.text
        crashed = invoke(served, {"crash": True})
        assert crashed.json()["errorType"] == "Runtime.ExitError", crashed.text
        after = invoke(served, {})
        assert after.status_code == 200, after.text
        wait_for_count(served, r"#2 \[platform\]\s+RESTORE_START ", 2)  # the same environment, restored again
        assert after.json() == changed.json(), after.text
