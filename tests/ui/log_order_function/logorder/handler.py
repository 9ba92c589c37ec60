"""Interleaves logging records (the runtime's telemetry log fd, one framed record each) with print() lines (stdout):
the order the function wrote them in is step 1, 2, 3, ... ."""

import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    for step in range(1, 7, 2):
        try:
            raise ZeroDivisionError(f"step {step}")
        except ZeroDivisionError:
            logger.exception("record step %d", step)
        print(f"print step {step + 1}", flush=True)
    return {"ok": True}
