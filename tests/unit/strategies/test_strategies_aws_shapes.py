"""s3pipe.strategies against someone else's definition of the shapes: Powertools for AWS Lambda's parser models.

Also what the models do not check: the body's MD5, one queue and one region per event, the
partition in every ARN, size/eTag/versionId by event kind, and the parameters that pin values.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    S3Model,
    S3SqsEventNotificationModel,
    SqsModel,
)
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from pydantic import ValidationError

from s3pipe.strategies import (
    OBJECT_CREATED_EVENTS,
    OBJECT_REMOVED_EVENTS,
    bucket_names,
    malformed_bodies,
    object_keys,
    partition_of,
    s3_event_record,
    s3_event_records,
    s3_notification_bodies,
    s3_notification_body,
    s3_test_event_body,
    sqs_event,
    sqs_events,
    sqs_record,
)
from s3pipe.strategies.aws import is_valid_bucket_name

ALL_EVENT_NAMES = (*OBJECT_CREATED_EVENTS, *OBJECT_REMOVED_EVENTS)
#: The fields of the test message in the S3 user guide ("Event message structure", example messages).
TEST_EVENT_FIELDS = {"Service", "Event", "Time", "Bucket", "RequestId", "HostId"}
#: For searches that must come back empty: enough draws to be meaningful, few enough to be quick.
FEW = settings(max_examples=200, database=None)


# ------------------------------------------------------------------------ Powertools' parser models


@given(sqs_events())
def test_every_sqs_event_passes_powertools_sqs_and_s3_models(event: dict[str, Any]) -> None:
    SqsModel.model_validate(event)
    S3SqsEventNotificationModel.model_validate(event)  # every body parsed as JSON, then as S3Model
    for record in event["Records"]:
        S3Model.model_validate_json(record["body"])  # the body is a JSON *string*
    assert_one_queue_one_region_real_digests(event)  # what the models leave unchecked (one draw, two checks)


@given(s3_notification_bodies(event_names=ALL_EVENT_NAMES, max_records=5))
def test_every_notification_body_passes_powertools_s3_model_removals_included(body: str) -> None:
    S3Model.model_validate_json(body)


@given(sqs_events(st.one_of(s3_notification_bodies(test_events=True), malformed_bodies())))
def test_events_with_any_body_pass_the_sqs_model(event: dict[str, Any]) -> None:
    SqsModel.model_validate(event)


@given(s3_notification_bodies(test_events=True))
def test_a_body_is_an_s3_notification_or_the_documented_test_event(body: str) -> None:
    document = json.loads(body)
    if "Records" in document:
        S3Model.model_validate(document)
    else:  # Powertools has no model of s3:TestEvent; the user guide's example message is the reference
        assert set(document) == TEST_EVENT_FIELDS
        assert (document["Service"], document["Event"]) == ("Amazon S3", "s3:TestEvent")


def test_test_events_are_drawn_only_when_asked() -> None:
    is_test_event = lambda body: "s3:TestEvent" in body  # noqa: E731
    assert json.loads(find(s3_notification_bodies(test_events=True), is_test_event))["Event"] == "s3:TestEvent"
    with pytest.raises(NoSuchExample):
        find(s3_notification_bodies(), is_test_event, settings=FEW)


def test_the_models_refuse_what_aws_would_not_send() -> None:
    """The validation above can fail: the models refuse a creation without eTag, a message without receive count."""
    record = s3_event_record("b", "k.json")
    del record["s3"]["object"]["eTag"]
    with pytest.raises(ValidationError, match="Size and eTag fields are required"):
        S3Model.model_validate_json(s3_notification_body([record]))
    message = sqs_record("x", "m-1")
    del message["attributes"]["ApproximateReceiveCount"]
    with pytest.raises(ValidationError, match="ApproximateReceiveCount"):
        SqsModel.model_validate(sqs_event([message]))


def test_the_builders_pass_the_models_too() -> None:
    created = s3_event_record("b", "dir/a b.json", size=12, version_id="v1")
    removed = s3_event_record("b", "dir/a b.json", event_name="ObjectRemoved:Delete")
    event = sqs_event([sqs_record(s3_notification_body([created, removed]), "m-1")])
    S3SqsEventNotificationModel.model_validate(event)
    assert SqsModel.model_validate(sqs_event([sqs_record(s3_test_event_body("b"))]))


# --------------------------------------------------------------- what the models leave unchecked


def assert_one_queue_one_region_real_digests(event: dict[str, Any]) -> None:
    records = event["Records"]
    assert 1 <= len(records) <= 10
    assert len({r["messageId"] for r in records}) == len(records)
    (arn,) = {r["eventSourceARN"] for r in records}
    _, partition, service, region, account, queue = arn.split(":")
    assert (partition, service) == (partition_of(region), "sqs")
    assert account.isdigit()
    assert len(account) == 12
    assert queue
    assert not queue.endswith(".fifo")
    for record in records:
        assert record["awsRegion"] == region
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode(), usedforsecurity=False).hexdigest()
        attributes = record["attributes"]
        assert int(attributes["ApproximateReceiveCount"]) >= 1
        assert int(attributes["ApproximateFirstReceiveTimestamp"]) >= int(attributes["SentTimestamp"])
        for s3_record in json.loads(record["body"])["Records"]:  # S3 notifies queues in its own region
            assert s3_record["awsRegion"] == region
            assert s3_record["s3"]["bucket"]["arn"] == f"arn:{partition}:s3:::{s3_record['s3']['bucket']['name']}"


@given(s3_event_records(event_names=ALL_EVENT_NAMES))
def test_fields_follow_the_event_kind(record: dict[str, Any]) -> None:
    obj = record["s3"]["object"]
    name = record["eventName"]
    if name.startswith("ObjectRemoved:"):
        assert "size" not in obj
        assert "eTag" not in obj
    else:
        assert isinstance(obj["size"], int)
        assert obj["size"] >= 0
        assert obj["eTag"]
        assert ("-" in obj["eTag"]) == (name == "ObjectCreated:CompleteMultipartUpload")
    if name == "ObjectRemoved:DeleteMarkerCreated":
        assert obj["versionId"]  # delete markers exist in versioned buckets only
    assert int(obj["sequencer"], 16) >= 0
    assert is_valid_bucket_name(record["s3"]["bucket"]["name"])
    assert record["eventTime"].endswith("Z")
    assert len(record["eventTime"]) == len("1970-01-01T00:00:00.000Z")


@given(st.data())
def test_the_parameters_pin_what_they_name(data: st.DataObject) -> None:
    body = data.draw(
        s3_notification_bodies(
            bucket="my-bucket",
            region="eu-west-1",
            keys=object_keys(prefix="in/", suffixes=".json"),
            event_names="ObjectRemoved:Delete",
            min_records=2,
            max_records=2,
        )
    )
    records = json.loads(body)["Records"]
    assert len(records) == 2
    for record in records:
        assert (record["s3"]["bucket"]["name"], record["awsRegion"], record["eventName"]) == (
            "my-bucket",
            "eu-west-1",
            "ObjectRemoved:Delete",
        )
        assert record["s3"]["object"]["key"].startswith("in/")
        assert record["s3"]["object"]["key"].endswith(".json")
    event = data.draw(sqs_events(st.just("x"), min_size=3, max_size=3, queue_arn="arn:aws-cn:sqs:cn-north-1:1:q"))
    assert [(r["body"], r["eventSourceARN"], r["awsRegion"]) for r in event["Records"]] == [
        ("x", "arn:aws-cn:sqs:cn-north-1:1:q", "cn-north-1")
    ] * 3
    versioned = data.draw(s3_event_records(versioned=False, event_names=OBJECT_CREATED_EVENTS))
    assert "versionId" not in versioned["s3"]["object"]


def test_removals_are_drawn_only_when_asked() -> None:
    removal = find(s3_event_records(event_names=ALL_EVENT_NAMES), lambda r: r["eventName"].startswith("ObjectRemoved"))
    assert removal["eventName"] in OBJECT_REMOVED_EVENTS
    with pytest.raises(NoSuchExample):
        find(s3_event_records(), lambda r: not r["eventName"].startswith("ObjectCreated:"), settings=FEW)


def test_other_partitions_full_batches_and_multi_record_bodies_are_drawn() -> None:
    # find() shrinks what it finds: the parts not under test are pinned to keep that quick
    event = find(
        sqs_events(st.just("x"), max_size=1), lambda e: not e["Records"][0]["eventSourceARN"].startswith("arn:aws:")
    )
    assert partition_of(event["Records"][0]["awsRegion"]) in ("aws-cn", "aws-us-gov")
    assert len(find(sqs_events(st.just("x")), lambda e: len(e["Records"]) == 10)["Records"]) == 10
    body = find(s3_notification_bodies(bucket="b", keys=st.just("k")), lambda b: b.count('"eventSource"') > 1)
    assert len(json.loads(body)["Records"]) > 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sqs_events(min_size=0), "min_size"),
        (lambda: sqs_events(min_size=5, max_size=4), "min_size"),
        (lambda: sqs_events(queue_arn="arn:aws:sqs:us-east-1:1:q", region="us-east-1"), "not both"),
        (lambda: s3_notification_bodies(min_records=0), "min_records"),
        (lambda: s3_event_records(bucket=[]), "empty list"),
    ],
)
def test_impossible_parameters_are_refused_at_once(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@given(bucket_names())
def test_bucket_names_follow_s3_naming_rules(name: str) -> None:
    assert is_valid_bucket_name(name)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("logs.example-1", True),
        ("a1b", True),
        ("ab", False),
        ("a" * 64, False),
        ("Upper", False),
        ("a..b", False),
        ("-ab", False),
        ("192.168.1.1", False),
        ("xn--ab", False),
        ("ab-s3alias", False),
    ],
)
def test_bucket_name_rules(name: str, valid: bool) -> None:
    assert is_valid_bucket_name(name) is valid
