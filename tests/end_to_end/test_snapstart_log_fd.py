"""A SnapStart copy's log records (lambda-spec §4.8, §6.6): the snapshot's runtime writes its records on its
telemetry log fd, and each restored copy on its own environment's, where the snapshot's was. Real
`lambdatui serve --snapstart`, each line prefixed by its environment's number."""

from __future__ import annotations

from pathlib import Path

from e2e_support import write_file
from test_fleet_support import invoke, wait_for_count
from test_snapstart_restore import snap_serve

HANDLER = '''import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)
logger.warning("made at Init\\nits second line")


def handler(event, context):
    logger.warning("logged by tag=%s\\nits second line", event["tag"])
    return event["tag"]
'''


def test_each_restored_copy_writes_its_records_to_its_own_environment(code_dir: Path) -> None:
    """A restored environment's record is its own (#2's), not the snapshot's (#1),
    whose pipe a copy inherits from the fork; Init's record is the snapshot's."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    with snap_serve(handler) as served:
        wait_for_count(served, r"^#1 \[function\]\s+\[WARNING\]\t\S+\t\S*\tmade at Init$", 1)
        assert invoke(served, {"tag": "first"}).json() == "first"
        logged = wait_for_count(served, r"^#(\d+) \[function\]\s+\[WARNING\]\t\S+\t\S+\tlogged by tag=(\w+)$", 1)
        assert [(m.group(1), m.group(2)) for m in logged] == [("2", "first")], served.output()
        lines = served.output().splitlines()
        at = next(i for i, line in enumerate(lines) if "logged by tag=first" in line)
        assert lines[at + 1].startswith("#2 [function]") and lines[at + 1].endswith("its second line"), lines[at:at + 2]
