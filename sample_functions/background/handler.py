"""Background work stops when the environment is frozen.

A thread started at import keeps running only while an invoke is in flight:
between invokes Lambda freezes the whole environment, so `ticks` barely moves
across the gap however long you wait. Work handed to a thread "for later"
(flushing metrics, sending logs) may never run; finish it inside the handler.
"""

import threading
import time

ticks = 0
INIT_TIME = time.time()


def tick():
    global ticks
    while True:
        ticks += 1
        time.sleep(0.01)


# daemon=True: the runtime must be able to exit without joining this thread.
threading.Thread(target=tick, name="ticker", daemon=True).start()


def handler(event, context):
    elapsed = time.time() - INIT_TIME
    # An unfrozen ticker would be near 100 ticks per wall-clock second.
    print(f"background: {ticks} ticks after {elapsed:.1f} s since init "
          f"(about {elapsed * 100:.0f} if it had never been frozen)")
    return {"ticks": ticks}
