"""Matching an upload to the function's outcome, with in-memory S3/SQS/Logs/DynamoDB stand-ins."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from s3pipe import pipeline as pipeline_module
from s3pipe.backends.base import Credentials, Endpoint
from s3pipe.errors import HandlerEventsMissing, SettleTimeout
from s3pipe.pipeline import (
    TERMINAL_EVENTS,
    Pipeline,
    StackObserver,
    Upload,
    eventually,
    plain_item,
    poll_until,
    rejection_pk,
    source_pk,
)
from s3pipe.stack import Stack, StackOutputs

BUCKET = "s3p-dev-raw-logs"
URL = "http://127.0.0.1:4566"


class OnePage:
    """A paginator over a stand-in whose answers have no ``nextToken``: one page per paginate()."""

    def __init__(self, call: Any) -> None:
        self.call = call

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [self.call(**kwargs)]


class FakeLogs:
    """CloudWatch Logs: ``filter_log_events`` returns events at or after ``startTime``."""

    class exceptions:  # noqa: N801 - mirrors boto3's client.exceptions namespace
        class ResourceNotFoundException(Exception):
            pass

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.on_poll: list[Any] = []  # callables run at each poll (the pipeline "doing something")
        self.polls = 0

    def log(self, stream: str = "s1", **fields: Any) -> None:
        timestamp = 1_000 + len(self.events)
        self.events.append(
            {
                "logStreamName": stream,
                "timestamp": timestamp,
                "message": json.dumps(fields),
                "eventId": f"e{len(self.events)}",
            }
        )

    def filter_log_events(self, **kwargs: Any) -> dict[str, Any]:
        self.polls += 1
        if self.on_poll:
            self.on_poll.pop(0)()
        return {"events": [e for e in self.events if e["timestamp"] >= kwargs["startTime"]]}

    def get_paginator(self, operation: str) -> OnePage:
        assert operation == "filter_log_events"
        return OnePage(self.filter_log_events)


class FakeSqs:
    """The DLQ (receive/delete) and queue depth (always empty)."""

    def __init__(self) -> None:
        self.dlq: list[dict[str, Any]] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        messages, self.dlq = self.dlq[:10], self.dlq[10:]
        return {"Messages": messages}

    def delete_message(self, **kwargs: Any) -> dict[str, Any]:
        return {}

    def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]:
        return {"Attributes": {}}


class FakeS3:
    def __init__(self, versioned: bool) -> None:
        self.versioned = versioned
        self.puts: list[dict[str, Any]] = []

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.puts.append(kwargs)
        response = {"ETag": '"etag"'}
        if self.versioned:
            response["VersionId"] = f"v{len(self.puts)}"
        return response


class FakeDynamo:
    """The table: keys PK/SK; records queries and answers with no items."""

    def __init__(self) -> None:
        self.queries: list[dict[str, Any]] = []
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def describe_table(self, **kwargs: Any) -> dict[str, Any]:
        return {
            "Table": {
                "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}]
            }
        }

    def query(self, **kwargs: Any) -> dict[str, Any]:
        self.queries.append(kwargs)
        return {"Items": []}

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        key = kwargs["Key"]
        item = self.items.get((key["PK"]["S"], key["SK"]["S"]))
        return {"Item": item} if item else {}


def stack_outputs() -> StackOutputs:
    return StackOutputs(
        region="ap-northeast-1",
        name_prefix="s3p-dev",
        bucket_name=BUCKET,
        bucket_arn=f"arn:aws:s3:::{BUCKET}",
        queue_name="s3p-dev-queue",
        queue_url=f"{URL}/000000000000/s3p-dev-queue",
        queue_arn="arn:q",
        dlq_name="s3p-dev-dlq",
        dlq_url=f"{URL}/000000000000/s3p-dev-dlq",
        dlq_arn="arn:dlq",
        function_name="s3p-dev-ingest",
        function_arn="arn:f",
        role_name="s3p-dev-ingest",
        role_arn="arn:r",
        table_name="s3p-dev-server-logs",
        table_arn="arn:t",
        log_group_name="/aws/lambda/s3p-dev-ingest",
        event_source_mapping_uuid="uuid",
        accepted_suffixes=(".json",),
        visibility_timeout_seconds=10,
        max_receive_count=3,
        lambda_timeout=10,
    )


class World:
    def __init__(self, *, versioned: bool) -> None:
        self.logs = FakeLogs()
        self.sqs = FakeSqs()
        self.s3 = FakeS3(versioned)
        stack = Stack(
            "dev", stack_outputs(), Endpoint(URL, "ap-northeast-1", Credentials.fake()), "embedded", frozenset()
        )
        # the stack's boto3 clients are cached properties: put the stand-ins where they would be cached
        self.dynamo = FakeDynamo()
        stack.__dict__.update(logs=self.logs, sqs=self.sqs, s3=self.s3, dynamodb=self.dynamo)
        self.pipeline = Pipeline(stack, StackObserver(stack), "t-1/")

    def terminal(self, upload: Upload, event: str = "object_stored", **fields: Any) -> None:
        self.logs.log(bucket=upload.bucket, key=upload.key, event=event, **fields)


@pytest.fixture
def unversioned() -> World:
    return World(versioned=False)


@pytest.fixture
def versioned() -> World:
    return World(versioned=True)


# ---------------------------------------------------------------------------- uploads


def test_upload_puts_under_the_test_prefix_and_counts_uploads_per_key(unversioned: World) -> None:
    first = unversioned.pipeline.upload("dir/a b.json", "{}")
    second = unversioned.pipeline.upload("dir/a b.json", b"{}\n", gzip=True)
    other = unversioned.pipeline.upload("other.json", "{}")

    assert (first.key, first.ordinal, first.version_id, first.etag) == ("t-1/dir/a b.json", 1, None, "etag")
    assert second.ordinal == 2
    assert other.ordinal == 1
    assert unversioned.s3.puts[1]["Body"][:2] == b"\x1f\x8b"  # gzip magic
    assert "upload #2 of this key" in str(second)


def test_upload_of_a_versioned_bucket_keeps_the_version(versioned: World) -> None:
    upload = versioned.pipeline.upload("a.json", "{}")
    assert upload.version_id == "v1"
    assert "version v1" in str(upload)


# ---------------------------------------------------------------------------- outcome matching


def test_unversioned_uploads_of_one_key_match_terminal_lines_by_ordinal(unversioned: World) -> None:
    pipeline = unversioned.pipeline
    first = pipeline.upload("a.json", "{}")
    second = pipeline.upload("a.json", "{}")

    assert pipeline._outcome(first) is None
    unversioned.logs.log(bucket=BUCKET, key=first.key, event="object_retry")  # not terminal
    assert pipeline._outcome(first) is None

    unversioned.terminal(first, "object_stored", stored=3)
    outcome = pipeline._outcome(first)
    assert outcome is not None
    assert (outcome.event, outcome.fields["stored"]) == ("object_stored", 3)
    assert pipeline._outcome(second) is None, "the second upload waits for the second terminal line"

    unversioned.terminal(second, "object_partially_stored", stored=1)
    outcome = pipeline._outcome(second)
    assert outcome is not None
    assert (outcome.event, outcome.fields["stored"]) == ("object_partially_stored", 1)
    assert len(outcome.lines) == 3
    first_again = pipeline._outcome(first)
    assert first_again is not None
    assert first_again.event == "object_stored"


def test_lines_of_other_objects_do_not_count(unversioned: World) -> None:
    upload = unversioned.pipeline.upload("a.json", "{}")
    unversioned.logs.log(bucket=BUCKET, key=upload.key + ".gz", event="object_stored")
    unversioned.logs.log(bucket="other-bucket", key=upload.key, event="object_stored")
    unversioned.logs.log(event="object_stored")
    assert unversioned.pipeline._outcome(upload) is None


@pytest.mark.parametrize("event", sorted(TERMINAL_EVENTS))
def test_every_terminal_event_ends_the_wait(unversioned: World, event: str) -> None:
    upload = unversioned.pipeline.upload("a.json", "{}")
    unversioned.terminal(upload, event)
    outcome = unversioned.pipeline._outcome(upload)
    assert outcome is not None
    assert outcome.event == event


def test_versioned_uploads_match_by_version_id(versioned: World) -> None:
    pipeline = versioned.pipeline
    first = pipeline.upload("a.json", "{}")
    second = pipeline.upload("a.json", "{}")

    versioned.terminal(second, "object_dead_lettered", version_id="v2")  # the later version finishes first
    assert pipeline._outcome(first) is None
    outcome = pipeline._outcome(second)
    assert outcome is not None
    assert outcome.event == "object_dead_lettered"

    versioned.terminal(first, "object_stored", version_id="v1")
    outcome = pipeline._outcome(first)
    assert outcome is not None
    assert outcome.event == "object_stored"


def test_versioned_uploads_fall_back_to_ordinals_when_lines_have_no_version(versioned: World) -> None:
    pipeline = versioned.pipeline
    first = pipeline.upload("a.json", "{}")
    second = pipeline.upload("a.json", "{}")
    versioned.terminal(first, "object_stored")

    assert pipeline._outcome(second) is None


def test_redriven_message_in_the_dlq_is_an_outcome(unversioned: World) -> None:
    upload = unversioned.pipeline.upload("in/a b.json", "{}")
    body = json.dumps({"Records": [{"s3": {"bucket": {"name": BUCKET}, "object": {"key": "t-1/in/a+b.json"}}}]})
    unversioned.sqs.dlq.append(
        {"MessageId": "m1", "ReceiptHandle": "rh", "Body": body, "Attributes": {"ApproximateReceiveCount": "3"}}
    )
    outcome = unversioned.pipeline._outcome(upload)
    assert outcome is not None
    assert outcome.event == "redriven"
    assert outcome.fields["reason"].startswith("redriven by SQS after 3 receives")


def dead_lettered_by_the_handler(world: World, upload: Upload) -> None:
    body = json.dumps({"Records": [{"s3": {"bucket": {"name": BUCKET}, "object": {"key": upload.key}}}]})
    attributes = {
        "FailureClass": {"DataType": "String", "StringValue": "permanent"},
        "FailureReason": {"DataType": "String", "StringValue": "JSON syntax error at line 7"},
    }
    message = {"MessageId": "m1", "ReceiptHandle": "rh", "Body": body, "MessageAttributes": attributes}
    world.sqs.dlq.append(message)


def test_a_message_the_handler_dead_lettered_waits_for_its_log_line(unversioned: World) -> None:
    upload = unversioned.pipeline.upload("a.json", "{}")
    dead_lettered_by_the_handler(unversioned, upload)
    assert unversioned.pipeline._outcome(upload) is None  # its log line is not there yet: not a redrive
    assert [entry.failure_class for entry in unversioned.pipeline.observer.dlq.entries] == ["permanent"]
    unversioned.terminal(upload, "object_dead_lettered")
    outcome = unversioned.pipeline._outcome(upload)
    assert outcome is not None
    assert outcome.event == "object_dead_lettered"


def test_a_dead_lettered_message_whose_log_line_never_comes_is_the_outcome(
    unversioned: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = unversioned.pipeline.upload("a.json", "{}")
    dead_lettered_by_the_handler(unversioned, upload)
    assert unversioned.pipeline._outcome(upload) is None
    monkeypatch.setattr(pipeline_module, "DEAD_LETTER_LOG_GRACE", 0.0)
    outcome = unversioned.pipeline._outcome(upload)
    assert outcome is not None
    assert outcome.event == "object_dead_lettered"
    assert outcome.fields == {
        "reason": "JSON syntax error at line 7",
        "failure_class": "permanent",
        "dlq_message_id": "m1",
    }


def test_a_terminal_line_wins_over_a_dlq_entry(unversioned: World) -> None:
    upload = unversioned.pipeline.upload("a.json", "{}")
    body = json.dumps({"Records": [{"s3": {"bucket": {"name": BUCKET}, "object": {"key": upload.key}}}]})
    unversioned.sqs.dlq.append({"MessageId": "m1", "ReceiptHandle": "rh", "Body": body})
    unversioned.terminal(upload, "object_dead_lettered")
    outcome = unversioned.pipeline._outcome(upload)
    assert outcome is not None
    assert outcome.event == "object_dead_lettered"


def test_wait_for_polls_until_the_outcome_is_logged(unversioned: World) -> None:
    upload = unversioned.pipeline.upload("a.json", "{}")
    unversioned.logs.on_poll = [lambda: None, lambda: None, lambda: unversioned.terminal(upload)]
    outcome = unversioned.pipeline.wait_for(upload, timeout=10)
    assert outcome.event == "object_stored"
    assert outcome.upload == upload


def test_wait_for_times_out_with_the_objects_trace(unversioned: World) -> None:
    upload = unversioned.pipeline.upload("a.json", "{}")
    with pytest.raises(SettleTimeout) as raised:
        unversioned.pipeline.wait_for(upload, timeout=0.05)
    message = str(raised.value)
    assert f"a final outcome for s3://{BUCKET}/t-1/a.json" in message
    assert "trace of s3://" in message
    assert "the function never logged this object" in message
    assert "DLQ: nothing" in message


def test_wait_for_all_reads_the_log_once_per_poll_and_returns_outcomes_in_upload_order(unversioned: World) -> None:
    first, second, third = (unversioned.pipeline.upload(name, "{}") for name in ("a.json", "b.json", "c.json"))
    unversioned.logs.on_poll = [
        lambda: unversioned.terminal(second, "object_dead_lettered"),
        lambda: None,
        lambda: (unversioned.terminal(third), unversioned.terminal(first, "object_partially_stored")),
    ]
    outcomes = unversioned.pipeline.wait_for_all([first, second, third], timeout=10)
    assert [(o.upload, o.event) for o in outcomes] == [
        (first, "object_partially_stored"),
        (second, "object_dead_lettered"),
        (third, "object_stored"),
    ]
    assert unversioned.logs.polls == 3  # three rounds for three uploads: one log read per round


def test_wait_for_all_times_out_naming_what_is_missing(unversioned: World) -> None:
    done, missing = unversioned.pipeline.upload("a.json", "{}"), unversioned.pipeline.upload("b.json", "{}")
    unversioned.terminal(done)
    with pytest.raises(SettleTimeout) as raised:
        unversioned.pipeline.wait_for_all([done, missing], timeout=0.05)
    message = str(raised.value)
    assert "final outcomes for 2 uploads not seen" in message
    assert "1 of 2 uploads still without an outcome" in message
    assert f"trace of s3://{BUCKET}/t-1/b.json" in message


# ---------------------------------------------------------------------------- a handler of your own


def plain_log(logs: FakeLogs, message: str, stream: str = "s1") -> None:
    logs.events.append(
        {
            "logStreamName": stream,
            "timestamp": 1_000 + len(logs.events),
            "message": message,
            "eventId": f"p{len(logs.events)}",
        }
    )


def test_wait_for_fails_at_once_on_a_handler_that_writes_no_events(unversioned: World) -> None:
    upload = unversioned.pipeline.upload("a.json", "{}")
    plain_log(unversioned.logs, "START RequestId: r1 Version: $LATEST")
    plain_log(unversioned.logs, "[INFO] Processing s3://bucket/a.json")
    plain_log(unversioned.logs, "REPORT RequestId: r1 Duration: 3.2 ms")
    with pytest.raises(HandlerEventsMissing) as raised:
        unversioned.pipeline.wait_for(upload, timeout=30)
    message = str(raised.value)
    assert "finished 1 invocation(s) in /aws/lambda/s3p-dev-ingest without writing any" in message
    assert "pipeline.eventually(check)" in message
    assert unversioned.logs.polls == 1  # no waiting out the deadline


def test_wait_for_keeps_waiting_while_no_invocation_finished(unversioned: World) -> None:
    upload = unversioned.pipeline.upload("a.json", "{}")
    plain_log(unversioned.logs, "START RequestId: r1 Version: $LATEST")  # still running
    unversioned.logs.on_poll = [lambda: None, lambda: unversioned.terminal(upload)]
    assert unversioned.pipeline.wait_for(upload, timeout=10).event == "object_stored"


def test_eventually_retries_the_assertions_and_returns_the_value() -> None:
    answers = iter([0, 1, 2])

    def check() -> int:
        value = next(answers)
        assert value == 2, f"saw {value}"
        return value

    assert eventually(check, timeout=5, interval=0.001) == 2


def test_eventually_fails_with_the_last_assertion() -> None:
    def check() -> None:
        raise AssertionError("the item is not there yet")

    with pytest.raises(SettleTimeout, match="the item did not hold within 0 s") as raised:
        eventually(check, timeout=0.02, interval=0.001, what="the item")
    assert "last failure:\nthe item is not there yet" in str(raised.value)


def test_eventually_lets_other_errors_through() -> None:
    def check() -> None:
        raise KeyError("a bug in the test, not a wait")

    with pytest.raises(KeyError):
        eventually(check, timeout=5)


def test_get_item_and_query_use_the_tables_own_key_names(unversioned: World) -> None:
    unversioned.dynamo.items[("USER#1", "LOG#1")] = {"PK": {"S": "USER#1"}, "SK": {"S": "LOG#1"}, "n": {"N": "2"}}
    assert unversioned.pipeline.get_item("USER#1", "LOG#1") == {"PK": "USER#1", "SK": "LOG#1", "n": Decimal(2)}
    assert unversioned.pipeline.get_item("USER#2", "LOG#1") is None
    assert unversioned.pipeline.query("USER#1") == []
    [query] = unversioned.dynamo.queries
    assert (query["ExpressionAttributeNames"], query["ExpressionAttributeValues"]) == (
        {"#pk": "PK"},
        {":pk": {"S": "USER#1"}},
    )


def test_dlq_messages_waits_for_the_count_and_keeps_them(unversioned: World) -> None:
    body = json.dumps({"Records": [{"s3": {"bucket": {"name": BUCKET}, "object": {"key": "t-1/bad.json"}}}]})
    unversioned.sqs.dlq.append({"MessageId": "m1", "ReceiptHandle": "h1", "Body": body, "Attributes": {}})
    [entry] = unversioned.pipeline.dlq_messages(at_least=1, timeout=5)
    assert entry.concerns(BUCKET, "t-1/bad.json")
    assert len(unversioned.pipeline.dlq_messages()) == 1  # read once, kept for the session
    with pytest.raises(SettleTimeout, match="2 DLQ messages not seen"):
        unversioned.pipeline.dlq_messages(at_least=2, timeout=0.05)


# ---------------------------------------------------------------------------- poll_until


def test_poll_until_returns_the_first_value() -> None:
    answers = iter([None, None, "done"])
    assert poll_until(lambda: next(answers), timeout=10, describe=str, what="x", interval=0.001) == "done"


def test_poll_until_timeout_names_what_and_describes_the_state() -> None:
    calls: list[int] = []

    def check() -> None:
        calls.append(1)

    with pytest.raises(SettleTimeout) as raised:
        poll_until(check, timeout=0.05, describe=lambda: "queue now: visible=2", what="3 items", interval=0.005)
    assert str(raised.value) == "3 items not seen within 0 s\nqueue now: visible=2"
    assert len(calls) >= 2
    assert isinstance(raised.value, AssertionError)


def test_poll_until_accepts_falsy_values_other_than_none() -> None:
    assert poll_until(lambda: 0, timeout=1, describe=str, what="x") == 0
    assert poll_until(lambda: [], timeout=1, describe=str, what="x") == []


# ---------------------------------------------------------------------------- keys and items


def test_partition_keys_of_an_object() -> None:
    assert source_pk("b", "in/a b.json") == "SRC#s3://b/in/a b.json"
    assert rejection_pk("b", "k") == "REJECT#s3://b/k"


def test_plain_item_converts_the_dynamodb_wire_format() -> None:
    item = plain_item(
        {
            "PK": {"S": "SRC#s3://b/k"},
            "count": {"N": "12"},
            "ratio": {"N": "0.5"},
            "ok": {"BOOL": True},
            "none": {"NULL": True},
            "tags": {"L": [{"S": "a"}, {"N": "1"}]},
            "meta": {"M": {"x": {"S": "y"}}},
        }
    )
    assert item == {
        "PK": "SRC#s3://b/k",
        "count": Decimal(12),
        "ratio": Decimal("0.5"),
        "ok": True,
        "none": None,
        "tags": ["a", Decimal(1)],
        "meta": {"x": "y"},
    }
