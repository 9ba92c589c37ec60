"""Burst: invokes that arrive together get an execution environment each; later ones reuse the warm ones.

Every environment imports this module once, in its own process: its own `invocations`, its own
ENVIRONMENT_ID. So the globals show which environment served an invoke, and how often it has.
"""

import os
import time
import uuid

# Once per environment, during its Function init: the id tells environments apart in the timeline's globals and
# in the log (it is random, so the response leaves it out: a recorded response must replay as it was).
ENVIRONMENT_ID = uuid.uuid4().hex[:8]
# "on-demand", or "provisioned-concurrency" in an environment initialised ahead of the invokes.
INITIALIZATION_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
invocations = 0


def handler(event, context):
    global invocations
    invocations += 1
    # The invoke waited for this environment's Init: its first, unless Init ran ahead (provisioned concurrency).
    cold = invocations == 1 and INITIALIZATION_TYPE == "on-demand"
    print(f"burst: environment {ENVIRONMENT_ID}, invocation {invocations}{' (cold start)' if cold else ''}")
    # A little work: long enough to see invokes sent together overlap in the timeline.
    time.sleep(event.get("sleep", 0.3))
    return {"invocations": invocations, "cold": cold, "initialization_type": INITIALIZATION_TYPE}
