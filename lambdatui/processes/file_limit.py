"""Lambda's limit on open files: 1,024 descriptors for each of the function's processes (lambda-spec §4.11).

The runtime and the extensions get it between fork and exec (sandbox_init.py applies the same rule for what it
forks), never lambdatui itself: the host serves every environment and every client, and may need far more.
"""

from __future__ import annotations

import resource

FILE_LIMIT = 1024


def lowered(limit: int) -> tuple[int, int]:
    """RLIMIT_NOFILE (soft, hard) lowered to `limit`; a lower limit lambdatui runs under is kept."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _at_most(soft, limit), _at_most(hard, limit)


def _at_most(value: int, limit: int) -> int:
    return limit if value == resource.RLIM_INFINITY or value > limit else value
