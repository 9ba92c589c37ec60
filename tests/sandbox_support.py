"""For tests whose function writes absolute /tmp paths: they need the environment's private /tmp.

lambdatui gives one only where a mount namespace can be made and nothing the children need lies under
/tmp; elsewhere (a checkout or virtualenv under /tmp, say) it falls back to TMPDIR, and an absolute
/tmp path is the host's /tmp. Such a test then skips, saying why, instead of writing into the host's
/tmp. Tests that only need *a* temp dir write to `tempfile.gettempdir()`, which follows TMPDIR, and
run in both modes.
"""

from __future__ import annotations

from typing import Optional

import pytest

from lambdatui.processes.sandbox import Sandbox


def require_private_tmp(sandbox: Optional[Sandbox]) -> None:
    """Skip unless the environment's processes get their own /tmp; call it before any function code runs."""
    if sandbox is None or sandbox.mode != "mount-namespace":
        note = sandbox.note if sandbox is not None else "the environment has no sandbox yet"
        pytest.skip(f"needs the environment's private /tmp, which lambdatui cannot give here: {note}")
