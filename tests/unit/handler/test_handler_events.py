"""SQS event and message-body parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from log_ingest.continuation import continuation_body, parse_queue_arn
from log_ingest.errors import TransientError
from log_ingest.events import (
    Continuation,
    InvalidBody,
    InvalidS3Record,
    S3Continuation,
    S3Notification,
    S3ObjectRef,
    S3TestEvent,
    Totals,
    parse_body,
    parse_s3_record,
    parse_sqs_event,
)
from log_ingest.formats import Rejection
from s3pipe.strategies import (
    blank_bodies,
    bucket_names,
    encode_key,
    malformed_bodies,
    non_json_bodies,
    non_s3_json_bodies,
    object_keys,
    s3_event_record,
    s3_notification_bodies,
    s3_notification_body,
    s3_test_event_body,
    sqs_event,
    sqs_record,
    version_ids,
)

VERSION_IDS = st.one_of(st.none(), version_ids())
# Beyond what SQS delivers: any text at all (control characters, the empty string) must not break parsing.
ANY_BODY = st.one_of(s3_notification_bodies(test_events=True), malformed_bodies(), st.text())


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


@given(object_keys())
def test_key_decoding_round_trips_quote_plus(key: str) -> None:
    ref = parse_s3_record(0, s3_event_record("b", key))
    assert isinstance(ref, S3ObjectRef)
    assert ref.key == key
    assert ref.raw_key == encode_key(key)


@given(st.lists(st.tuples(bucket_names(), object_keys(), VERSION_IDS), min_size=1, max_size=5))
def test_every_s3_record_is_parsed(specs: list[tuple[str, str, str | None]]) -> None:
    body = s3_notification_body([s3_event_record(b, k, version_id=v, size=12) for b, k, v in specs])
    parsed = parse_body(body)
    assert isinstance(parsed, S3Notification)
    assert [(r.bucket, r.key, r.version_id) for r in parsed.records if isinstance(r, S3ObjectRef)] == specs
    assert all(isinstance(r, S3ObjectRef) and r.size == 12 and r.etag and r.sequencer for r in parsed.records)


@given(st.one_of(non_s3_json_bodies(), non_json_bodies(), blank_bodies(), st.just(""), st.text().filter(_not_json)))
def test_bodies_that_are_not_s3_events_are_invalid_with_a_reason(body: str) -> None:
    parsed = parse_body(body)
    assert isinstance(parsed, InvalidBody)
    assert parsed.reason


@given(ANY_BODY)
def test_parse_body_never_raises(body: str) -> None:
    assert isinstance(parse_body(body), S3Notification | S3Continuation | S3TestEvent | InvalidBody)


def test_specific_reasons() -> None:
    assert parse_body("") == InvalidBody("message body is empty")
    assert parse_body("{oops").reason.startswith("message body is not valid JSON (")  # type: ignore[union-attr]
    assert parse_body("[1]") == InvalidBody("message body is a JSON array, not an S3 event notification object")
    assert parse_body('{"a": 1}') == InvalidBody(
        "JSON object has no 'Records' array: not an S3 event notification (keys: a)"
    )
    assert parse_body('{"Records": []}') == InvalidBody("S3 event notification has an empty 'Records' array")
    assert "SNS notification envelope" in parse_body('{"Type": "Notification", "Message": "{}"}').reason  # type: ignore[union-attr]
    assert parse_body(s3_test_event_body("bkt")) == S3TestEvent("bkt")
    # The article's trap: the SQS body is the S3 event as a JSON *string*; double-encoding is caught.
    double = json.dumps(s3_notification_body([s3_event_record("b", "k.json")]))
    assert parse_body(double) == InvalidBody("message body is a JSON string, not an S3 event notification object")


def test_bad_entries_inside_an_s3_event_are_per_record_failures() -> None:
    good = s3_event_record("b", "a.json")
    no_key: dict[str, Any] = s3_event_record("b", "x.json")
    del no_key["s3"]["object"]["key"]
    parsed = parse_body(json.dumps({"Records": [good, no_key, 5]}))
    assert isinstance(parsed, S3Notification)
    assert isinstance(parsed.records[0], S3ObjectRef)
    assert parsed.records[1] == InvalidS3Record(1, "record 1 has no s3.object.key", no_key, bucket="b")
    assert isinstance(parsed.records[2], InvalidS3Record)


def test_keys_with_plus_and_percent() -> None:
    record = s3_event_record("b", "x")
    record["s3"]["object"]["key"] = "dir/my+file%2Bv2%3D1+%E6%97%A5.json"
    ref = parse_s3_record(0, record)
    assert isinstance(ref, S3ObjectRef)
    assert ref.key == "dir/my file+v2=1 日.json"
    record["s3"]["object"]["key"] = "bad%FF.json"
    assert isinstance(parse_s3_record(0, record), InvalidS3Record)


def test_object_removed_events_are_not_creations() -> None:
    ref = parse_s3_record(0, s3_event_record("b", "k.json", event_name="ObjectRemoved:Delete"))
    assert isinstance(ref, S3ObjectRef)
    assert not ref.is_object_created


@pytest.mark.parametrize(
    "event",
    [None, 5, "x", [], {}, {"Records": "x"}, {"Records": [1, {"body": "x"}, {"messageId": ""}]}],
)
def test_sqs_event_parsing_is_tolerant(event: Any) -> None:
    messages, invalid = parse_sqs_event(event)
    assert messages == []
    assert invalid


def test_sqs_event_parsing() -> None:
    messages, invalid = parse_sqs_event(sqs_event([sqs_record("b1", "m1"), sqs_record("b2", "m2")]))
    assert invalid == []
    assert [(m.message_id, m.body, m.receive_count) for m in messages] == [("m1", "b1", 1), ("m2", "b2", 1)]


# ================================================================= continuation message bodies


@given(bucket_names(), object_keys(), VERSION_IDS, st.integers(0, 10**9), st.integers(1, 100), st.text(min_size=1))
def test_a_continuation_body_round_trips(  # noqa: PLR0917 -- one argument per strategy
    bucket: str, key: str, version_id: str | None, resume_after: int, pass_number: int, origin: str
) -> None:
    record = s3_event_record(bucket, key, version_id=version_id, size=99)
    totals = Totals(resume_after, resume_after // 2, resume_after - resume_after // 2, ("jsonl", "clf"))
    body = continuation_body(
        record,
        resume_after=resume_after,
        pass_number=pass_number,
        origin_message_id=origin,
        totals=totals,
        etag='"e1"',
    )
    assert body.isascii()
    parsed = parse_body(body)
    assert isinstance(parsed, S3Continuation)
    assert parsed.ref == parse_s3_record(0, record)
    assert (parsed.ref.bucket, parsed.ref.key, parsed.ref.version_id) == (bucket, key, version_id)
    assert parsed.state == Continuation(resume_after, pass_number, origin, totals, '"e1"')


def test_a_continuation_body_is_never_taken_for_something_else() -> None:
    body = json.dumps({"s3pipe_continuation": 1, "Records": [s3_event_record("b", "k.json")], "Event": "s3:TestEvent"})
    parsed = parse_body(body)
    assert isinstance(parsed, InvalidBody)
    assert parsed.reason == "malformed continuation message: 'record' is a JSON null, not an S3 event record"
    assert isinstance(
        parse_body(json.dumps({"s3pipe_continuation": 1, "record": s3_event_record("b", "k.json")})), InvalidBody
    )


def _continuation(**extra: Any) -> str:
    document = json.loads(
        continuation_body(
            s3_event_record("b", "k.jsonl"),
            resume_after=30,
            pass_number=2,
            origin_message_id="m",
            totals=Totals(30, 28, 2),
            etag=None,
            reports=(Rejection(1, 1, "DynamoDB refused the item: x", '{"n":1}'), Rejection(9, 26, "r", "", True)),
        )
    )
    document.update(extra)
    return json.dumps(document)


def test_carried_rejection_reports_round_trip() -> None:
    parsed = parse_body(_continuation())
    assert isinstance(parsed, S3Continuation)
    assert [(r.line, r.ordinal, r.reason, r.excerpt, r.array_element) for r in parsed.state.reports] == [
        (1, 1, "DynamoDB refused the item: x", '{"n":1}', False),
        (9, 26, "r", "", True),
    ]
    assert "reports" not in json.loads(
        continuation_body(
            s3_event_record("b", "k.jsonl"),
            resume_after=1,
            pass_number=2,
            origin_message_id="m",
            totals=Totals(),
            etag=None,
        )
    )


@pytest.mark.parametrize(
    ("reports", "reason"),
    [
        ({}, "'reports' is a JSON object, not an array"),
        ([1], "'reports[0]' is a JSON number, not an object"),
        ([{"line": 0, "ordinal": 1, "reason": "r"}], "'reports[0]'.line must be a positive integer, not 0"),
        ([{"line": 1, "ordinal": 31, "reason": "r"}], "'reports[0]'.ordinal must be an integer in 1..resume_after"),
        ([{"line": 1, "ordinal": 1}], "'reports[0]' needs a string 'reason'"),
    ],
)
def test_malformed_carried_reports_make_the_continuation_invalid(reports: object, reason: str) -> None:
    parsed = parse_body(_continuation(reports=reports))
    assert isinstance(parsed, InvalidBody)
    assert parsed.reason.startswith(f"malformed continuation message: {reason}")
    assert (parsed.bucket, parsed.key) == ("b", "k.jsonl")


def test_queue_arn_parsing() -> None:
    assert parse_queue_arn("arn:aws:sqs:eu-west-1:123456789012:ingest") == ("123456789012", "ingest")
    assert parse_queue_arn("arn:aws-cn:sqs:cn-north-1:123456789012:q.fifo") == ("123456789012", "q.fifo")
    for bad in ("", "ingest", "arn:aws:sns:us-east-1:1:topic", "arn:aws:sqs:us-east-1::q", "arn:aws:sqs:r:1:"):
        with pytest.raises(TransientError, match="is not an SQS queue ARN"):
            parse_queue_arn(bad)
