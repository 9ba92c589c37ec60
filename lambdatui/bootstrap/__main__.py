"""Launcher for `<python> /abs/path/lambdatui/bootstrap` (the host's runtime command).

Python puts this directory at sys.path[0], where our module names (client, context,
...) would shadow the user's. So: drop it from sys.path, load the directory as the
package `_lambdatui_bootstrap` (a name no user module has), and run its main.

This file alone is read by whatever interpreter `--python` names, Python 2 included: it stays in syntax every
Python parses, and says which Python the runtime needs before the package's own syntax would fail with a traceback.
"""

import os
import sys

PACKAGE_NAME = "_lambdatui_bootstrap"
OLDEST_PYTHON = (3, 7)  # the package's own syntax (`from __future__ import annotations`) needs at least this
EXIT_WRONG_PYTHON = 2


def _check_python():  # no annotations here: Python 2 must parse this file
    if sys.version_info[:2] >= OLDEST_PYTHON:
        return
    sys.stderr.write("lambdatui: %s is Python %d.%d, which lambdatui's Python runtime cannot run on: choose "
                     "Python 3.9 or newer (as Lambda's Python runtimes are) with --python\n"
                     % (sys.executable, sys.version_info[0], sys.version_info[1]))
    sys.stderr.flush()
    sys.exit(EXIT_WRONG_PYTHON)


def _launch():
    import importlib.util

    here = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != here]
    spec = importlib.util.spec_from_file_location(
        PACKAGE_NAME, os.path.join(here, "__init__.py"), submodule_search_locations=[here]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE_NAME] = package
    spec.loader.exec_module(package)
    package.main()


if __name__ == "__main__":
    _check_python()
    _launch()
