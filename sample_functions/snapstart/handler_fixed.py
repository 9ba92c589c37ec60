"""SnapStart, fixed: an after-restore hook makes the id and the seed again in each restored environment.

`snapshot_restore_py` is AWS's runtime-hooks package (pip install snapshot-restore-py): Lambda's Python runtime runs
every `@register_after_restore` function right after the restore, before the first invoke (lambda-spec §4.8).
"""

import os
import random
import uuid

from snapshot_restore_py import register_after_restore

INSTANCE_ID = uuid.uuid4().hex
SEED = random.getrandbits(32)
rng = random.Random(SEED)


@register_after_restore
def regenerate():
    # Each restored environment runs this once, in its own copy of the process: its own id, its own seed.
    global INSTANCE_ID, SEED, rng
    INSTANCE_ID = uuid.uuid4().hex
    SEED = random.SystemRandom().getrandbits(32)  # the OS's entropy: the random module's state is a copy too
    rng = random.Random(SEED)


def handler(event, context):
    return {"id": INSTANCE_ID, "seed": SEED, "first_draw": rng.random(), "pid": os.getpid()}
