"""Three ways a Python function can fail, and which ones cost you a cold start.

- "raise":    an exception in the handler. The runtime catches it, reports a
              function error, and keeps going: the next invoke is warm.
- "exit":     the runtime process exits (Runtime.ExitError). Lambda resets
              the environment; the next invoke re-runs Init.
- "segfault": the process dies from a signal, as a crashing C extension
              would. Same reset as "exit".
- "ok":       returns normally, to show the counter on a warm environment.

Any other mode, or none, means "exit".
"""

import os
import signal

# Reset by a new process, so the log shows "invocation 1" again after a crash.
invocations = 0


def handler(event, context):
    global invocations
    invocations += 1
    mode = event.get("mode", "exit") if isinstance(event, dict) else "exit"

    # flush=True: os._exit() and a fatal signal skip Python's cleanup, so
    # anything still in the stdout buffer would never reach the log.
    print(f"crash: invocation {invocations} in pid {os.getpid()}, mode={mode}", flush=True)

    if mode == "ok":
        return {"invocations": invocations}
    if mode == "raise":
        raise ValueError("boom")
    if mode == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    # No response is ever posted: the platform notices the process exit.
    os._exit(1)
