"""A user's project as it is laid out, through `lambdatui invoke`: how its modules are found.

Lambda's Python runtime starts as `/var/lang/bin/python3.X /var/runtime/bootstrap.py`; that script (the same in every
managed Python image, 3.8 to 3.13) puts /var/task, /opt/python/lib/python3.X/site-packages and /opt/python in front of
sys.path and then calls `site.addsitedir()` on each of them, "so that we are able to load all customer .pth files"
(its own comment), before it hands over to awslambdaric. So a `.pth` file in the code's folder or in a layer's python
folders is read as in any site-packages: its lines add folders to sys.path (and `import` lines run). Vendored
dependencies rely on it (`pip install -t` copies setuptools' `distutils-precedence.pth`, namespace packages' `-nspkg.pth`
files, a project's own path file).

Before the handler module is imported, that runtime has imported only what bootstrap.py and awslambdaric import (json,
logging, decimal, traceback, importlib, http.client lazily...): a module of the function's own named like another
standard module (`signal.py`) is the one `import signal` finds in Lambda, as /var/task comes first.

Everything lives in `code_dir` (never under /tmp).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from e2e_support import run_cli, write_file

USES_VENDORED = """def handler(event, context):
    import vendored_mod
    return vendored_mod.WHERE
"""


def test_a_pth_file_in_the_code_folder_adds_its_folder_as_lambdas_runtime_does(code_dir: Path) -> None:
    # Lambda: site.addsitedir('/var/task') reads extra.pth, so /var/task/vendor is on sys.path and the import works.
    # lambdatui's runtime only put /var/task in front of sys.path: ModuleNotFoundError, a function error.
    write_file(code_dir / "vendor" / "vendored_mod.py", "WHERE = 'vendor'\n")
    write_file(code_dir / "extra.pth", "vendor\n")
    handler = write_file(code_dir / "handler.py", USES_VENDORED)

    done = run_cli("invoke", str(handler), timeout=30)

    assert (done.returncode, done.stdout) == (0, '"vendor"\n'), done.stdout + done.stderr


def test_a_pth_file_in_a_layers_site_packages_is_read_as_lambdas_runtime_reads_it(code_dir: Path) -> None:
    # Lambda: site.addsitedir('/opt/python/lib/python3.X/site-packages') reads deps.pth there.
    version = "python%d.%d" % sys.version_info[:2]
    site_packages = code_dir / "layer" / "python" / "lib" / version / "site-packages"
    write_file(site_packages / "extra" / "vendored_mod.py", "WHERE = 'layer'\n")
    write_file(site_packages / "deps.pth", "extra\n")
    handler = write_file(code_dir / "fn" / "handler.py", USES_VENDORED)

    done = run_cli("invoke", str(handler), "--layer", str(code_dir / "layer"), timeout=30)

    assert (done.returncode, done.stdout) == (0, '"layer"\n'), done.stdout + done.stderr


@pytest.mark.parametrize("name", ["signal", "socket", "select", "selectors", "array", "mmap"])
def test_the_functions_own_module_named_as_one_the_runtime_uses_is_the_one_it_imports(code_dir: Path,
                                                                                         name: str) -> None:
    # Under awslambdaric (and so in Lambda), `import signal` in the handler finds /var/task/signal.py: nothing imported
    # the standard module before. lambdatui's runtime had imported signal (and socket, select, selectors, array,
    # mmap) for its own use before the handler module, so the function got the standard library's module instead and
    # `from signal import ...` of its own names failed with Runtime.ImportModuleError.
    if name in sys.builtin_module_names:  # built into this interpreter (Debian's has select and array): nothing shadows it
        pytest.skip(f"{name} is built into this interpreter")
    write_file(code_dir / f"{name}.py", "def send(name):\n    return 'sent ' + name\n")
    handler = write_file(code_dir / "handler.py",
                         f"from {name} import send\n\n\ndef handler(event, context):\n    return send('order')\n")

    done = run_cli("invoke", str(handler), timeout=30)

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == "sent order"
