"""Where `python -m lambdatui` run from this checkout keeps its dataclass method cache under a PYTHONPYCACHEPREFIX,
asked without starting a Python for it (probe_support.cache_file_for starts one: ~0.17 s of CPU a question, the
package's `__init__` imported, where the tests of the cache ask it about twenty times).

The answer is the checkout's own `dataclass_cache.default_path()`: its module loaded once from its file (whichever
`lambdatui` this process imports, the installed copy or the checkout), called with `sys.pycache_prefix` set as that
command's interpreter sets it from PYTHONPYCACHEPREFIX, with this interpreter's cache tag: the same function, the
same inputs, so the same path the command itself writes.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


@functools.cache
def _checkout_module(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_probe_checkout_dataclass_cache_{abs(hash(root))}",
                                                  root / "lambdatui" / "dataclass_cache.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checkout_cache_file(prefix: Path, root: Path = REPO) -> Path:
    """The cache file of `python -m lambdatui` run with the package found under `root` (PYTHONPATH, default this
    checkout) and PYTHONPYCACHEPREFIX=`prefix` (an absolute path, as the tests' are: the interpreter takes it as
    it is)."""
    assert prefix.is_absolute(), prefix
    default_path = _checkout_module(root).default_path
    saved = sys.pycache_prefix
    sys.pycache_prefix = os.fspath(prefix)
    try:
        return Path(default_path())
    finally:
        sys.pycache_prefix = saved
