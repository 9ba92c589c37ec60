"""Which Python an interpreter path really runs, and its version, for the function's runtime.

Mostly the path says it, at no cost: a virtualenv's pyvenv.cfg, or a name such as python3.12 (after links). Where it
does not (a pyenv or asdf shim, a wrapper script, an unversioned `python3` that is no link), the interpreter is asked,
once per run, by starting it here, in the user's own environment and working folder: a shim decides there as it does
in the user's shell (pyenv's PYENV_VERSION, a `.python-version`), which the function's environment (its variables
filtered, its cwd /var/task) would not see. The function then runs the Python the shim starts, directly, as Lambda
starts its runtime, and is told that Python's version (AWS_EXECUTION_ENV).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Optional

Version = tuple[int, int]

_PROBE = 'import sys; print(sys.executable); print("%d.%d" % sys.version_info[:2])'  # Python 2.7 reads it too
_PROBE_TIMEOUT_S = 20.0
_HEAD_BYTES = 512  # enough of a shim to see whose it is
# Whose shim, by the command it hands over to: `exec "$PYENV_ROOT/libexec/pyenv" exec "$program" "$@"`, asdf's
# `exec asdf exec "python3" "$@"`, mise's file shims `exec mise x -- python3 "$@"`.
_SHIMS = ((b"pyenv", "a pyenv shim"), (b"asdf", "an asdf shim"), (b"mise", "a mise shim"))


class Resolved:
    """What runs the function, its version when known, and how it was found when not the path given ("").
    (A plain class: a dataclass's making costs every start of lambdatui more than this one is worth.)"""

    __slots__ = ("path", "version", "via")

    def __init__(self, path: str, version: Optional[Version], via: str = "") -> None:
        self.path, self.version, self.via = path, version, via


_resolved: dict[tuple[str, str], Resolved] = {}  # once per run: the debugger's picker resolves the function again


def version_in_name(path: str) -> Optional[Version]:
    """(3, 12) for a file named python3.12, or a build named after it (python3.13t, free-threaded; python3.6m),
    following links; else None. (No regular expression: its compiling would cost every start more than this.)"""
    name = os.path.basename(os.path.realpath(path))
    return _version(name.removeprefix("python").rstrip("abcdefghijklmnopqrstuvwxyz")) if name.startswith("python") \
        else None


def _version(text: str) -> Optional[Version]:
    """(3, 12) for "3.12" (or "3.12.1"); else None."""
    major, _, rest = text.strip().partition(".")
    minor = rest.partition(".")[0]
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() and major.isascii() and minor.isascii() \
        else None


def virtualenv_version(path: str) -> Optional[Version]:
    """The version a virtualenv's pyvenv.cfg gives (`version = 3.12.1`; virtualenv's `version_info = 3.12.1.final.0`),
    for its bin/python at `path`; else None."""
    try:
        text = (Path(path).parent.parent / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, equals, value = line.partition("=")
        if equals and key.strip() in ("version", "version_info"):
            return _version(value)
    return None


def _script_head(path: str) -> Optional[bytes]:
    """The beginning of the file, when it is a script (`#!`) that finds and starts the interpreter; else None."""
    try:
        with open(os.path.realpath(path), "rb") as file:
            head = file.read(_HEAD_BYTES)
    except OSError:
        return None
    return head if head.startswith(b"#!") else None


def _kind(head: Optional[bytes]) -> str:
    if head is None:
        return "a launcher"  # a binary that starts another (mise's shims link to mise itself)
    for tool, kind in _SHIMS:
        if re.search(rb'\b%s"? (exec|x)\b' % tool, head):
            return kind
    return "a script"


def resolve(path: str, code_dir: Optional[Path] = None) -> Resolved:
    """The Python that `path` runs and its version. A virtualenv's python or a versioned name costs no start; a
    script, or a name without a version, is started once (see the module docstring); `code_dir`'s `.python-version`
    is pyenv's first choice after the shell's (PYENV_DIR), then the working folder's, as pyenv searches."""
    version = virtualenv_version(path)
    if version is not None:
        return Resolved(path, version)  # a virtualenv's python links to the interpreter itself, never to a shim
    head = _script_head(path)
    if head is None:
        version = version_in_name(path)
        if version is None and os.path.realpath(path) == os.path.realpath(sys.executable):
            version = sys.version_info[:2]
        if version is not None:
            return Resolved(path, version)
    key = (path, str(code_dir or ""))
    if key not in _resolved:
        _resolved[key] = _asked(path, head, code_dir)
    return _resolved[key]


def _asked(path: str, head: Optional[bytes], code_dir: Optional[Path]) -> Resolved:
    import subprocess  # only here: the usual interpreters are known without a start

    env = dict(os.environ)
    if code_dir is not None:
        env.setdefault("PYENV_DIR", str(code_dir))
    try:
        # -S: the site packages are not needed to say which Python this is (a few ms less).
        answer = subprocess.run([path, "-S", "-c", _PROBE], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=_PROBE_TIMEOUT_S, errors="replace")
    except (OSError, subprocess.SubprocessError) as exc:
        return _unanswered(path, head, str(exc))
    lines = answer.stdout.splitlines()
    version = _version(lines[-1]) if len(lines) >= 2 else None
    if answer.returncode != 0 or version is None:
        said = (answer.stderr.strip().splitlines() or [f"exit status {answer.returncode}"])[0]
        return _unanswered(path, head, said)
    executable = lines[-2].strip()
    if (not os.path.isabs(executable) or not os.access(executable, os.X_OK)
            or os.path.realpath(executable) == os.path.realpath(path)):
        return Resolved(path, version)  # the interpreter itself, only its version unknown from its name
    # sys.executable as it says it, not resolved: a wrapper may start a virtualenv's python, a link that makes it one.
    return Resolved(executable, version, f"{path} is {_kind(head)}, which starts this one, Python "
                                         f"{version[0]}.{version[1]}, in your shell and folder")


def _unanswered(path: str, head: Optional[bytes], why: str) -> Resolved:
    """Run as given (it says the same when the runtime starts), with the version its name gives, if any."""
    asked = f"{path} ({_kind(head)}) did not say which Python it starts" if head else f"{path} did not say its version"
    return Resolved(path, version_in_name(path), f"{asked}: {why}")
