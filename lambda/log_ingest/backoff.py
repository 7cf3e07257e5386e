"""Exponential, capped backoff for transient failures: a retried message stays invisible for
``min(max, base * 2 ** (receive_count - 1))`` seconds instead of the queue's whole visibility timeout.

The handler reports the message in ``batchItemFailures`` as before; before returning it sets the
message's visibility with ``ChangeMessageVisibility`` (the SQS record's ``receiptHandle``, the
queue named by its ``eventSourceARN``), so SQS redelivers it after the delay. One call per retried
message, not the batch call: AWS authorises ``ChangeMessageVisibilityBatch`` with
``sqs:ChangeMessageVisibility``, but MiniStack's IAM enforcement asks for an action
``sqs:ChangeMessageVisibilityBatch`` that AWS does not have; retried messages are few per
invocation. The first retry comes soon (a throttled table often recovers within seconds), later
ones less and less often, and the queue's ``maxReceiveCount`` still bounds the attempts. Best effort: when the call
fails, the message simply comes back after the queue's visibility timeout, as without backoff (logged).

Settings: ``RETRY_BACKOFF_BASE_SECONDS`` (0 disables the backoff) and ``RETRY_BACKOFF_MAX_SECONDS``
(Terraform: ``retry_backoff_base_seconds`` / ``retry_backoff_max_seconds``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from botocore.exceptions import BotoCoreError, ClientError

from .config import Dependencies
from .continuation import queue_url
from .errors import TransientError, describe_aws_error
from .events import SqsMessage
from .logs import EVENT_MESSAGE_RETRY_DELAYED, EVENT_RETRY_DELAY_FAILED, EventLog

#: SQS's limit: 12 hours of visibility.
MAX_VISIBILITY_S: Final = 43_200


def retry_delay(receive_count: int | None, base_s: int, max_s: int) -> int | None:
    """Seconds the message stays invisible before its next attempt (None: backoff disabled)."""
    if base_s <= 0:
        return None
    attempt = max(1, receive_count or 1)
    delay: int = base_s << min(attempt - 1, 30)
    return min(max_s, MAX_VISIBILITY_S, delay)


def delay_retries(deps: Dependencies, messages: Sequence[SqsMessage]) -> None:
    """Set the visibility of the messages about to be retried (never raises)."""
    settings = deps.settings
    by_queue: dict[str, list[tuple[SqsMessage, int]]] = {}
    for message in messages:
        delay = retry_delay(message.receive_count, settings.retry_backoff_base_s, settings.retry_backoff_max_s)
        if delay is None or not message.receipt_handle or not message.event_source_arn:
            continue
        by_queue.setdefault(message.event_source_arn, []).append((message, delay))
    for arn, pending in by_queue.items():
        for message, delay in pending:
            _delay(deps, arn, message, delay)


def _delay(deps: Dependencies, arn: str, message: SqsMessage, delay: int) -> None:
    log = EventLog(message_id=message.message_id, receive_count=message.receive_count)
    try:
        url = queue_url(deps.sqs, arn, deps.queue_urls)
        deps.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=str(message.receipt_handle), VisibilityTimeout=delay
        )
    except TransientError as exc:
        log.warning(EVENT_RETRY_DELAY_FAILED, reason=exc.reason, visibility_timeout=delay)
    except (ClientError, BotoCoreError) as exc:
        reason = f"ChangeMessageVisibility failed: {describe_aws_error(exc)}"
        log.warning(EVENT_RETRY_DELAY_FAILED, reason=reason, visibility_timeout=delay)
    else:
        log.info(EVENT_MESSAGE_RETRY_DELAYED, visibility_timeout=delay)
