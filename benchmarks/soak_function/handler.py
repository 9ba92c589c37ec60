"""The soak benchmark's function: the event says what to do, and every answer names the invoke it belongs to."""

import os
import time


def handler(event, context):
    n = event["n"]
    mode = event["mode"]
    if mode == "raise":
        raise ValueError(f"planned failure n={n}")
    if mode == "crash":
        os._exit(3)
    if mode == "timeout":
        time.sleep(30)
    return {"n": n}
