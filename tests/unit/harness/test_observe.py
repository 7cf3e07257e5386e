"""Observers of a deployed stack, against stubbed AWS clients: function logs, the DLQ journal, queue depth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from s3pipe.observe import (
    DlqEntry,
    DlqJournal,
    FunctionLogs,
    LogLine,
    QueueDepth,
    objects_in_s3_event,
    queue_depth,
    wait_until_drained,
)

GROUP = "/aws/lambda/s3p-dev-ingest"
QUEUE = "http://127.0.0.1:4566/000000000000/s3p-dev-dlq"
FAKE_CLIENT = {"region_name": "ap-northeast-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}


@pytest.fixture
def logs_client() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("logs", **FAKE_CLIENT)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def sqs_client() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sqs", **FAKE_CLIENT)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def event(stream: str, timestamp: int, message: str, event_id: str | None = None) -> dict[str, Any]:
    return {
        "logStreamName": stream,
        "timestamp": timestamp,
        "message": message,
        "ingestionTime": timestamp + 5,
        "eventId": event_id or f"{stream}-{timestamp}-{abs(hash(message)) % 10_000}",
    }


def structured(**fields: Any) -> str:
    return json.dumps({"level": "INFO", **fields}) + "\n"


def s3_event_body(*objects: tuple[str, str]) -> str:
    records = [
        {"eventSource": "aws:s3", "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}}
        for bucket, key in objects
    ]
    return json.dumps({"Records": records})


# ---------------------------------------------------------------------------- FunctionLogs.poll


def test_poll_follows_pages_and_returns_lines_in_time_order(logs_client: tuple[Any, Stubber]) -> None:
    client, stubber = logs_client
    first = [event("s1", 300, "REPORT RequestId: r1"), event("s2", 100, structured(event="object_stored"))]
    second = [event("s1", 200, "plain text line")]
    stubber.add_response(
        "filter_log_events", {"events": first, "nextToken": "page-2"}, {"logGroupName": GROUP, "startTime": 0}
    )
    stubber.add_response(
        "filter_log_events", {"events": second}, {"logGroupName": GROUP, "startTime": 0, "nextToken": "page-2"}
    )
    logs = FunctionLogs(client, GROUP)

    new = logs.poll()

    assert [(line.timestamp, line.stream) for line in new] == [(100, "s2"), (200, "s1"), (300, "s1")]
    assert new[0].fields == {"level": "INFO", "event": "object_stored"}
    assert new[0].message == '{"level": "INFO", "event": "object_stored"}'  # trailing newline stripped
    assert new[1].fields is None
    assert logs.lines == new


def test_poll_is_incremental_and_drops_duplicates(logs_client: tuple[Any, Stubber]) -> None:
    client, stubber = logs_client
    a = event("s1", 100, "a", "id-a")
    b = event("s1", 150, "b", "id-b")
    c = event("s2", 150, "c", "id-c")
    stubber.add_response("filter_log_events", {"events": [a, b]}, {"logGroupName": GROUP, "startTime": 0})
    # each poll re-reads from LATE_EVENT_LOOKBACK_MS before the newest timestamp seen (0 here),
    # so b comes back with a new c: b is dropped as already seen
    stubber.add_response("filter_log_events", {"events": [b, c]}, {"logGroupName": GROUP, "startTime": 0})
    stubber.add_response("filter_log_events", {"events": [b, c]}, {"logGroupName": GROUP, "startTime": 0})
    logs = FunctionLogs(client, GROUP)

    assert [line.message for line in logs.poll()] == ["a", "b"]
    assert [line.message for line in logs.poll()] == ["c"]
    assert logs.poll() == []
    assert [line.message for line in logs.lines] == ["a", "b", "c"]


def test_events_with_same_stream_and_time_but_other_ids_are_distinct(logs_client: tuple[Any, Stubber]) -> None:
    client, stubber = logs_client
    same = [event("s1", 100, "x", "id-1"), event("s1", 100, "x", "id-2")]
    stubber.add_response("filter_log_events", {"events": same}, {"logGroupName": GROUP, "startTime": 0})
    assert len(FunctionLogs(client, GROUP).poll()) == 2


def test_a_log_group_that_does_not_exist_yet_reads_as_empty(logs_client: tuple[Any, Stubber]) -> None:
    client, stubber = logs_client
    stubber.add_client_error("filter_log_events", service_error_code="ResourceNotFoundException")
    stubber.add_response(
        "filter_log_events", {"events": [event("s1", 5, "late")]}, {"logGroupName": GROUP, "startTime": 0}
    )
    logs = FunctionLogs(client, GROUP)
    assert logs.poll() == []
    assert [line.message for line in logs.poll()] == ["late"]


class OnePage:
    """A paginator over a stand-in whose answers have no ``nextToken``: one page per paginate()."""

    def __init__(self, call: Any) -> None:
        self.call = call

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [self.call(**kwargs)]


class ServerSideLogs:
    """A CloudWatch Logs stand-in that filters by ``startTime`` like the service does."""

    class exceptions:  # noqa: N801 - mirrors boto3's client.exceptions namespace
        class ResourceNotFoundException(Exception):
            pass

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def filter_log_events(self, **kwargs: Any) -> dict[str, Any]:
        return {"events": [e for e in self.events if e["timestamp"] >= kwargs.get("startTime", 0)]}

    def get_paginator(self, operation: str) -> OnePage:
        assert operation == "filter_log_events"
        return OnePage(self.filter_log_events)


def test_an_event_ingested_late_with_an_earlier_timestamp_is_still_read() -> None:
    client = ServerSideLogs()
    logs = FunctionLogs(client, GROUP)  # type: ignore[arg-type]
    client.events.append(event("fast-worker", 2_000, "later invocation"))
    assert [line.message for line in logs.poll()] == ["later invocation"]

    client.events.append(event("slow-worker", 1_500, "earlier invocation, delivered late"))

    assert [line.message for line in logs.poll()] == ["earlier invocation, delivered late"]


# ---------------------------------------------------------------------------- FunctionLogs.for_object


def logs_with(lines: list[tuple[str, str]]) -> FunctionLogs:
    """A reader whose history is ``(stream, message)`` lines, read through one stubbed poll."""
    client = boto3.client("logs", **FAKE_CLIENT)
    with Stubber(client) as stubber:
        events = [event(stream, index, message) for index, (stream, message) in enumerate(lines, start=1)]
        stubber.add_response("filter_log_events", {"events": events}, {"logGroupName": GROUP, "startTime": 0})
        reader = FunctionLogs(client, GROUP)
        reader.poll()
    return reader


def test_for_object_keeps_its_lines_and_tracebacks_of_the_same_stream() -> None:
    ours = {"bucket": "b", "key": "in/a.json"}
    reader = logs_with(
        [
            ("s1", "START RequestId: r1 Version: $LATEST"),
            ("s1", structured(event="object_received", **ours)),
            ("s1", "Traceback (most recent call last):"),
            ("s1", '  File "handler.py", line 3, in handler'),
            ("s1", structured(event="invocation_summary", records=1)),  # no key: about this invocation
            ("s1", structured(event="object_stored", bucket="b", key="in/other.json")),
            ("s1", "END RequestId: r1"),
            ("s1", "REPORT RequestId: r1 Duration: 12.3 ms"),
            ("s2", structured(event="object_stored", bucket="b", key="in/other.json")),
            ("s2", "Traceback from another object's stream"),
            ("s3", structured(event="object_stored", bucket="other-bucket", key="in/a.json")),
        ]
    )

    chosen = reader.for_object("b", "in/a.json")

    assert [line.message for line in chosen] == [
        structured(event="object_received", **ours).rstrip("\n"),
        "Traceback (most recent call last):",
        '  File "handler.py", line 3, in handler',
        structured(event="invocation_summary", records=1).rstrip("\n"),
    ]


def test_for_object_of_an_unknown_object_is_empty() -> None:
    reader = logs_with([("s1", "Traceback: boom"), ("s1", structured(event="object_stored", bucket="b", key="k"))])
    assert reader.for_object("b", "nope") == []


def test_structured_yields_only_json_object_lines() -> None:
    reader = logs_with([("s1", "plain"), ("s1", "[1, 2]"), ("s1", "{broken json"), ("s1", structured(event="x"))])
    assert [line.event for line in reader.structured()] == ["x"]


def test_log_line_event_is_a_string_or_none() -> None:
    assert LogLine(1, "s", "m", {"event": 5}).event == "5"
    assert LogLine(1, "s", "m", {"other": 1}).event is None
    assert LogLine(1, "s", "m").event is None


# ---------------------------------------------------------------------------- objects_in_s3_event


def test_objects_of_an_s3_event_have_decoded_keys() -> None:
    body = s3_event_body(("b", "in/a+b%2Bc%20d.json"), ("b2", "%E6%97%A5%E6%9C%AC.log"))
    assert objects_in_s3_event(body) == (("b", "in/a b+c d.json"), ("b2", "日本.log"))


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "null",
        "[1, 2]",
        '"a string"',
        '{"hello": "world"}',
        '{"Service": "Amazon S3", "Event": "s3:TestEvent"}',
        '{"Records": {}}',
        '{"Records": [1, "x", null]}',
        '{"Records": [{"eventSource": "aws:sns", "Sns": {}}]}',
        '{"Records": [{"s3": {"bucket": {"name": "b"}, "object": null}}]}',
        '{"Records": [{"s3": {"bucket": {"name": 5}, "object": {"key": "k"}}}]}',
    ],
)
def test_anything_but_an_s3_event_has_no_objects(body: str) -> None:
    assert objects_in_s3_event(body) == ()


@pytest.mark.parametrize(
    "body",
    [
        '{"Records": [{"s3": null}]}',
        '{"Records": [{"s3": []}]}',
        '{"Records": [{"s3": {"bucket": "b", "object": {"key": "k"}}}]}',
        '{"Records": [{"s3": {"bucket": {"name": "b"}, "object": "k"}}]}',
    ],
)
def test_malformed_s3_records_have_no_objects(body: str) -> None:
    assert objects_in_s3_event(body) == ()


# ---------------------------------------------------------------------------- DLQ


def sqs_message(message_id: str, body: str, receipt: str, **attributes: str) -> dict[str, Any]:
    return {
        "MessageId": message_id,
        "ReceiptHandle": receipt,
        "MD5OfBody": "0" * 32,
        "Body": body,
        "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1700000000000"},
        "MessageAttributes": {name: {"StringValue": value, "DataType": "String"} for name, value in attributes.items()},
    }


RECEIVE = {
    "QueueUrl": QUEUE,
    "MaxNumberOfMessages": 10,
    "WaitTimeSeconds": 0,
    "MessageAttributeNames": ["All"],
    "AttributeNames": ["All"],
}


def test_dlq_poll_drains_the_queue_and_deletes_what_it_read(sqs_client: tuple[Any, Stubber]) -> None:
    client, stubber = sqs_client
    explicit = sqs_message(
        "m1",
        '{"hello": "world"}',
        "rh-1",
        FailureReason="body is not an S3 event",
        FailureClass="permanent",
        ObjectBucket="b",
        ObjectKey="k1",
    )
    redriven = sqs_message("m2", s3_event_body(("b", "in/a%20b.json")), "rh-2")
    stubber.add_response("receive_message", {"Messages": [explicit, redriven]}, RECEIVE)
    stubber.add_response("delete_message", {}, {"QueueUrl": QUEUE, "ReceiptHandle": "rh-1"})
    stubber.add_response("delete_message", {}, {"QueueUrl": QUEUE, "ReceiptHandle": "rh-2"})
    stubber.add_response("receive_message", {}, RECEIVE)
    journal = DlqJournal(client, QUEUE)

    new = journal.poll()

    assert [entry.message_id for entry in new] == ["m1", "m2"]
    assert new[0].attributes["FailureClass"] == "permanent"
    assert new[0].system_attributes["ApproximateReceiveCount"] == "3"
    assert new[1].objects == (("b", "in/a b.json"),)
    assert journal.for_object("b", "in/a b.json") == [new[1]]
    assert journal.for_object("b", "k1") == [new[0]]
    assert journal.for_object("b", "nothing") == []
    assert journal.for_message("m2") == [new[1]]  # redriven by SQS: the message itself
    assert journal.for_message("nothing") == []


def test_dlq_for_message_finds_what_the_handler_dead_lettered_from_it() -> None:
    journal = DlqJournal(None, QUEUE)  # type: ignore[arg-type]
    dead = DlqEntry("d1", "{}", {"SourceMessageId": "m1"}, {})
    journal._entries["d1"] = dead
    assert journal.for_message("m1") == [dead]


def test_a_redelivered_dlq_message_is_deleted_again_but_journaled_once(sqs_client: tuple[Any, Stubber]) -> None:
    client, stubber = sqs_client
    stubber.add_response("receive_message", {"Messages": [sqs_message("m1", "x", "rh-1")]}, RECEIVE)
    stubber.add_response("delete_message", {}, {"QueueUrl": QUEUE, "ReceiptHandle": "rh-1"})
    stubber.add_response("receive_message", {}, RECEIVE)
    stubber.add_response("receive_message", {"Messages": [sqs_message("m1", "x", "rh-1b")]}, RECEIVE)
    stubber.add_response("delete_message", {}, {"QueueUrl": QUEUE, "ReceiptHandle": "rh-1b"})
    stubber.add_response("receive_message", {"Messages": []}, RECEIVE)
    journal = DlqJournal(client, QUEUE)

    assert len(journal.poll()) == 1
    assert journal.poll() == []
    assert [entry.message_id for entry in journal.entries] == ["m1"]


def test_dlq_entry_reason_prefers_the_handlers_explicit_reason() -> None:
    entry = DlqEntry("m", "{}", {"FailureReason": "all 3 records were rejected"}, {"ApproximateReceiveCount": "1"})
    assert entry.reason == "all 3 records were rejected"


def test_dlq_entry_without_reason_was_redriven_by_sqs() -> None:
    entry = DlqEntry("m", "{}", {}, {"ApproximateReceiveCount": "4"})
    assert entry.reason.startswith("redriven by SQS after 4 receives")
    assert "maxReceiveCount" in entry.reason
    assert entry.failure_class == "redriven"
    assert DlqEntry("m", "{}", {"FailureReason": ""}, {}).reason.startswith("redriven by SQS after ? receives")


def test_dlq_entry_concerns_objects_of_its_body_or_attributes() -> None:
    entry = DlqEntry("m", "", {"ObjectBucket": "b", "ObjectKey": "k"}, {}, objects=(("b", "other"),))
    assert entry.concerns("b", "k")
    assert entry.concerns("b", "other")
    assert not entry.concerns("x", "k")


# ---------------------------------------------------------------------------- queue depth


class DepthSequence:
    """An SQS stand-in whose queue depth follows a script (the last value repeats)."""

    def __init__(self, depths: list[tuple[int, int, int]]) -> None:
        self.depths = depths
        self.calls = 0

    def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["QueueUrl"] == QUEUE
        visible, in_flight, delayed = self.depths[min(self.calls, len(self.depths) - 1)]
        self.calls += 1
        return {
            "Attributes": {
                "ApproximateNumberOfMessages": str(visible),
                "ApproximateNumberOfMessagesNotVisible": str(in_flight),
                "ApproximateNumberOfMessagesDelayed": str(delayed),
            }
        }


def test_queue_depth_reads_the_three_counters() -> None:
    depth = queue_depth(DepthSequence([(1, 2, 3)]), QUEUE)  # type: ignore[arg-type]
    assert depth == QueueDepth(1, 2, 3)
    assert not depth.empty
    assert str(depth) == "visible=1 in_flight=2 delayed=3"
    assert QueueDepth(0, 0, 0).empty


def test_drained_needs_quiet_polls_in_a_row() -> None:
    client = DepthSequence([(1, 0, 0), (0, 0, 0), (0, 0, 0), (0, 1, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0)])
    drained, depth = wait_until_drained(client, QUEUE, timeout=10, quiet_polls=3, interval=0.001)  # type: ignore[arg-type]
    assert drained
    assert depth.empty
    assert client.calls == 7


def test_a_delayed_message_is_not_drained() -> None:
    client = DepthSequence([(0, 0, 1)])
    drained, depth = wait_until_drained(client, QUEUE, timeout=0.05, interval=0.005)  # type: ignore[arg-type]
    assert not drained
    assert depth == QueueDepth(0, 0, 1)
    assert client.calls >= 2


def test_readers_sharing_one_log_read_it_once_per_interval(logs_client: tuple[Any, Stubber]) -> None:
    """A wait's check and its watch both poll the session's log: within the interval the second poll sends nothing
    (the Stubber refuses any request it was not given)."""
    client, stubber = logs_client
    stubber.add_response(
        "filter_log_events", {"events": [event("s1", 5, "a")]}, {"logGroupName": GROUP, "startTime": 0}
    )
    logs = FunctionLogs(client, GROUP, min_interval=60)

    assert [line.message for line in logs.poll()] == ["a"]
    assert logs.poll() == []
    stubber.assert_no_pending_responses()
