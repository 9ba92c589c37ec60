"""The `lambdatui` command (and `python -m lambdatui`): the CLI, with dataclass methods served from their cache.

The cache is installed before anything of lambdatui is imported, so that every class it defines benefits.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    from lambdatui import stop_signals  # noqa: F401 - first: what the caller ignored, before any handler is ours

    try:
        return _run()
    except KeyboardInterrupt:
        # Ctrl-C before lambdatui's own handling is in place (the imports below, the debugger's start): no traceback,
        # and the exit a shell expects of an interrupted command.
        save_caches()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        raise
    finally:
        save_caches()


def _run() -> int:
    from lambdatui import import_paths

    import_paths.install()  # first: every import after it may be one found before
    from lambdatui.collector import loading

    with loading():
        from lambdatui import deferred_imports

        deferred_imports.install()  # first: lambdatui's own first imports bring shutil and urllib.parse
        from lambdatui import dataclass_cache

        dataclass_cache.install()  # first: importing lambdatui.processes defines dataclasses
        from lambdatui.processes.file_limit import raise_host_limit

        raise_host_limit()  # before anything is started: env #1 may start ahead of the trio run
        from lambdatui.processes import linux

        linux.ADOPTS_ORPHANS = True  # lambdatui's own process: its keepers make it their lives' subreaper
        from lambdatui import library_lookup

        library_lookup.install()  # before trio's import, which would run `ldconfig -p` to find libpthread
        from lambdatui.cli import main as cli_main

    return cli_main()


def save_caches() -> None:
    """What this start compiled (dataclass_cache.py) and where it found its modules (import_paths.py), kept for the
    next; nothing of either when Ctrl-C came before it was even imported. Every way lambdatui ends calls this."""
    for module in ("lambdatui.dataclass_cache", "lambdatui.import_paths"):
        save = getattr(sys.modules.get(module), "save", None)  # None: not (yet all) imported
        if save is not None:
            save()
