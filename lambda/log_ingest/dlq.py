"""Permanent failures go straight to the dead-letter queue, with the reason.

Message format (``sqs.send_message`` to ``DLQ_URL``):

* body: the original SQS message body when the body itself is bad (not JSON, not an S3 event,
  empty -- an empty body is sent as ``(empty message body)`` because SQS refuses empty bodies),
  or when the S3 event held exactly one S3 record; otherwise the S3 event reduced to the failed
  record: ``{"Records": [<the failed S3 record, verbatim>]}`` -- so a redrive reprocesses exactly
  what failed. One DLQ message per failed S3 record.
* String message attributes: ``FailureReason`` (specific, at most 1024 bytes), ``FailureClass``
  (``permanent``), ``SourceMessageId``, and when known ``ObjectBucket``, ``ObjectKey`` (decoded)
  and ``ObjectVersionId``.

A failed send raises TransientError: the source message is then reported in batchItemFailures
(SQS retries it and eventually redrives it after maxReceiveCount).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from .errors import TransientError, describe_aws_error

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

MAX_REASON_BYTES: Final = 1024
EMPTY_BODY_PLACEHOLDER: Final = "(empty message body)"
FAILURE_CLASS_PERMANENT: Final = "permanent"

# Characters SQS accepts in message bodies and attribute values.
_INVALID_SQS_CHARS: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def sqs_safe(text: str) -> str:
    """Replace characters SQS refuses (control characters, lone surrogates) with U+FFFD."""
    return _INVALID_SQS_CHARS.sub("\ufffd", text)


def truncate_utf8(text: str, limit: int = MAX_REASON_BYTES) -> str:
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", "ignore") + "..."


def build_attributes(
    *,
    reason: str,
    source_message_id: str,
    bucket: str | None = None,
    key: str | None = None,
    version_id: str | None = None,
) -> dict[str, MessageAttributeValueTypeDef]:
    values = {
        "FailureReason": truncate_utf8(sqs_safe(reason) or "unknown"),
        "FailureClass": FAILURE_CLASS_PERMANENT,
        "SourceMessageId": sqs_safe(source_message_id),
        "ObjectBucket": sqs_safe(bucket) if bucket else "",
        "ObjectKey": sqs_safe(key) if key else "",
        "ObjectVersionId": sqs_safe(version_id) if version_id else "",
    }
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items() if value}


def send_to_dlq(
    sqs: SQSClient,
    queue_url: str,
    *,
    body: str,
    reason: str,
    source_message_id: str,
    bucket: str | None = None,
    key: str | None = None,
    version_id: str | None = None,
) -> str:
    """Send one DLQ message; returns its MessageId. Raises TransientError when the send fails."""
    attributes = build_attributes(
        reason=reason, source_message_id=source_message_id, bucket=bucket, key=key, version_id=version_id
    )
    try:
        response = sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=sqs_safe(body) if body else EMPTY_BODY_PLACEHOLDER,
            MessageAttributes=attributes,
        )
    except (ClientError, BotoCoreError) as exc:
        raise TransientError(f"sending to the DLQ failed: {describe_aws_error(exc)}") from exc
    return str(response.get("MessageId", ""))
