"""The event a Lambda SQS event source mapping delivers, and message bodies that are not S3's.

Each record carries ``messageId``, ``receiptHandle``, ``body``, ``attributes`` (with
``ApproximateReceiveCount``), ``messageAttributes``, ``md5OfBody`` (the body's real MD5),
``eventSource``, ``eventSourceARN`` and ``awsRegion``. All records of one event come from one
queue. A standard queue (S3 cannot notify a FIFO queue), so no ``MessageGroupId`` or
``SequenceNumber``. SQS bodies are at least one character of XML's character set, which every
body strategy here respects.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from typing import Any, Final

from hypothesis import strategies as st

from s3pipe.strategies.aws import OpaqueIds, account_ids, opaque_ids, queue_arn, queue_names, regions, strategy_of
from s3pipe.strategies.s3 import s3_notification_bodies

#: The queue :func:`sqs_record` says a message came from unless told otherwise.
DEFAULT_QUEUE_ARN: Final = "arn:aws:sqs:us-east-1:000000000000:ingest"
#: Most messages one Lambda invocation receives from a standard queue without a batching window.
MAX_BATCH_SIZE: Final = 10
#: With a batching window, the event source mapping's own limit.
MAX_BATCH_SIZE_WITH_WINDOW: Final = 10_000

# SQS accepts #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF in a body.
_SQS_TEXT = st.characters(
    codec="utf-8",
    exclude_categories=["Cs"],
    exclude_characters=[chr(c) for c in range(0x20) if c not in (0x9, 0xA, 0xD)] + ["\ufffe", "\uffff"],
)


def sqs_record(
    body: str,
    message_id: str | None = None,
    *,
    queue_arn: str = DEFAULT_QUEUE_ARN,
    receive_count: int = 1,
    sent_timestamp: int = 1545082649183,
    first_receive_timestamp: int | None = None,
    sender_id: str = "AIDAIENQZJOLO23YVJ4VO",
    receipt_handle: str = "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
) -> dict[str, Any]:
    """One record of an SQS event: ``body`` as received from ``queue_arn`` (its region is the record's).

    Without ``message_id``, a fresh UUID, as SQS gives every message.
    """
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": receipt_handle,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent_timestamp),
            "SenderId": sender_id,
            "ApproximateFirstReceiveTimestamp": str(
                sent_timestamp + 2 if first_receive_timestamp is None else first_receive_timestamp
            ),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def sqs_event(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The Lambda event for a batch of :func:`sqs_record` records."""
    return {"Records": list(records)}


def sqs_events(
    bodies: st.SearchStrategy[str] | None = None,
    *,
    min_size: int = 1,
    max_size: int = MAX_BATCH_SIZE,
    queue_arn: str | st.SearchStrategy[str] | None = None,
    region: str | Iterable[str] | st.SearchStrategy[str] | None = None,
    receive_counts: st.SearchStrategy[int] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Events an SQS event source mapping delivers: ``min_size``..``max_size`` messages from one queue.

    ``bodies`` default to :func:`~s3pipe.strategies.s3.s3_notification_bodies` in the queue's region
    (S3 notifies queues in its own region); pass any strategy of strings, e.g.
    ``st.one_of(s3_notification_bodies(), malformed_bodies())``. Pin the queue with ``queue_arn`` or
    only its ``region``. ``receive_counts`` default to 1..5 (a message seen again after a failure).
    """
    if not 1 <= min_size <= max_size <= MAX_BATCH_SIZE_WITH_WINDOW:
        raise ValueError(
            f"need 1 <= min_size <= max_size <= {MAX_BATCH_SIZE_WITH_WINDOW}, got {min_size} and {max_size}"
        )
    if queue_arn is not None and region is not None:
        raise ValueError("pass queue_arn or region, not both: the queue's ARN names its region")
    arns = (
        _queue_arns(regions() if region is None else strategy_of(region, scalar=str))
        if queue_arn is None
        else strategy_of(queue_arn, scalar=str)
    )
    return _sqs_events(
        arns, bodies, min_size, max_size, st.integers(1, 5) if receive_counts is None else receive_counts
    )


@st.composite
def _queue_arns(draw: st.DrawFn, regions: st.SearchStrategy[str]) -> str:
    return queue_arn(draw(regions), draw(account_ids()), draw(queue_names()))


@st.composite
def _sqs_events(  # noqa: PLR0917 -- one argument per strategy
    draw: st.DrawFn,
    arns: st.SearchStrategy[str],
    bodies: st.SearchStrategy[str] | None,
    min_size: int,
    max_size: int,
    receive_counts: st.SearchStrategy[int],
) -> dict[str, Any]:
    arn = draw(arns)
    if bodies is None:
        bodies = s3_notification_bodies(region=arn.split(":")[3])
    message_ids = draw(st.lists(st.uuids(), min_size=min_size, max_size=max_size, unique=True))
    records = []
    for message_id in message_ids:
        sent = draw(st.integers(1_577_836_800_000, 2_051_222_400_000))  # 2020..2035, epoch milliseconds
        ids = draw(opaque_ids())
        records.append(
            sqs_record(
                draw(bodies),
                str(message_id),
                queue_arn=arn,
                receive_count=draw(receive_counts),
                sent_timestamp=sent,
                first_receive_timestamp=sent + draw(st.integers(0, 900_000)),
                sender_id=_sender_id(ids),
                receipt_handle="AQEB" + ids.b64(96, 200),
            )
        )
    return sqs_event(records)


def _sender_id(ids: OpaqueIds) -> str:
    """``SenderId``: an IAM user's unique id, or an assumed role's id and session."""
    unique_id = ids.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17)
    if ids.pick(("user", "role")) == "user":
        return f"AIDA{unique_id}"
    return f"AROA{unique_id}:{ids.text('abcdefghijklmnopqrstuvwxyz0123456789-', 2, 64)}"


# ------------------------------------------------------------------------ bodies that are not S3's


def non_s3_json_bodies() -> st.SearchStrategy[str]:
    """JSON bodies that are not an S3 notification.

    Other JSON objects and values, ``Records`` that are empty, not a list or from another service,
    an SNS envelope (S3 -> SNS -> SQS without raw delivery), and an S3 notification encoded twice
    (a JSON string).
    """
    # json.dumps escapes every character outside printable ASCII: any text makes a valid SQS body.
    keys = st.text(max_size=8).filter(lambda k: k not in ("Records", "Event"))
    return st.one_of(
        st.one_of(
            st.dictionaries(keys, st.integers(), max_size=4),
            st.lists(st.integers(), max_size=3),
            st.integers(),
            st.text(max_size=20),
            st.just({"Records": []}),
            st.just({"Records": [{"eventSource": "aws:dynamodb"}]}),
            st.just({"Records": "nope"}),
            st.just({"Type": "Notification", "Message": "{}"}),
        ).map(json.dumps),
        s3_notification_bodies(max_records=1).map(_sns_envelope),
        s3_notification_bodies(max_records=1).map(json.dumps),
    )


def _sns_envelope(message: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:uploads",
            "Subject": "Amazon S3 Notification",
            "Message": message,
            "Timestamp": "2025-10-20T10:30:00.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=EXAMPLE",
        }
    )


def non_json_bodies() -> st.SearchStrategy[str]:
    """Bodies that are not JSON at all (but are valid SQS bodies)."""
    return st.text(_SQS_TEXT, min_size=1, max_size=40).filter(lambda s: s.strip() != "" and not _is_json(s))


def blank_bodies() -> st.SearchStrategy[str]:
    """Bodies of white space only (SQS refuses an empty body, not a blank one)."""
    return st.text(" \t\r\n", min_size=1, max_size=6)


def malformed_bodies() -> st.SearchStrategy[str]:
    """Any body an S3 handler must refuse: :func:`non_s3_json_bodies`, :func:`non_json_bodies`, :func:`blank_bodies`."""
    return st.one_of(non_s3_json_bodies(), non_json_bodies(), blank_bodies())


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
