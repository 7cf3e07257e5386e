"""What the harness relies on from the handler: log event names, item key formats and limits.

The harness cannot import the handler at runtime (it runs in the Lambda, not here), so these are
defined once here for the harness side (``pipeline.py``, ``tests/corpus/generate.py``) and pinned
to the handler's own definitions (``lambda/log_ingest/logs.py``, ``items.py``, ``formats/``) by
``tests/unit/test_contract.py``: a change to either side that the other does not follow fails it.
"""

from __future__ import annotations

from typing import Final

# ------------------------------------------------------------------------------ log events (logs.py)

EVENT_OBJECT_STORED: Final = "object_stored"
EVENT_OBJECT_PARTIALLY_STORED: Final = "object_partially_stored"
EVENT_OBJECT_DEAD_LETTERED: Final = "object_dead_lettered"
EVENT_OBJECT_IGNORED: Final = "object_ignored"
#: An ``ObjectRemoved`` event deleted the object's items (``ON_OBJECT_REMOVED=delete``).
EVENT_OBJECT_REMOVED: Final = "object_removed"
EVENT_OBJECT_RETRY: Final = "object_retry"
EVENT_OBJECT_CONTINUED: Final = "object_continued"
EVENT_OBJECT_DEAD_LETTER_DEFERRED: Final = "object_dead_letter_deferred"
EVENT_MESSAGE_DEAD_LETTERED: Final = "message_dead_lettered"
EVENT_MESSAGE_RETRY: Final = "message_retry"
EVENT_S3_TEST_EVENT: Final = "s3_test_event"
EVENT_INVOCATION_SUMMARY: Final = "invocation_summary"
#: A retried message's visibility was set (``visibility_timeout`` seconds: the backoff).
EVENT_MESSAGE_RETRY_DELAYED: Final = "message_retry_delayed"

#: Events that end the handler's work on an object (one per object, per settled delivery).
TERMINAL_EVENTS: Final = frozenset(
    {
        EVENT_OBJECT_STORED,
        EVENT_OBJECT_PARTIALLY_STORED,
        EVENT_OBJECT_DEAD_LETTERED,
        EVENT_OBJECT_IGNORED,
        EVENT_OBJECT_REMOVED,
    }
)
#: Events that end the handler's work on a whole message that names no object.
MESSAGE_TERMINAL_EVENTS: Final = frozenset({EVENT_MESSAGE_DEAD_LETTERED, EVENT_S3_TEST_EVENT})
#: Events that mean "this will be tried again".
RETRY_EVENTS: Final = frozenset({EVENT_OBJECT_RETRY, EVENT_MESSAGE_RETRY, EVENT_OBJECT_DEAD_LETTER_DEFERRED})

# ------------------------------------------------------------------------------ item keys (items.py)


def source_pk(bucket: str, key: str) -> str:
    """Partition key of the items generated from the records of ``s3://bucket/key``."""
    return f"SRC#s3://{bucket}/{key}"


def record_pk(bucket: str, key: str, shard: int) -> str:
    """Partition key of shard ``shard`` of the object's generated records (0: :func:`source_pk`)."""
    return source_pk(bucket, key) if shard == 0 else f"SRC#{shard}#s3://{bucket}/{key}"


def shard_of(ordinal: int, shards: int) -> int:
    """The shard of the ``ordinal``-th entry (round-robin)."""
    return (ordinal - 1) % shards if shards > 1 else 0


def rejection_pk(bucket: str, key: str) -> str:
    """Partition key of the object's rejection reports."""
    return f"REJECT#s3://{bucket}/{key}"


def head_pk(bucket: str, key: str) -> str:
    """Partition key of the object's head item (which version its records are from)."""
    return f"HEAD#s3://{bucket}/{key}"


#: Sort key of the head item.
HEAD_SK: Final = "HEAD"


def record_sort_key(ordinal: int) -> str:
    """Sort key of the generated item for the ``ordinal``-th entry of the object (1-based)."""
    return f"REC#{ordinal:010d}"


def rejection_sort_key(line: int, ordinal: int | None = None) -> str:
    """Sort key of a rejection report: the line, plus the ordinal for JSON array elements."""
    if ordinal is None:
        return f"LINE#{line:010d}"
    return f"LINE#{line:010d}#{ordinal:010d}"


# ------------------------------------------------------------------------------ limits (formats/)

#: The longest line the handler accepts (bytes); a longer line is rejected, not stored.
MAX_LINE_BYTES: Final = 16 << 20
