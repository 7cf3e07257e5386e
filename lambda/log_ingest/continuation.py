"""Continuation messages: finishing an object that needs more than one invocation.

When the time budget runs out in the middle of an object after entries 1..N of it are durably
handled (every record <= N written, every rejected entry <= N reported), the handler sends a
*continuation message* to the queue the event came from and settles the current message. The
next invocation resumes the object after entry N. Continuations are only sent once something has
been written: an object whose first pass is still held back / validated (ingest.py) is retried
as before, so "permanently bad object -> nothing written, DLQ" still holds.

Body (JSON, version 1; ASCII, compact; unknown keys are ignored by readers of version 1)::

    {
      "s3pipe_continuation": 1,                 # format version (marks the body as a continuation)
      "record": {...},                          # the original S3 event record, verbatim
      "resume_after": N,                        # entries with ordinal <= N are done (0: from the start)
      "pass": k,                                # number of the pass this message starts (1 = the S3 event)
      "origin_message_id": "...",               # the SQS message id of the S3 event (first pass)
      "totals": {                               # counts of passes 1..k-1 (entries 1..N)
        "records": R, "stored": S, "rejected": J,
        "formats": ["jsonl", ...]               # optional: source formats seen so far
      },
      "etag": "\\"...\\"",                        # optional: ETag read by pass 1 (If-Match on later passes)
      "complete_through": M,                    # optional: all written; only complete the head (last entry M)
      "reports": [                              # optional: rejection reports of entries <= N not yet durable
        {"line": L, "ordinal": O, "reason": "...", "excerpt": "...", "array_element": false}
      ]
    }

``reports`` carries the reports of records DynamoDB refused so late in a pass that their report
could not be written before the budget ran out (at most :data:`MAX_CARRIED_REPORTS`; N stops
before the first refusal beyond that). They are counted in ``totals`` and written first by the
next pass, so a refused record never holds an object back from making progress.

``record`` keeps the S3 record exactly as S3 sent it (key URL-encoded), so bucket, key and
version id of every log line of every pass are the same as for the S3 event. A later pass reads
the same object: GetObject with the record's ``versionId`` when it has one, otherwise with
``IfMatch`` = ``etag`` (or the record's ``eTag``); a changed object is a permanent failure
("object changed between passes"). Entries <= N are parsed again (ordinals and line numbers stay
exact) but not written and not reported again. A message with several S3 records: once one of
them is continued, the budget is spent, so every later record of that message is handed over
unstarted, as a continuation with ``resume_after`` 0 and ``pass`` 1 (so the message can be
settled instead of retried, which would start the continued object a second time).

The queue URL is looked up once per container from the SQS record's ``eventSourceARN``
(``arn:<partition>:sqs:<region>:<account>:<name>`` -> ``GetQueueUrl``). Any failure to build or
send the message is a :class:`TransientError`: the handler then reports the message for retry
(the items already written are idempotent).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from .errors import TransientError, describe_aws_error
from .events import CONTINUATION_MARKER, CONTINUATION_VERSION, Totals
from .formats import Rejection

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

_ARN_PARTS: Final = 6
#: Rejection reports one continuation message may carry (each at most ~1.5 KB: SQS takes 256 KB).
MAX_CARRIED_REPORTS: Final = 50


def continuation_body(
    record: Mapping[str, Any],
    *,
    resume_after: int,
    pass_number: int,
    origin_message_id: str,
    totals: Totals,
    etag: str | None,
    reports: tuple[Rejection, ...] = (),
    complete_through: int = 0,
) -> str:
    """The JSON body of a continuation message (see the module docstring)."""
    document: dict[str, Any] = {
        CONTINUATION_MARKER: CONTINUATION_VERSION,
        "record": record,
        "resume_after": resume_after,
        "pass": pass_number,
        "origin_message_id": origin_message_id,
        "totals": {
            "records": totals.records,
            "stored": totals.stored,
            "rejected": totals.rejected,
            "formats": list(totals.formats),
        },
    }
    if etag:
        document["etag"] = etag
    if complete_through:
        document["complete_through"] = complete_through
    if reports:
        document["reports"] = [
            {
                "line": r.line,
                "ordinal": r.ordinal,
                "reason": r.reason,
                "excerpt": r.excerpt,
                "array_element": r.array_element,
            }
            for r in reports
        ]
    # ensure_ascii: the body is plain ASCII, which SQS always accepts (even lone surrogates).
    return json.dumps(document, separators=(",", ":"), default=str)


def parse_queue_arn(arn: str) -> tuple[str, str]:
    """``arn:aws:sqs:<region>:<account>:<name>`` -> (account, name); TransientError otherwise."""
    parts = arn.split(":", _ARN_PARTS - 1)
    if len(parts) != _ARN_PARTS or parts[0] != "arn" or parts[2] != "sqs" or not parts[4] or not parts[5]:
        raise TransientError(f"cannot send a continuation: eventSourceARN {arn!r} is not an SQS queue ARN")
    return parts[4], parts[5]


def queue_url(sqs: SQSClient, arn: str | None, cache: dict[str, str]) -> str:
    """The URL of the queue ``arn`` names (``GetQueueUrl``, cached in ``cache`` by ARN)."""
    if not arn:
        raise TransientError("cannot send a continuation: the SQS record has no eventSourceARN")
    cached = cache.get(arn)
    if cached is not None:
        return cached
    account, name = parse_queue_arn(arn)
    try:
        response = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
    except (ClientError, BotoCoreError) as exc:
        raise TransientError(f"looking up the URL of queue {name} failed: {describe_aws_error(exc)}") from exc
    url = response.get("QueueUrl")
    if not isinstance(url, str) or not url:
        raise TransientError(f"GetQueueUrl returned no URL for queue {name}")
    cache[arn] = url
    return url


def send_continuation(sqs: SQSClient, arn: str | None, body: str, cache: dict[str, str]) -> str:
    """Send ``body`` to the queue ``arn`` names; returns the new message's id (TransientError)."""
    url = queue_url(sqs, arn, cache)
    try:
        response = sqs.send_message(QueueUrl=url, MessageBody=body)
    except (ClientError, BotoCoreError) as exc:
        raise TransientError(f"sending the continuation message failed: {describe_aws_error(exc)}") from exc
    return str(response.get("MessageId", ""))
