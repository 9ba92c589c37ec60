"""Where the function's files appear to its processes, and where they really are.

Inside the environment's mount namespace the function's code is seen at /var/task and its layers, merged, at
/opt (lambda-spec §10.1). A stack, the source view and "where it hung" must show the user's real files, so
every frame's file goes through `host_path` once, where the host reads the dump; `sandbox_path` is the way in
(the extension a layer ships is started as /opt/extensions/NAME).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Callable, Optional

TASK_ROOT = "/var/task"
OPT = "/opt"


@dataclass(frozen=True)
class SandboxPaths:
    """Where the function's code and layers are on the host, and where its processes see them."""

    code_dir: str
    """The function's code folder on the host."""
    task_root: str
    """Where the processes see it: /var/task in the namespace, else `code_dir` itself."""
    layers: tuple[str, ...] = ()
    """The layers' folders on the host (zips already extracted), in the order given: a later one's file wins."""
    opt: Optional[str] = None
    """Where the processes see the layers merged: /opt in the namespace; else a host folder holding them
    merged (or the only layer's own folder); None where nothing stands for /opt."""

    @property
    def emulated(self) -> bool:
        """Whether the processes see Lambda's layout (/var/task, /opt), not the host's real folders."""
        return self.task_root == TASK_ROOT


def _relative(path: str, root: str) -> Optional[str]:
    """`path` relative to `root` ("" for root itself), or None when it is not inside."""
    if not path.startswith("/"):
        return None  # "<frozen importlib._bootstrap>", "???": no file
    path = posixpath.normpath(path)
    root = posixpath.normpath(root)
    if path == root:
        return ""
    prefix = root.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else None


def host_path(path: str, paths: SandboxPaths, exists: Callable[[str], bool] = os.path.exists) -> str:
    """The host file a process's path names: /var/task/... in the code folder, /opt/... in the last layer that
    has it (as Lambda's extraction in order leaves it); any other path unchanged."""
    relative = _relative(path, paths.task_root)
    if relative is not None:
        return posixpath.join(paths.code_dir, relative) if relative else paths.code_dir
    if paths.opt is not None:
        relative = _relative(path, paths.opt)
        if relative is not None:
            for layer in reversed(paths.layers):
                candidate = posixpath.join(layer, relative) if relative else layer
                if exists(candidate):
                    return candidate
    return path


def sandbox_path(path: str, paths: SandboxPaths) -> str:
    """How the processes name a host file: a layer's file under /opt, the code's under the task root (when the
    layout is emulated; else the host path, which they see as it is)."""
    if not paths.emulated:
        return path
    for layer in reversed(paths.layers):
        relative = _relative(path, layer)
        if relative is not None:
            return posixpath.join(OPT, relative) if relative else OPT
    relative = _relative(path, paths.code_dir)
    if relative is not None:
        return posixpath.join(paths.task_root, relative) if relative else paths.task_root
    return path
