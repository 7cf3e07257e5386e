"""DLQ message attributes: specific, bounded, acceptable to SQS."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from log_ingest.dlq import MAX_REASON_BYTES, build_attributes, sqs_safe, truncate_utf8

from .fakes import FakeSQS


@given(st.text(max_size=3000))
def test_failure_reason_is_at_most_1kb_and_sqs_safe(reason: str) -> None:
    attributes = build_attributes(reason=reason, source_message_id="m")
    value = attributes["FailureReason"]["StringValue"]
    assert 0 < len(value.encode()) <= MAX_REASON_BYTES
    assert sqs_safe(value) == value
    assert all(a["DataType"] == "String" and a["StringValue"] for a in attributes.values())


def test_attributes_for_an_object() -> None:
    attributes = build_attributes(
        reason="bad\x00thing", source_message_id="m-1", bucket="b", key="dir/a\x01b.json", version_id="v"
    )
    assert {k: v["StringValue"] for k, v in attributes.items()} == {
        "FailureReason": "bad\ufffdthing",
        "FailureClass": "permanent",
        "SourceMessageId": "m-1",
        "ObjectBucket": "b",
        "ObjectKey": "dir/a\ufffdb.json",
        "ObjectVersionId": "v",
    }


def test_truncation_keeps_utf8_whole() -> None:
    text = "日" * 1000
    cut = truncate_utf8(text)
    assert len(cut.encode()) <= MAX_REASON_BYTES
    assert cut.endswith("...")
    assert truncate_utf8("short") == "short"


def test_fake_sqs_refuses_what_sqs_refuses() -> None:
    sqs = FakeSQS()
    sqs.send_message(QueueUrl="q", MessageBody="x", MessageAttributes={})
    assert sqs.sent[0].body == "x"
