"""How a process enters its environment's namespaces, as data: the steps the host computes (namespaces.py), and
the few lines that carry them out. Standard library only.

Two processes carry them out: the sandbox init (sandbox_init.py), after its exec, so that the host starts it
with vfork and goes on at once; and a child the host forks directly (no PID namespace, or a probe), between its
fork and exec, where it may call only what was resolved before the fork (`Steps` looks everything up first).

Each step is a tuple, its kind first:

- (UNSHARE, flags, what): unshare(2) the namespaces in `flags`;
- (WRITE, path, data, missing_ok): one write(2) to a /proc file (the user namespace's id maps);
- (MOUNT, source, target, fstype, flags, data, what, skipped): mount(2); `what` None: its failure is ignored,
  else it fails the set-up, but with an errno in `skipped`;
- (HOLD, path): opened now (O_PATH), before a mount hides it, for the next KEEP;
- (KEEP, path, folder, flags, what): the first path held, bound again at its own path (on a folder, or an empty
  file, made for it there);
- (CHDIR, path).

A failure is an OSError whose text names the step.
"""

import os

UNSHARE = "unshare"
WRITE = "write"
MOUNT = "mount"
HOLD = "hold"
KEEP = "keep"
CHDIR = "chdir"


def mount(source, target, flags, what, fstype=None, data=None, skipped=()):
    """A MOUNT step (`what` None: its failure is ignored)."""
    return (MOUNT, source, target, fstype, flags, data, what, skipped)


class Steps:
    """Carries out plans with libc's `mount` and `unshare` (a ctypes CDLL made with use_errno) and `get_errno`."""

    def __init__(self, libc, get_errno):
        self._mount, self._unshare, self._errno = libc.mount, libc.unshare, get_errno
        self._strerror, self._open, self._write, self._close = os.strerror, os.open, os.write, os.close
        self._mkdir, self._chdir = os.mkdir, os.chdir

    def run(self, plan):
        held = []
        for step in plan:
            kind = step[0]
            if kind == MOUNT:
                _, source, target, fstype, flags, data, what, skipped = step
                if self._mount(source, target, fstype, flags, data) != 0 and what is not None:
                    self._failed(what, skipped)
            elif kind == UNSHARE:
                if self._unshare(step[1]) != 0:
                    self._failed(step[2])
            elif kind == WRITE:
                self._write_file(step[1], step[2], step[3])
            elif kind == HOLD:
                held.append(self._open(step[1], os.O_PATH | os.O_CLOEXEC))
            elif kind == KEEP:
                self._keep(held.pop(0), *step[1:])
            elif kind == CHDIR:
                self._chdir(step[1])
            else:
                raise ValueError(f"unknown set-up step {kind!r}")

    def _failed(self, what, skipped=()):
        code = self._errno()
        if code not in skipped:
            raise OSError(code, f"{what}: {self._strerror(code)}")

    def _write_file(self, path, data, missing_ok):
        """In one write(2), as the kernel requires for the id maps."""
        try:
            fd = self._open(path, os.O_WRONLY)
            try:
                self._write(fd, data)
            finally:
                self._close(fd)
        except FileNotFoundError:
            if not missing_ok:
                raise OSError(2, f"write {os.fsdecode(path)}: {self._strerror(2)}") from None
        except OSError as exc:
            raise OSError(exc.errno, f"write {os.fsdecode(path)}: {exc.strerror}") from None

    def _keep(self, fd, path, folder, flags, what):
        try:
            if folder:
                self._mkdir(path, 0o755)
            else:
                self._close(self._open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
        except FileExistsError:
            pass
        if self._mount(b"/proc/self/fd/%d" % fd, path, None, flags, None) != 0:
            self._failed(what)
        self._close(fd)
