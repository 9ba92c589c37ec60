"""From a bug hunt: where a Python function's code and dependencies are found, as in Lambda (lambda-spec §10.1 and
§5; README's "/var/task and /opt", the template's `Layers` and "Which interpreter").

Lambda's Python runtime (/var/runtime/bootstrap.py in every managed Python image) puts /var/task first on sys.path,
then /opt/python/lib/python3.X/site-packages and /opt/python, and makes each a site directory; but only when the
function's environment has no PYTHONPATH (`if not is_pythonpath_set()`): a PYTHONPATH set by the function's
configuration, or exported by an AWS_LAMBDA_EXEC_WRAPPER script, leaves the layers off sys.path, and an import of a
layer's package fails with Runtime.ImportModuleError (open-telemetry/opentelemetry-lambda#1714 is that failure).
Layers are extracted into /opt in order, so a package two layers ship is merged file by file, the later layer's file
winning, and a namespace package spans /var/task and /opt.

Code lives in `code_dir`/`module_code_dir` (never under /tmp). One `serve` of a SAM template is shared by the tests
that only read what the function finds; the strict xfail pins what is wrong today, in one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from e2e_support import ServeProcess, run_cli, write_file

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"  # the interpreter that runs the function
SITE = f"python/lib/{RUNTIME}/site-packages"


# ---------------------------------------------------------------------- one served template, two layers

# The layer's handler, as observability layers ship one (Datadog's `datadog_lambda.handler.handler`): it imports the
# function's own handler, named in a variable, from /var/task.
DISPATCH = '''import importlib
import os

_module, _name = os.environ["REAL_HANDLER"].rsplit(".", 1)
_real = getattr(importlib.import_module(_module), _name)


def handler(event, context):
    return {"dispatched_by": __file__, "answer": _real(event, context)}
'''

APP = '''import importlib
import importlib.metadata
import importlib.resources
import os
import sys


def _imported(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        return "ImportError: %s" % exc
    return [getattr(module, "WHERE", None), module.__file__]


def handler(event, context):
    probe = event["probe"]
    if probe == "where":
        return {"app": __file__, "cwd": os.getcwd(), "task_root": os.environ["LAMBDA_TASK_ROOT"]}
    if probe == "namespace":
        import acme
        return {"path": list(acme.__path__),
                "parts": {name: _imported("acme." + name) for name in ("fn_part", "base_part", "wrap_part")}}
    if probe == "merged":
        import shared
        return {"init": [shared.WHERE, shared.__file__],
                "modules": {name: _imported("shared." + name) for name in ("only_base", "only_wrap", "both")}}
    if probe == "files":
        return {"version": importlib.metadata.version("distpkg"),
                "data": importlib.resources.files("respkg").joinpath("data.txt").read_text(),
                "data_folder": str(importlib.resources.files("respkg"))}
    raise ValueError(probe)
'''


def _zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return archive


@pytest.fixture(scope="module")
def served(module_code_dir: Path) -> Iterator[ServeProcess]:
    """A template whose function's Handler lives in its second layer (a .zip); its first layer is a folder. Both ship
    parts of the namespace package `acme` (the code has one too) and of the regular package `shared`."""
    root = module_code_dir
    write_file(root / "src" / "app.py", APP)
    write_file(root / "src" / "acme" / "fn_part.py", "WHERE = 'code'\n")
    write_file(root / "src" / "respkg" / "__init__.py", "")
    write_file(root / "src" / "respkg" / "data.txt", "shipped with the code\n")

    base = root / "layers" / "base"
    write_file(base / "python" / "acme" / "base_part.py", "WHERE = 'base'\n")
    write_file(base / "python" / "shared" / "__init__.py", "WHERE = 'base'\n")
    write_file(base / "python" / "shared" / "only_base.py", "WHERE = 'base'\n")
    write_file(base / "python" / "shared" / "both.py", "WHERE = 'base'\n")
    write_file(base / SITE / "distpkg" / "__init__.py", "")
    write_file(base / SITE / "distpkg-1.2.3.dist-info" / "METADATA",
               "Metadata-Version: 2.1\nName: distpkg\nVersion: 1.2.3\n")

    wrap = root / "layers" / "wrap"
    write_file(wrap / "python" / "acme" / "wrap_part.py", "WHERE = 'wrap'\n")
    write_file(wrap / "python" / "shared" / "__init__.py", "WHERE = 'wrap'\n")
    write_file(wrap / "python" / "shared" / "only_wrap.py", "WHERE = 'wrap'\n")
    write_file(wrap / "python" / "shared" / "both.py", "WHERE = 'wrap'\n")
    write_file(wrap / "python" / "dispatch" / "__init__.py", "")
    write_file(wrap / "python" / "dispatch" / "handler.py", DISPATCH)
    _zip_folder(wrap, root / "layers" / "wrap.zip")

    template = write_file(root / "template.yaml", f"""\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: {RUNTIME}
    CodeUri: src
