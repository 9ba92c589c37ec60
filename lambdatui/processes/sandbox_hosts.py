"""The sandbox's names for its loopback (lambda-spec §3.2): its own /etc/hosts, bound into its mount namespace."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence


# Telemetry listeners bind, and extensions send to, these names (lambda-spec §3.2): inside Lambda they are the
# sandbox's own loopback. So is `localhost`, where a function calls an extension that listens on one of them (AWS's
# go-example-ipc-extension): here all of them are the environment's own address (`own_loopback`).
SANDBOX_HOSTNAMES = ("sandbox.localdomain", "sandbox")
LOCALHOST_NAMES = ("localhost", "localhost.localdomain", "localhost4", "localhost4.localdomain4")
HOST_LOOPBACK = "127.0.0.1"


def own_loopback() -> str:
    """An address of loopback's for one environment's sandbox names. Each Lambda sandbox has a network of its own;
    here the environments share the host's, but all of 127.0.0.0/8 is loopback: a listener bound to its sandbox's
    name (the AWS samples' telemetry listener on sandbox.localdomain:4243) meets neither another environment's on the
    same port nor a host process on 127.0.0.1, and gets only its own environment's records. Random, so that two
    lambdatui runs do not meet either; never in 127.0.0.0/16, where the host's own services are."""
    second, third, fourth = os.urandom(3)
    return f"127.{second % 254 + 1}.{third}.{fourth % 254 + 1}"


def write_hosts_file(path: Path, loopback: str) -> Path:
    """The environment's /etc/hosts: `localhost` and the sandbox's names on `loopback`, and only there; then the
    host's other entries. No other line may name them: getaddrinfo sorts ::1 before any IPv4 address (RFC 6724
    precedence) and 127.0.0.1 before the rest of 127.0.0.0/8 (longest prefix matching the source, 127.0.0.1), so a
    server binding `localhost` would take the first, shared by all environments, and a client would try it first."""
    try:
        with open("/etc/hosts", encoding="utf-8", errors="replace") as fh:
            base = fh.read()
    except OSError:
        base = ""
    names = (*LOCALHOST_NAMES, *SANDBOX_HOSTNAMES)
    path.write_text(f"{loopback} {' '.join(names)}\n{''.join(_without_names(base, names))}")
    return path


def _without_names(hosts: str, names: Sequence[str]) -> list[str]:
    """The lines of a hosts file, with `names` (any case, as the resolver matches them) taken off each; a line left
    with no name goes."""
    taken = {name.lower() for name in names}
    lines = []
    for line in hosts.splitlines():
        fields = line.split("#", 1)[0].split()
        kept = [name for name in fields[1:] if name.lower() not in taken]
        if len(kept) == len(fields) - 1:
            lines.append(f"{line}\n")
        elif kept:
            lines.append(f"{fields[0]} {' '.join(kept)}\n")
    return lines
