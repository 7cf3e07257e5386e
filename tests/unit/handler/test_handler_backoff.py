"""Exponential, capped visibility backoff for transient failures (backoff.py)."""

from __future__ import annotations

from typing import Any

import pytest

from log_ingest import logs
from log_ingest.backoff import retry_delay
from log_ingest.handler import handle
from s3pipe.strategies import s3_event_record, s3_notification_body, sqs_event, sqs_record

from .fakes import QUEUE_URL, client_error, make_world
from .test_handler_continuation import captured, named

logs.configure("INFO")


def test_the_delay_doubles_per_receive_and_is_capped() -> None:
    assert [retry_delay(n, 5, 60) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert retry_delay(None, 5, 60) == 5
    assert retry_delay(10_000, 5, 10**9) == 43_200  # SQS's 12-hour limit
    assert retry_delay(3, 0, 60) is None  # disabled


def _message(receive_count: int, message_id: str = "m") -> dict[str, Any]:
    record = sqs_record(s3_notification_body([s3_event_record("b", "k.jsonl")]), message_id)
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    record["receiptHandle"] = f"rh-{message_id}"
    return record


@pytest.mark.parametrize(("receive_count", "delay"), [(1, 2), (2, 4), (3, 8), (6, 30)])
def test_a_throttled_message_is_hidden_longer_on_each_receive(receive_count: int, delay: int) -> None:
    world = make_world(retry_backoff_base_s=2, retry_backoff_max_s=30)
    world.s3.put("b", "k.jsonl", b'{"a": 1}\n')
    world.dynamodb.always_error = client_error("ProvisionedThroughputExceededException", "BatchWriteItem")
    with captured() as events:
        response = handle(sqs_event([_message(receive_count)]), world.context(), world.deps)  # type: ignore[arg-type]
    assert response == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    assert world.sqs.visibility_calls == [{"QueueUrl": QUEUE_URL, "ReceiptHandle": "rh-m", "VisibilityTimeout": delay}]
    (delayed,) = named(events, "message_retry_delayed")
    assert (delayed["message_id"], delayed["visibility_timeout"]) == ("m", delay)


def test_settled_messages_are_not_delayed_and_backoff_can_be_disabled() -> None:
    world = make_world(retry_backoff_base_s=2, retry_backoff_max_s=30)
    world.s3.put("b", "k.jsonl", b'{"a": 1}\n')
    assert handle(sqs_event([_message(1)]), world.context(), world.deps) == {"batchItemFailures": []}  # type: ignore[arg-type]
    assert world.sqs.visibility_calls == []

    world = make_world()  # default: 0 = off, the queue's visibility timeout applies
    world.dynamodb.always_error = client_error("ProvisionedThroughputExceededException", "BatchWriteItem")
    world.s3.put("b", "k.jsonl", b'{"a": 1}\n')
    assert handle(sqs_event([_message(1)]), world.context(), world.deps)["batchItemFailures"]  # type: ignore[arg-type]
    assert world.sqs.visibility_calls == []


def test_a_failed_visibility_change_is_logged_and_the_message_still_retried() -> None:
    world = make_world(retry_backoff_base_s=2, retry_backoff_max_s=30)
    world.s3.put("b", "k.jsonl", b'{"a": 1}\n')
    world.dynamodb.always_error = client_error("ProvisionedThroughputExceededException", "BatchWriteItem")
    world.sqs.visibility_error = client_error("AccessDenied", "ChangeMessageVisibility", "not allowed", 403)
    with captured() as events:
        response = handle(sqs_event([_message(2)]), world.context(), world.deps)  # type: ignore[arg-type]
    assert response == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    (failed,) = named(events, "retry_delay_failed")
    assert "AccessDenied" in failed["reason"]
    assert failed["visibility_timeout"] == 4
