"""Request ids and X-Ray trace headers, as Lambda makes them, without a system call each.

Every invoke takes a request id and a trace header (three UUIDs' worth of randomness): `uuid.uuid4()` asks the
kernel for 16 bytes each time (`getrandom`) and builds a UUID object, ~2.6 µs a call on the warm path. These ids
name invokes; nothing secret rests on them, so Python's own generator (seeded from the OS once) serves.
"""

from __future__ import annotations

import os
import random
import time

_bits = random.Random().getrandbits  # an instance of its own: a function's seed() in-process cannot repeat ours
_VARIANT = "89ab"


def new_uuid() -> str:
    """A random (version 4, RFC 9562 variant) UUID in its canonical text form."""
    return _uuid_text("%032x" % _bits(128))


def new_token() -> str:
    """A secret in a UUID's form (AWS_LAMBDA_METADATA_TOKEN's): from the kernel's randomness, not `new_uuid`'s
    generator, whose next values its past ones give away."""
    return _uuid_text(os.urandom(16).hex())


def _uuid_text(h: str) -> str:
    """32 random hex digits as a version 4 UUID: its version and variant digits set."""
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def new_trace_id() -> str:
    """An X-Amzn-Trace-Id for an invoke nobody traced yet: a new root, a parent segment, not sampled."""
    return f"Root=1-{int(time.time()):08x}-{_bits(96):024x};Parent={_bits(64):016x};Sampled=0"
