"""Out of memory: a global cache grows with every warm invoke until the runtime is killed.

Module globals survive between invokes (see ../counter). Here every invoke adds 25 MB to a cache that is
never evicted, the classic leak of a warm Lambda function: a memo dict keyed by request, a list of parsed
reports "kept for later". The runtime starts at about 15 MB, so with `--memory 128` (the default) it holds
about 115 MB after four invokes, and the fifth takes it over the limit.

Lambda's OOM killer (here the kernel's, on the environment's cgroup) SIGKILLs the runtime without warning:
the caller gets `Runtime.OutOfMemory`, REPORT shows `Max Memory Used` at the limit, the environment is
reset, and the next invoke cold-starts with an empty cache.
"""

import time

MB = 1024 * 1024

# Lives as long as the runtime process: from Function init until a reset.
cache = {}


def handler(event, context):
    size_mb = int(event.get("mb", 25))
    key = f"report-{len(cache) + 1}"
    # Zero-filled, so every page is written and resident: it counts against the limit at once.
    cache[key] = bytearray(size_mb * MB)
    time.sleep(0.05)  # the rest of the handler's work (a downstream call, say)
    return {"cached": len(cache), "cache_mb": sum(len(v) for v in cache.values()) // MB}
