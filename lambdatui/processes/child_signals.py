"""The signals between a parent and the children it starts: the sandbox init's (sandbox_init.py, which imports this
from beside it, as it does namespace_steps) and the host's where no init forks them (spawning.py). Standard library
only.

**A parent hears its children's exits only** (`on_child_exits`), not each stop and continue: the sandbox init and
its pid 1 wait on their children while the host freezes and thaws them. The host freezes the runtime (SIGSTOP) when
it parks between invokes and thaws it (SIGCONT) for the next: the kernel tells its parent of both, and a parent that
catches SIGCHLD is woken twice an invoke for nothing, on the CPU where the runtime resumes (~5 % of a warm invoke's
time, measured). SA_NOCLDSTOP asks for exits only; Python's `signal` cannot set it, so the handler's action is read
back through the C library and set again with the flag. (The SnapStart template, the parent of each restored copy,
needs none of this: it is itself stopped while it waits.)

**A child starts with every signal at its default action and none blocked**, as Lambda's init starts the runtime and
its extensions. An ignored signal stays ignored across exec (a handler does not), and the signal mask is kept too,
so whatever started lambdatui would pass its own on to the function: a shell's `trap '' TERM`, nohup's SIGHUP, or
signals 32 and 33, which glibc's posix_spawn (Python 3.13's subprocess uses it) leaves ignored in what it starts,
pytest-xdist's workers among them. A runtime that ignores SIGTERM does not end at the shutdown's SIGTERM
(lambda-spec §4.6). Python's own table of dispositions (`signal.getsignal`, read at its start and kept by
`signal.signal`) says without a system call which signals are not at their default (`not_at_default`). It cannot
see the C library's own signals (glibc's 32 and 33, musl's 32 to 34): the C library's sigaction refuses them, so
they are read and reset through the kernel's (`ignored_unseen`).
"""

import ctypes
import os

import _signal  # the C module: signal.py imports enum, ~6 ms of the sandbox init's start

TYPE_CHECKING = False  # typing's own flag, without importing typing
if TYPE_CHECKING:
    from typing import Any, Callable, Tuple

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


# rt_sigaction's number where pointers are 64 bits (where they are not, x86_64's number is another call's).
_RT_SIGACTION = {"x86_64": 13, "aarch64": 134, "riscv64": 134}.get(os.uname().machine) \
    if ctypes.sizeof(ctypes.c_void_p) == 8 else None
_SIGSET_BYTES = 8  # the kernel's sigset_t: 64 signals
_ACTION_BYTES = 64  # more than the kernel's struct sigaction on each of those (handler first); all zeros is SIG_DFL
_SIG_IGN = 1


def not_at_default() -> "Tuple[int, ...]":
    """The signals Python's table has ignored or handled here (not those it cannot see: `ignored_unseen`)."""
    unset = (None, _signal.SIG_DFL)  # None: a signal Python cannot see
    return tuple(number for number in range(1, _signal.NSIG) if _signal.getsignal(number) not in unset)


def to_default(numbers: "Tuple[int, ...]") -> None:
    """Give `numbers` (from `not_at_default`) their default action: between fork and exec."""
    default = _signal.SIG_DFL
    for number in numbers:
        _signal.signal(number, default)


def ignored_unseen(syscall: "Any") -> "Tuple[int, ...]":
    """The signals ignored here that Python's table cannot see, read from the kernel; () where its call's number
    is not known here. `syscall` is the C library's, looked up by the caller."""
    if _RT_SIGACTION is None or syscall is None:
        return ()
    action = ctypes.create_string_buffer(_ACTION_BYTES)
    found = []
    for number in range(1, _signal.NSIG):
        if _signal.getsignal(number) is None:
            if _rt_sigaction(syscall, number, None, action) == 0 and \
                    ctypes.c_void_p.from_buffer(action).value == _SIG_IGN:
                found.append(number)
    return tuple(found)


def unseen_to_default(syscall: "Any", numbers: "Tuple[int, ...]") -> "Callable[[], None]":
    """What gives `numbers` (from `ignored_unseen`) their default action; everything it calls is made here, so that
    between fork and exec it only calls the kernel."""
    calls = [(ctypes.c_long(_RT_SIGACTION or 0), ctypes.c_long(number), ctypes.create_string_buffer(_ACTION_BYTES),
              None, ctypes.c_long(_SIGSET_BYTES)) for number in numbers]

    def reset() -> None:
        for call in calls:
            syscall(*call)
    return reset


def unblock_all() -> None:
    """Block no signal in this thread (and so in what it forks)."""
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())


def _rt_sigaction(syscall: "Any", number: int, new: "Any", old: "Any") -> int:
    return syscall(ctypes.c_long(_RT_SIGACTION or 0), ctypes.c_long(number), new, old, ctypes.c_long(_SIGSET_BYTES))
