"""The same handler against real boto3 clients under botocore's Stubber.

The Stubber validates every request against the service model, so these tests prove the wire
shapes (GetObject, BatchWriteItem/PutItem AttributeValues, SendMessage attributes, GetQueueUrl)
are what the real services accept -- still without any network call.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from log_ingest.config import Dependencies, Settings
from log_ingest.continuation import continuation_body
from log_ingest.events import Totals
from log_ingest.handler import handle
from s3pipe.strategies import s3_event_record, s3_notification_body, sqs_event, sqs_record

from .fakes import DLQ_URL, QUEUE_URL, FakeClock, FakeContext


def _client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def stubbed() -> Iterator[tuple[Dependencies, Stubber, Stubber, Stubber]]:
    s3, dynamodb, sqs = _client("s3"), _client("dynamodb"), _client("sqs")
    clock = FakeClock()
    deps = Dependencies(
        settings=Settings(table_name="events", dlq_url=DLQ_URL, write_concurrency=1),
        s3=s3,
        dynamodb=dynamodb,
        sqs=sqs,
        sleep=clock.sleep,
        random=lambda: 0.0,
        clock=clock,
    )
    with Stubber(s3) as s3_stub, Stubber(dynamodb) as ddb_stub, Stubber(sqs) as sqs_stub:
        yield deps, s3_stub, ddb_stub, sqs_stub
        s3_stub.assert_no_pending_responses()
        ddb_stub.assert_no_pending_responses()
        sqs_stub.assert_no_pending_responses()


SEQ = "0055AED6DCD90281E5".rjust(40, "0")  # s3_event_record's default sequencer, padded (versions.py)


def _claim(ddb_stub: Stubber, bucket: str, key: str, version_id: str = "", old: dict[str, Any] | None = None) -> None:
    """The object's head claim before its first write (versions.py)."""
    ddb_stub.add_response(
        "update_item",
        {"Attributes": old} if old else {},
        {
            "TableName": "events",
            "Key": {"PK": {"S": f"HEAD#s3://{bucket}/{key}"}, "SK": {"S": "HEAD"}},
            "UpdateExpression": (
                "SET seq = :s, version_id = :v, #r = :r, hwm = if_not_exists(hwm, :zero), "
                "cleaned = if_not_exists(cleaned, :s)"
            ),
            "ConditionExpression": "attribute_not_exists(seq) OR seq <= :s",
            "ExpressionAttributeNames": {"#r": "record"},
            "ExpressionAttributeValues": {
                ":s": {"S": SEQ},
                ":v": {"S": version_id},
                ":r": {"S": ANY},
                ":zero": {"N": "0"},
            },
            "ReturnValues": "ALL_OLD",
        },
    )


def _complete(ddb_stub: Stubber, bucket: str, key: str, last_ordinal: int) -> None:
    ddb_stub.add_response(
        "update_item",
        {},
        {
            "TableName": "events",
            "Key": {"PK": {"S": f"HEAD#s3://{bucket}/{key}"}, "SK": {"S": "HEAD"}},
            "UpdateExpression": "SET hwm = :n, shards = :shards",
            "ConditionExpression": "seq = :s",
            "ExpressionAttributeValues": {":s": {"S": SEQ}, ":n": {"N": str(last_ordinal)}, ":shards": {"N": "1"}},
        },
    )


def _body(data: bytes) -> dict[str, Any]:
    return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ETag": '"e1"', "ContentLength": len(data)}