Resources:
  BaseLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {{ContentUri: layers/base}}
  WrapLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {{ContentUri: layers/wrap.zip}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: dispatch.handler.handler
      Layers: [!Ref BaseLayer, !Ref WrapLayer]
      Environment:
        Variables:
          REAL_HANDLER: app.handler
""")
    process = ServeProcess(template, "--python", sys.executable, "--timeout", "10")
    try:
        process.start()
        yield process
    finally:
        process.close()


def probe(served: ServeProcess, name: str) -> dict:
    answer = httpx.post(served.invoke_url("Fn"), json={"probe": name}, timeout=30)
    assert answer.status_code == 200 and "X-Amz-Function-Error" not in answer.headers, answer.text
    body = answer.json()
    assert body["dispatched_by"] == "/opt/python/dispatch/handler.py", body
    return body["answer"]


def test_a_handler_a_layer_ships_runs_and_imports_the_functions_module_from_var_task(served: ServeProcess) -> None:
    """The template's Handler names a module found only in a layer (/opt/python, from a .zip): Lambda imports it from
    sys.path, and it imports the function's own module from /var/task, the working directory."""
    assert probe(served, "where") == {"app": "/var/task/app.py", "cwd": "/var/task", "task_root": "/var/task"}


def test_a_namespace_package_spans_the_code_and_both_layers(served: ServeProcess) -> None:
    """`acme` has no __init__.py anywhere: its portions in /var/task and in the merged /opt/python are one package,
    the code's first."""
    assert probe(served, "namespace") == {
        "path": ["/var/task/acme", "/opt/python/acme"],
        "parts": {"fn_part": ["code", "/var/task/acme/fn_part.py"],
                  "base_part": ["base", "/opt/python/acme/base_part.py"],
                  "wrap_part": ["wrap", "/opt/python/acme/wrap_part.py"]},
    }


def test_a_package_two_layers_ship_is_merged_file_by_file_the_later_layers_file_winning(served: ServeProcess) -> None:
    """Lambda extracts the layers into /opt in order: `shared/` holds both layers' modules, and where both ship a
    file (__init__.py, both.py) the later layer's is the one there (lambda-spec §10.1)."""
    assert probe(served, "merged") == {
        "init": ["wrap", "/opt/python/shared/__init__.py"],
        "modules": {"only_base": ["base", "/opt/python/shared/only_base.py"],
                    "only_wrap": ["wrap", "/opt/python/shared/only_wrap.py"],
                    "both": ["wrap", "/opt/python/shared/both.py"]},
    }


def test_a_layers_distribution_metadata_and_the_codes_package_data_are_found(served: ServeProcess) -> None:
    """importlib.metadata finds a .dist-info in a layer's site-packages (libraries read their own version so), and
    importlib.resources reads a data file shipped beside the code's package, at /var/task."""
    assert probe(served, "files") == {"version": "1.2.3", "data": "shipped with the code\n",
                                      "data_folder": "/var/task/respkg"}


# ---------------------------------------------------------------------- PYTHONPATH: the layers leave sys.path

PYTHONPATH_PROBE = '''import os
import sys


def handler(event, context):
    found = {}
    for name in ("vendored", "layer_dep"):
        try:
            found[name] = __import__(name).WHERE
        except ImportError as exc:
            found[name] = str(exc)
    return {"found": found, "opt_on_sys_path": [p for p in sys.path if p.startswith("/opt")]}
'''

# An AWS_LAMBDA_EXEC_WRAPPER as observability layers write one (OpenTelemetry's otel-instrument): it puts its own
# folder on PYTHONPATH, then starts the runtime.
PYTHONPATH_WRAPPER = '#!/bin/sh\nexport PYTHONPATH="/var/task/vendor${PYTHONPATH:+:$PYTHONPATH}"\nexec "$@"\n'


@pytest.mark.parametrize("how", ["env", "exec-wrapper"])
def test_a_pythonpath_the_function_sets_leaves_the_layers_off_sys_path(code_dir: Path, how: str) -> None:
    """Lambda's bootstrap.py adds /opt/python/lib/python3.X/site-packages and /opt/python only `if not
    is_pythonpath_set()`: with PYTHONPATH in the runtime's environment (the function's variable, or exported by its
    exec wrapper) the folder it names is on sys.path and the layers are not, so `import layer_dep` raises
    ImportError. lambdatui's runtime skips only their .pth files (lambdatui/bootstrap/loop.py `_prepend_task_root`)
    and still puts both folders after /var/task: the import works here and fails once deployed."""
    layer = code_dir / "layer"
    write_file(layer / "python" / "layer_dep.py", "WHERE = 'layer'\n")
    write_file(layer / "wrapper", PYTHONPATH_WRAPPER, executable=True)
    handler = write_file(code_dir / "fn" / "handler.py", PYTHONPATH_PROBE)
    write_file(code_dir / "fn" / "vendor" / "vendored.py", "WHERE = 'vendor'\n")
    setting = "PYTHONPATH=/var/task/vendor" if how == "env" else "AWS_LAMBDA_EXEC_WRAPPER=/opt/wrapper"

    done = run_cli("invoke", str(handler), "--python", sys.executable, "--layer", str(layer), "--env", setting,
                   timeout=30)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "found": {"vendored": "vendor", "layer_dep": "No module named 'layer_dep'"},
        "opt_on_sys_path": [],
    }


