"""A timeout: the handler outlives its deadline and Lambda resets the environment.

The default function timeout is 3 s and this sleeps 10 s, so the invoke ends
with Status: timeout. The sleep sits in its own named function so the stack
captured at the timeout points straight at the line where the time went.
"""

import time


def wait_for_downstream(seconds):
    # Stands in for a slow HTTP call or database query with no client-side
    # timeout, the usual way real functions hang.
    time.sleep(seconds)


def handler(event, context):
    seconds = event.get("seconds", 10)
    # The remaining budget is known up front; real code should give downstream
    # calls a timeout smaller than this instead of hoping.
    print(f"slow: waiting {seconds} s with {context.get_remaining_time_in_millis()} ms left", flush=True)
    wait_for_downstream(seconds)
    return {"waited": seconds}
