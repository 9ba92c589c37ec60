"""Lambda's limit on open files: 1,024 descriptors for each of the function's processes (lambda-spec §4.11).

The runtime and the extensions get it between fork and exec (sandbox_init.py applies the same rule for what it
forks), never lambdatui itself: the host serves every environment and every client, and may need far more.
"""

from __future__ import annotations

import resource

FILE_LIMIT = 1024


HOST_FILE_LIMIT = 65536  # lambdatui's own: ~10 descriptors an environment and one a client, far below this


def raise_host_limit() -> None:
    """lambdatui's own soft RLIMIT_NOFILE raised towards its hard limit (at most HOST_FILE_LIMIT). Many desktops
    start processes with a soft limit of 1,024 and a far higher hard one: at ~10 descriptors an environment, the
    default --concurrency 100 needs more than that. The function's processes still get FILE_LIMIT (`lowered`)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = HOST_FILE_LIMIT if hard == resource.RLIM_INFINITY else min(hard, HOST_FILE_LIMIT)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (OSError, ValueError):
        pass  # refused (a container's policy): the limit lambdatui was given stays


def lowered(limit: int) -> tuple[int, int]:
    """RLIMIT_NOFILE (soft, hard) lowered to `limit`; a lower limit lambdatui runs under is kept."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _at_most(soft, limit), _at_most(hard, limit)


def _at_most(value: int, limit: int) -> int:
    return limit if value == resource.RLIM_INFINITY or value > limit else value