# ---------------------------------------------------------------------- a dependency vendored beside the code

VENDORED_SLOW_LIBRARY = '''import time


def fetch(url):
    return _read(url)


def _read(url):
    time.sleep(10)
'''

CALLS_THE_LIBRARY = '''import slowlib


def handler(event, context):
    data = slowlib.fetch("https://example.com")
    return data
'''


def test_where_it_hung_skips_a_library_vendored_in_the_code_folder(code_dir: Path) -> None:
    """`pip install -t .` and `sam build` (whose output README tells users to run) put the dependencies beside the
    handler, each with its `.dist-info`. README: the stack at a timeout points at "the deepest frame of your own
    code in the handler's thread, not a library". lambdatui/model/stacks.py `_is_own_code` counts only
    site-packages and a virtualenv's lib/pythonX.Y as libraries, so the vendored package's frame is shown first
    (and the debugger's source view scrolls into it) instead of the handler's line that called it."""
    folder = code_dir / "fn"
    write_file(folder / "slowlib" / "__init__.py", VENDORED_SLOW_LIBRARY)
    write_file(folder / "slowlib-2.0.dist-info" / "METADATA", "Metadata-Version: 2.1\nName: slowlib\nVersion: 2.0\n")
    write_file(folder / "slowlib-2.0.dist-info" / "RECORD", "slowlib/__init__.py,,\n")
    handler = write_file(folder / "handler.py", CALLS_THE_LIBRARY)
    scenario = write_file(code_dir / "timeout.toml", '[function]\ntimeout = 1\n\n[[step]]\ninvoke = {}\n'
                                                     'expect.error_type = "Sandbox.Timedout"\n')

    done = run_cli("replay", str(handler), str(scenario), "--python", sys.executable, timeout=30)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    where = next(i for i, line in enumerate(lines) if "where the handler was at the timeout" in line)
    assert lines[where + 1].strip() == "handler.py:5 in handler", "\n".join(lines[where:where + 4])


# ---------------------------------------------------------------------- handler modules named like the standard library

def test_a_handler_module_named_like_a_standard_module_is_what_the_runtime_imported_first(code_dir: Path) -> None:
    """awslambdaric imports json (and logging) before the handler, so a handler in /var/task/json.py is never
    imported: `json.handler` is Runtime.HandlerNotFound on the standard module, in Lambda as here. Nothing imports
    email first (http.client comes lazily), so /var/task/email.py is the handler module of `email.handler`, a name
    an emailing function may well have."""
    for name in ("json", "email"):
        write_file(code_dir / f"{name}.py", f"def handler(event, context):\n    return 'own {name}'\n")

    shadowed = run_cli("invoke", str(code_dir), "--handler", "json.handler", "--python", sys.executable, timeout=30)
    own = run_cli("invoke", str(code_dir), "--handler", "email.handler", "--python", sys.executable, timeout=30)

    assert shadowed.returncode == 1, shadowed.stderr
    error = json.loads(shadowed.stdout)
    assert (error["errorType"], error["errorMessage"]) == ("Runtime.HandlerNotFound",
                                                           "Handler 'handler' missing on module 'json'")
    assert (own.returncode, json.loads(own.stdout)) == (0, "own email"), own.stderr


# ---------------------------------------------------------------------- --python: a virtualenv's packages, and only its

VENV_PROBE = '''import os
import sys


def handler(event, context):
    found = {}
    for name in ("projdep", "trio", "lambdatui"):
        try:
            found[name] = __import__(name).__file__
        except ImportError as exc:
            found[name] = type(exc).__name__
    return {"prefix": sys.prefix, "found": found,
            "host_python_variables": sorted(k for k in os.environ if k.startswith(("PYTHON", "VIRTUAL_ENV")))}
'''


def test_python_naming_a_virtualenv_finds_its_packages_and_not_lambdatuis(code_dir: Path) -> None:
    """`--python venv/bin/python`: the function imports what that virtualenv has installed, and nothing of the
    interpreter lambdatui runs in (trio, lambdatui itself, its editable checkout): in Lambda those are not there
    either. The host's VIRTUAL_ENV and PYTHON* variables stay out of the function's environment."""
    venv = code_dir / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    site = next((venv / "lib").glob("python3*/site-packages"))
    write_file(site / "projdep" / "__init__.py", "")
    handler = write_file(code_dir / "fn" / "handler.py", VENV_PROBE)

    done = run_cli("invoke", str(handler), "--python", str(venv / "bin" / "python"), timeout=30)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "prefix": str(venv),
        "found": {"projdep": str(site / "projdep" / "__init__.py"), "trio": "ModuleNotFoundError",
                  "lambdatui": "ModuleNotFoundError"},
        "host_python_variables": [],
    }