def test_wire_shapes_of_a_full_invocation(stubbed: tuple[Dependencies, Stubber, Stubber, Stubber]) -> None:
    deps, s3_stub, ddb_stub, sqs_stub = stubbed
    key = "incoming/2025 10/ログ+1.jsonl"
    data = b'{"msg": "hi", "n": 1.50, "tags": ["a"], "meta": {"ok": true, "none": null}}\nnot json\n'
    s3_stub.add_response("get_object", _body(data), {"Bucket": "bkt", "Key": key, "VersionId": "v1"})
    pk = f"SRC#s3://bkt/{key}"
    _claim(ddb_stub, "bkt", key, "v1")
    ddb_stub.add_response(
        "batch_write_item",
        {"UnprocessedItems": {}},
        {
            "RequestItems": {
                "events": [
                    {
                        "PutRequest": {
                            "Item": {
                                "msg": {"S": "hi"},
                                "n": {"N": "1.50"},
                                "tags": {"L": [{"S": "a"}]},
                                "meta": {"M": {"ok": {"BOOL": True}, "none": {"NULL": True}}},
                                "PK": {"S": pk},
                                "SK": {"S": "REC#0000000001"},
                                "src_bucket": {"S": "bkt"},
                                "src_key": {"S": key},
                                "src_line": {"N": "1"},
                                "src_format": {"S": "jsonl"},
                            }
                        }
                    },
                    {
                        "PutRequest": {
                            "Item": {
                                "PK": {"S": f"REJECT#s3://bkt/{key}"},
                                "SK": {"S": "LINE#0000000002"},
                                "reason": {"S": "invalid JSON: Expecting value (column 1)"},
                                "excerpt": {"S": "not json"},
                                "src_bucket": {"S": "bkt"},
                                "src_key": {"S": key},
                                "src_line": {"N": "2"},
                            }
                        }
                    },
                ]
            }
        },
    )
    _complete(ddb_stub, "bkt", key, 2)
    sqs_stub.add_response(
        "send_message",
        {"MessageId": "dlq-1"},
        {
            "QueueUrl": DLQ_URL,
            "MessageBody": "garbage",
            "MessageAttributes": {
                "FailureReason": {
                    "DataType": "String",
                    "StringValue": "message body is not valid JSON (Expecting value at line 1 column 1)",
                },
                "FailureClass": {"DataType": "String", "StringValue": "permanent"},
                "SourceMessageId": {"DataType": "String", "StringValue": "m-2"},
            },
        },
    )
    event = sqs_event(
        [
            sqs_record(s3_notification_body([s3_event_record("bkt", key, version_id="v1")]), "m-1"),
            sqs_record("garbage", "m-2"),
        ]
    )
    assert handle(event, FakeContext(deps.clock), deps) == {"batchItemFailures": []}  # type: ignore[arg-type]


def test_validation_exception_falls_back_to_put_item(
    stubbed: tuple[Dependencies, Stubber, Stubber, Stubber],
) -> None:
    deps, s3_stub, ddb_stub, _ = stubbed
    data = b'{"a": 1}\n{"a": 2}\n'
    s3_stub.add_response("get_object", _body(data), {"Bucket": "b", "Key": "k.jsonl"})
    _claim(ddb_stub, "b", "k.jsonl")
    ddb_stub.add_client_error("batch_write_item", "ValidationException", "Item size has exceeded the maximum")
    ddb_stub.add_response("put_item", {}, {"TableName": "events", "Item": ANY})
    ddb_stub.add_client_error("put_item", "ValidationException", "Item size has exceeded the maximum")
    ddb_stub.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": ANY})
    _complete(ddb_stub, "b", "k.jsonl", 2)
    event = sqs_event([sqs_record(s3_notification_body([s3_event_record("b", "k.jsonl")]), "m")])
    assert handle(event, FakeContext(deps.clock), deps) == {"batchItemFailures": []}  # type: ignore[arg-type]


