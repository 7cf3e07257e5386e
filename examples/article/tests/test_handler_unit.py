"""The article's handler (handler/main.py) on AWS-shaped events, with S3 and DynamoDB stubbed: no emulator, no stack.

The events come from ``s3pipe.strategies``: what this module's notification sends (``s3:ObjectCreated:*``
for keys ending in ``.json``, one message per invocation as ``batch_size = 1`` says), the
``s3:TestEvent`` S3 sends when the notification is configured, any key people write. Each object
holds one JSON log record, as the article's ``server-log.json`` does. botocore's Stubber answers the
handler's two calls and checks their parameters: the key decoded from the notification, the item
as DynamoDB receives it.

Finding: a record with a number that is not an integer (``"latency": 0.25``) makes the handler raise
``TypeError: Float types are not supported``: ``json.loads`` reads it as a float, which boto3's
DynamoDB serializer refuses. The message is retried, then dead-lettered, and the record is never
stored. The handler is the article's code as written; the last test documents the failure.
"""

from __future__ import annotations

import importlib.util
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote_plus

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from s3pipe.strategies import (
    bucket_names,
    json_records,
    json_text,
    object_keys,
    s3_event_record,
    s3_notification_bodies,
    s3_notification_body,
    s3_test_event_body,
    sqs_event,
    sqs_events,
    sqs_record,
)

HANDLER = Path(__file__).resolve().parents[1] / "handler" / "main.py"
TABLE = "ServerLogsTable"
BUCKET = "row-data-server-log-bucket"
# What main.tf's notification delivers: created objects whose key ends in .json, one message per invocation.
ARTICLE_EVENTS = sqs_events(
    s3_notification_bodies(bucket=BUCKET, keys=object_keys(suffixes=".json"), test_events=True),
    max_size=1,
    region="ap-northeast-1",
)


@pytest.fixture(scope="module")
def article() -> Iterator[ModuleType]:
    """The handler module, imported as Lambda would: TABLE_NAME set, clients made at import."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "TABLE_NAME": TABLE,
            "AWS_DEFAULT_REGION": "ap-northeast-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
        }.items():
            env.setenv(name, value)
        spec = importlib.util.spec_from_file_location("article_handler", HANDLER)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module


@st.composite
def log_records(draw: st.DrawFn) -> dict[str, Any]:
    """A log record as the article stores it: its table's keys, then anything JSON with integer numbers."""
    user = draw(st.integers(0, 10**6))
    record = {"PK": f"USER#{user}", "SK": f"LOG#{draw(st.integers(0, 10**9))}"}
    return record | draw(json_records(exclude_names=("PK", "SK"), non_integers=False, min_size=0))


def object_body(text: str) -> dict[str, Any]:
    data = text.encode()
    return {"Body": StreamingBody(io.BytesIO(data), len(data))}


@contextmanager
def stubbed(article: ModuleType, objects: list[tuple[str, str, dict[str, Any]]]) -> Iterator[None]:
    """S3 serves each object once, DynamoDB takes each one's item once, in this order: nothing else is called."""
    with Stubber(article.s3_client) as s3, Stubber(article.dynamo_table.meta.client) as dynamodb:
        for bucket, key, record in objects:
            s3.add_response("get_object", object_body(json_text(record)), {"Bucket": bucket, "Key": key})
            # The Table resource's call as the handler makes it; boto3 turns it into DynamoDB JSON afterwards.
            dynamodb.add_response("put_item", {}, {"TableName": TABLE, "Item": record})
        yield
        s3.assert_no_pending_responses()
        dynamodb.assert_no_pending_responses()


@settings(deadline=None)
@given(event=ARTICLE_EVENTS, data=st.data())
def test_every_created_object_becomes_one_item(article: ModuleType, event: dict[str, Any], data: st.DataObject) -> None:
    objects = []
    for message in event["Records"]:
        for record in json.loads(message["body"]).get("Records", []):  # an s3:TestEvent has none
            key = unquote_plus(record["s3"]["object"]["key"])
            objects.append((record["s3"]["bucket"]["name"], key, data.draw(log_records(), label=key)))

    with stubbed(article, objects):
        assert article.lambda_handler(event, None) == {"written": len(objects)}


def test_the_test_event_writes_nothing(article: ModuleType) -> None:
    event = sqs_event([sqs_record(s3_test_event_body(BUCKET))])
    with stubbed(article, []):
        assert article.lambda_handler(event, None) == {"written": 0}


@settings(deadline=None)
@given(bucket=bucket_names(), key=object_keys(suffixes=".json"), number=st.decimals(allow_nan=False, places=3))
def test_finding_a_record_with_a_non_integer_number_is_never_stored(
    article: ModuleType, bucket: str, key: str, number: Decimal
) -> None:
    text = json_text({"PK": "USER#1", "SK": "LOG#1", "latency": number})  # e.g. {..., "latency": 0.250}
    event = sqs_event([sqs_record(s3_notification_body([s3_event_record(bucket, key, size=len(text.encode()))]))])
    with Stubber(article.s3_client) as s3, Stubber(article.dynamo_table.meta.client) as dynamodb:
        s3.add_response("get_object", object_body(text), {"Bucket": bucket, "Key": key})
        item = {"PK": "USER#1", "SK": "LOG#1", "latency": float(number)}  # json.loads reads a float
        dynamodb.add_response("put_item", {}, {"TableName": TABLE, "Item": item})
        with pytest.raises(TypeError, match=r"^Float types are not supported\. Use Decimal types instead\.$"):
            article.lambda_handler(event, None)
        s3.assert_no_pending_responses()
        with pytest.raises(AssertionError, match="1 responses remaining in queue"):
            dynamodb.assert_no_pending_responses()  # the call never went out: the item is not stored
