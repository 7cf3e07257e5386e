"""Bad input gets a clear, specific outcome, and nothing good is lost alongside it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from s3pipe.pipeline import Pipeline


def test_malformed_json_lands_in_the_dlq_with_its_reason_and_writes_nothing(pipeline: Pipeline, samples: Path) -> None:
    upload = pipeline.upload("broken.json", (samples / "broken.json").read_bytes())

    entries = pipeline.dlq_entries_for(upload)

    assert len(entries) == 1
    entry = entries[0]
    assert entry.failure_class == "permanent"
    assert entry.reason.startswith("JSON syntax error at line 7"), entry.reason
    assert entry.attributes["ObjectKey"] == upload.key
    assert json.loads(entry.body)["Records"][0]["s3"]["bucket"]["name"] == upload.bucket
    assert pipeline.wait_for(upload).event == "object_dead_lettered"
    assert pipeline.items_for(upload) == []
    assert pipeline.rejections_for(upload) == []


def test_file_with_some_bad_lines_keeps_good_lines_and_reports_bad_ones(pipeline: Pipeline, samples: Path) -> None:
    upload = pipeline.upload("mixed.jsonl", (samples / "mixed.jsonl").read_bytes())

    outcome = pipeline.wait_for(upload)
    items = pipeline.items_for(upload)
    rejections = pipeline.rejections_for(upload)

    assert outcome.event == "object_partially_stored"
    assert (outcome.fields["stored"], outcome.fields["rejected"]) == (3, 3)
    assert [(item["SK"], item["src_line"], item["userId"]) for item in items] == [
        ("REC#0000000001", Decimal(1), "12345"),
        ("REC#0000000003", Decimal(3), "67890"),
        ("REC#0000000006", Decimal(7), "12345"),
    ]
    assert [(r["SK"], r["src_line"]) for r in rejections] == [
        ("LINE#0000000002", Decimal(2)),
        ("LINE#0000000004", Decimal(4)),
        ("LINE#0000000005", Decimal(5)),
    ]
    reasons = [r["reason"] for r in rejections]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1] == "line is a JSON array, not an object"
    assert "NaN" in reasons[2]
    assert all(r["src_key"] == upload.key for r in rejections)
    assert rejections[1]["excerpt"] == '["not", "an", "object"]'
    assert pipeline.observer.dlq.for_object(upload.bucket, upload.key) == []


def test_file_whose_every_line_is_bad_goes_to_the_dlq_and_writes_nothing(pipeline: Pipeline) -> None:
    upload = pipeline.upload("all-bad.jsonl", 'not json\n[1, 2]\n{"x": NaN}\n')

    entries = pipeline.dlq_entries_for(upload)

    assert len(entries) == 1
    assert entries[0].reason.startswith("all 3 records were rejected, nothing was stored"), entries[0].reason
    assert pipeline.items_for(upload) == []
    assert pipeline.rejections_for(upload) == []


def test_non_matching_suffix_is_ignored(pipeline: Pipeline) -> None:
    ignored = pipeline.upload("report.csv", "a,b\n1,2\n")
    marker = pipeline.upload("marker.jsonl", '{"after": "csv"}\n')

    pipeline.wait_for(marker)
    pipeline.settle()

    assert pipeline.observer.object_lines(ignored.bucket, ignored.key) == []
    assert pipeline.items_for(marker) != []
    assert pipeline.query(f"SRC#s3://{ignored.bucket}/{ignored.key}") == []


def test_s3_test_event_is_harmless(pipeline: Pipeline) -> None:
    body = json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2025-10-20T10:30:00.000Z",
            "Bucket": pipeline.bucket,
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        }
    )
    message_id = pipeline.send_message(body)

    line = pipeline.wait_for_message_event(message_id, {"s3_test_event"})
    pipeline.settle()

    assert line.fields is not None
    assert line.fields["message_id"] == message_id
    assert [e for e in pipeline.observer.dlq.entries if e.attributes.get("SourceMessageId") == message_id] == []


def test_body_that_is_not_an_s3_event_goes_to_the_dlq_with_its_reason(pipeline: Pipeline) -> None:
    message_id = pipeline.send_message('{"hello": "world"}')

    entries = pipeline.dlq_entries_for_message(message_id)

    assert len(entries) == 1
    assert entries[0].failure_class == "permanent"
    assert entries[0].body == '{"hello": "world"}'
    assert "S3" in entries[0].reason, entries[0].reason