def test_dlq_message_for_an_object(stubbed: tuple[Dependencies, Stubber, Stubber, Stubber]) -> None:
    deps, s3_stub, _, sqs_stub = stubbed
    s3_stub.add_client_error("get_object", "NoSuchKey", "The specified key does not exist.", 404)
    body = s3_notification_body([s3_event_record("b", "gone file.json")])
    sqs_stub.add_response(
        "send_message",
        {"MessageId": "dlq-1"},
        {
            "QueueUrl": DLQ_URL,
            "MessageBody": body,
            "MessageAttributes": {
                "FailureReason": {
                    "DataType": "String",
                    "StringValue": "GetObject s3://b/gone file.json failed with NoSuchKey: "
                    "the object no longer exists (deleted before it could be read)",
                },
                "FailureClass": {"DataType": "String", "StringValue": "permanent"},
                "SourceMessageId": {"DataType": "String", "StringValue": "m"},
                "ObjectBucket": {"DataType": "String", "StringValue": "b"},
                "ObjectKey": {"DataType": "String", "StringValue": "gone file.json"},
            },
        },
    )
    event = sqs_event([sqs_record(body, "m")])
    assert handle(event, FakeContext(deps.clock), deps) == {"batchItemFailures": []}  # type: ignore[arg-type]


def test_throttled_get_object_is_retried_by_sqs(
    stubbed: tuple[Dependencies, Stubber, Stubber, Stubber],
) -> None:
    deps, s3_stub, _, _ = stubbed
    s3_stub.add_client_error("get_object", "SlowDown", "Please reduce your request rate.", 503)
    event = sqs_event([sqs_record(s3_notification_body([s3_event_record("b", "k.json")]), "m")])
    assert handle(event, FakeContext(deps.clock), deps) == {"batchItemFailures": [{"itemIdentifier": "m"}]}  # type: ignore[arg-type]


def test_continuation_requests(stubbed: tuple[Dependencies, Stubber, Stubber, Stubber]) -> None:
    """A cut object: GetQueueUrl + SendMessage to the event's queue, then pass 2 with If-Match."""
    deps, s3_stub, ddb_stub, sqs_stub = stubbed
    deps = replace(deps, settings=replace(deps.settings, hold_max_entries=10))
    clock = deps.clock
    assert isinstance(clock, FakeClock)

    def four_seconds(**kwargs: Any) -> None:  # every BatchWriteItem call takes 4 s of the budget
        clock.now += 4

    deps.dynamodb.meta.events.register("after-call.dynamodb.BatchWriteItem", four_seconds)
    data = b"".join(b'{"n": %d}\n' % n for n in range(60))
    record = s3_event_record("bkt", "big file.jsonl")
    # pass 1: 2 batches fit in the 8 s budget (10 s minus the 2 s margin), the third does not
    s3_stub.add_response("get_object", _body(data), {"Bucket": "bkt", "Key": "big file.jsonl"})
    _claim(ddb_stub, "bkt", "big file.jsonl")
    for _ in range(2):
        ddb_stub.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": ANY})
    sqs_stub.add_response(
        "get_queue_url",
        {"QueueUrl": QUEUE_URL},
        {"QueueName": "ingest", "QueueOwnerAWSAccountId": "000000000000"},
    )
    body = continuation_body(
        record,
        resume_after=50,
        pass_number=2,
        origin_message_id="m",
        totals=Totals(50, 50, 0, ("jsonl",)),
        etag='"e1"',
    )
    sqs_stub.add_response("send_message", {"MessageId": "c-1"}, {"QueueUrl": QUEUE_URL, "MessageBody": body})
    event = sqs_event([sqs_record(s3_notification_body([record]), "m")])
    assert handle(event, FakeContext(clock, 10_000), deps) == {"batchItemFailures": []}
    # pass 2: same object (If-Match), entries 51..60, no second GetQueueUrl (cached)
    s3_stub.add_response("get_object", _body(data), {"Bucket": "bkt", "Key": "big file.jsonl", "IfMatch": '"e1"'})
    _claim(ddb_stub, "bkt", "big file.jsonl", old={"seq": {"S": SEQ}, "cleaned": {"S": SEQ}, "hwm": {"N": "0"}})
    ddb_stub.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": ANY})
    _complete(ddb_stub, "bkt", "big file.jsonl", 60)
    event = sqs_event([sqs_record(body, "c-1")])
    assert handle(event, FakeContext(clock, 10_000), deps) == {"batchItemFailures": []}
