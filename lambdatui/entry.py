"""The `lambdatui` command (and `python -m lambdatui`): the CLI, with dataclass methods served from their cache.

The cache is installed before anything of lambdatui is imported, so that every class it defines benefits.
"""

from __future__ import annotations


def main() -> int:
    from lambdatui import dataclass_cache

    dataclass_cache.install()
    from lambdatui.cli import main as cli_main

    try:
        return cli_main()
    finally:
        dataclass_cache.save()
