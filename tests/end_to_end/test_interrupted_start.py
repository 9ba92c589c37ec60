"""Ctrl-C while lambdatui is still importing itself, before any of its own handling is in place: the command ends as
an interrupted command does (killed by SIGINT), without a traceback of lambdatui's own.

The test holds lambdatui at the import of one of its modules (a sitecustomize first on its PYTHONPATH, as
tests/probe/test_probe4_support.TrioHold holds it at `import trio`), so that the signal lands there every time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import REPO, SAMPLES, write_file

BOUND = 60.0

HOLD_SOURCE = r'''
import os, sys
_WANTED = os.environ.get("HOLD_AT_IMPORT_OF")
if _WANTED:
    class _Hold:
        held = False

        def find_spec(self, name, path=None, target=None):
            if name == _WANTED and not self.held:
                self.held = True
                import socket
                host, port = os.environ["HOLD_ADDRESS"].rsplit(":", 1)
                connection = socket.create_connection((host, int(port)))
                connection.sendall(b"held\n")
                connection.recv(1)  # until the test answers or closes; a signal lands here
                connection.close()
            return None

    sys.meta_path.insert(0, _Hold())
'''


def _signals_as_a_terminal_sends_them() -> None:
    # A SIGINT ignored by whoever started pytest (a background job) would stay ignored across exec.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("module", ["lambdatui.dataclass_cache", "lambdatui.processes.file_limit", "lambdatui.cli"])
def test_ctrl_c_while_lambdatui_imports_itself_is_an_interrupted_command(code_dir: Path, module: str) -> None:
    write_file(code_dir / "hold" / "sitecustomize.py", HOLD_SOURCE)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(BOUND)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code_dir / "hold"), str(REPO)]),
           "HOLD_AT_IMPORT_OF": module, "HOLD_ADDRESS": "127.0.0.1:%d" % listener.getsockname()[1],
           "XDG_STATE_HOME": str(code_dir / "state")}
    proc = subprocess.Popen([sys.executable, "-m", "lambdatui", "invoke", str(SAMPLES / "hello" / "handler.py")],
                            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_signals_as_a_terminal_sends_them)
    try:
        connection, _ = listener.accept()
        connection.settimeout(BOUND)
        assert connection.recv(16) == b"held\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=BOUND)
        connection.close()
    finally:
        listener.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=BOUND)
    assert (proc.returncode, out, err) == (-signal.SIGINT, "", "")
