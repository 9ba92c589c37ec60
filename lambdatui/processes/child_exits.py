"""SIGCHLD for a child's exit only, not for each stop and continue: for the sandbox init (sandbox_init.py) and its
pid 1, which wait on their children while the host freezes and thaws them.

The host freezes the runtime (SIGSTOP) when it parks between invokes and thaws it (SIGCONT) for the next: the
kernel tells its parent of both, and a parent that catches SIGCHLD is woken twice an invoke for nothing, on the CPU
where the runtime resumes (~5 % of a warm invoke's time, measured). SA_NOCLDSTOP asks for exits only; Python's
`signal` cannot set it, so the handler's action is read back through the C library and set again with the flag.

Standard library only, as the sandbox init that imports it (from beside it, as it does namespace_steps). (The
SnapStart template, the parent of each restored copy, needs none of this: it is itself stopped while it waits.)
"""

import ctypes

import _signal  # the C module: signal.py imports enum, ~6 ms of the sandbox init's start

TYPE_CHECKING = False  # typing's own flag, without importing typing
if TYPE_CHECKING:
    from typing import Any, Callable

_SA_NOCLDSTOP = 1  # Linux's value on every architecture but MIPS and Alpha


class _SigAction(ctypes.Structure):
    """The C library's `struct sigaction` (glibc's and musl's alike): handler, a 1024-bit mask, flags, restorer."""

    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * (128 // ctypes.sizeof(ctypes.c_ulong))),
                ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]


_sigaction = None  # the C library's, looked up once: the sandbox init's forks (each reset's) inherit it


def on_child_exits(handler: "Callable[[int, Any], None]") -> bool:
    """Install `handler` for SIGCHLD, called when a child exits and not when it stops or continues. Whether the
    second part took (where it did not, the handler is installed all the same: only the wake-ups stay)."""
    global _sigaction
    _signal.signal(_signal.SIGCHLD, handler)
    try:
        if _sigaction is None:
            _sigaction = ctypes.CDLL(None, use_errno=True).sigaction
        action = _SigAction()
        if _sigaction(_signal.SIGCHLD, None, ctypes.byref(action)) != 0:
            return False
        action.flags |= _SA_NOCLDSTOP
        return _sigaction(_signal.SIGCHLD, ctypes.byref(action), None) == 0
    except (OSError, AttributeError):  # no C library to ask (a static interpreter): the wake-ups stay
        return False
