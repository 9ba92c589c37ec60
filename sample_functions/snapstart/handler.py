"""SnapStart: what Init makes is made ONCE, in the snapshot, and every restored environment starts from a copy.

A "unique" id and a random seed made at module level are the same in every environment restored from the snapshot:
the runtime process was copied after Init, and its memory with it (lambda-spec §4.8). Run it with --snapstart.
"""

import os
import random
import uuid

# During Init, in the snapshot's process: meant to tell environments apart, it tells none apart after a restore.
INSTANCE_ID = uuid.uuid4().hex
SEED = random.getrandbits(32)
rng = random.Random(SEED)


def handler(event, context):
    return {"id": INSTANCE_ID, "seed": SEED, "first_draw": rng.random(), "pid": os.getpid()}
