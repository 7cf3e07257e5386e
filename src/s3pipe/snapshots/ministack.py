"""What MiniStack's persistence needs and writes (``ministack/core/persistence.py``, MiniStack 1.5.33).

With ``PERSIST_STATE=1`` MiniStack loads ``$STATE_DIR/<service>.json`` at start-up and writes it
again from its ASGI lifespan shutdown, i.e. on a graceful stop (SIGTERM or SIGINT: hypercorn
shuts down the app; SIGKILL writes nothing). Function code lives beside it as content-addressed
blobs in ``$STATE_DIR/lambda-blobs/``. Object bodies are persisted only with ``S3_PERSIST=1``;
a snapshot is taken right after the apply, when the bucket is empty, so they are not needed.
"""

from __future__ import annotations

from pathlib import Path

#: Service state files a graceful stop of a stack of this module writes (missing -> no snapshot).
REQUIRED_STATE_FILES = ("dynamodb.json", "iam.json", "lambda.json", "s3.json", "sqs.json")


def persistence_environment(state_dir: Path) -> dict[str, str]:
    """The emulator variables that make it load ``state_dir`` at start and write it at a graceful stop."""
    return {"PERSIST_STATE": "1", "STATE_DIR": str(state_dir)}
