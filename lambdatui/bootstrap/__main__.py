"""Launcher for `<python> /abs/path/lambdatui/bootstrap` (the host's runtime command).

Python puts this directory at sys.path[0], where our module names (client, context,
...) would shadow the user's. So: drop it from sys.path, load the directory as the
package `_lambdatui_bootstrap` (a name no user module has), and run its main.
"""

import importlib.util
import os
import sys

PACKAGE_NAME = "_lambdatui_bootstrap"


def _launch() -> None:
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
    _launch()
