"""Why a child could not be started, in one line a person can act on (errno alone says too little)."""

from __future__ import annotations

import errno
import os
import platform
import shutil
import struct
from collections.abc import Mapping, Sequence
from typing import Optional

# ELF's e_machine numbers (elf.h) for the machines a Lambda function or a laptop may be built for.
_ELF_MACHINES = {3: "x86 (32-bit)", 40: "arm (32-bit)", 62: "x86_64", 183: "aarch64 (arm64)", 243: "riscv64",
                 21: "ppc64", 22: "s390x"}
_THIS_MACHINE = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183}
_PT_INTERP = 3


def describe_exec_failure(exc: OSError, argv: Sequence[str], cwd: str, env: Mapping[str, str]) -> str:
    argv0 = argv[0]
    reason = exc.strerror or str(exc)
    if exc.filename is not None and os.fsdecode(exc.filename) == cwd and argv0 != cwd:
        return f"cannot use working directory {cwd}: {reason}"
    path: str | None
    if "/" in argv0:
        path = os.path.normpath(os.path.join(cwd, argv0))
    else:
        path = shutil.which(argv0, mode=os.F_OK, path=env.get("PATH", os.defpath))
    shown = path or argv0
    code = exc.errno
    if code in (errno.ENOENT, errno.ENOEXEC) and path is not None and os.path.isfile(path):
        told = _binary_refused(path, code)
        if told is not None:
            return told
    if code == errno.ENOENT:
        if path is not None and os.path.exists(path):
            return f"cannot execute {path}: its interpreter was not found (check the #! line)"
        if "/" not in argv0:
            return f"command not found: {argv0} (searched PATH)"
        return f"no such file: {shown}"
    if code == errno.EACCES:
        if path is not None and os.path.isdir(path):
            return f"permission denied: {path} is a directory"
        if path is not None and os.path.exists(path) and not os.access(path, os.X_OK):
            return f"permission denied: {path} is not executable"
        return f"permission denied: {shown}"
    if code == errno.ENOEXEC:
        return f"exec format error: {shown} is neither a binary nor a script with a #! line"
    if code == errno.ENOTDIR:
        return f"not a directory: a component of {shown} is not a directory"
    return f"cannot execute {shown}: {reason}"


def _binary_refused(path: str, code: int) -> Optional[str]:
    """What the file's first bytes say of an exec the kernel refused (ENOEXEC) or whose loader it did not find
    (ENOENT): a binary built for another machine (`cargo lambda build --arm64` run on x86_64), or one whose program
    loader is missing (linked on Alpine, run on glibc), or a script whose #! line ends in a CR (saved with CRLF
    line endings). None where they say nothing more than errno does."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if head.startswith(b"#!"):
        line = head[2:].split(b"\n", 1)[0]
        if code == errno.ENOENT and line.endswith(b"\r"):
            return (f"cannot execute {path}: its #! line ends with a carriage return (the file has Windows line "
                    "endings, CRLF: save it with LF)")
        return None
    if not head.startswith(b"\x7fELF") or len(head) < 64 or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
    machine = struct.unpack_from(order + "H", head, 18)[0]
    here = _THIS_MACHINE.get(platform.machine())
    if code == errno.ENOEXEC and here is not None and machine != here:
        built = _ELF_MACHINES.get(machine, f"ELF machine {machine}")
        return (f"cannot execute {path}: it is a binary built for {built}, and this machine is "
                f"{_ELF_MACHINES[here]} (build it for this machine to run it here; in Lambda, the function's "
                "Architectures decides)")
    loader = _elf_loader(path, head, wide, order)
    if code == errno.ENOENT and loader is not None:
        return (f"cannot execute {path}: its program loader {loader} is not on this machine (a binary linked "
                "against another C library, musl or glibc, or another system's: link it statically, or build it "
                "here)")
    return None


def _elf_loader(path: str, head: bytes, wide: bool, order: str) -> Optional[str]:
    """The program loader a dynamically linked ELF names (its PT_INTERP), or None."""
    try:
        # Elf64_Ehdr / Elf32_Ehdr: e_phoff, then e_phentsize and e_phnum; Elf64_Phdr / Elf32_Phdr: p_type, then
        # p_offset (after p_flags in the 64-bit layout), then p_filesz after the two addresses.
        word = order + ("Q" if wide else "I")
        phoff, = struct.unpack_from(word, head, 32 if wide else 28)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 54 if wide else 42)
        if phentsize < (56 if wide else 32) or phnum == 0:
            return None  # no program header table (an object file, not linked): nothing names a loader
        with open(path, "rb") as fh:
            fh.seek(phoff)
            table = fh.read(phentsize * min(phnum, 256))
            for at in range(0, len(table) - phentsize + 1, phentsize):
                if struct.unpack_from(order + "I", table, at)[0] != _PT_INTERP:
                    continue
                offset, = struct.unpack_from(word, table, at + (8 if wide else 4))
                size, = struct.unpack_from(word, table, at + (32 if wide else 16))
                fh.seek(offset)
                return fh.read(min(size, 4096)).split(b"\0", 1)[0].decode("utf-8", "replace") or None
    except (OSError, struct.error, ValueError, OverflowError):  # offsets past any file: a malformed header
        return None
    return None
