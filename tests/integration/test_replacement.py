"""Re-uploads replace: the table ends with exactly what the newest version of an object says
(lambda/log_ingest/versions.py), whatever order the S3 events are delivered in."""

from __future__ import annotations

import json
import time

import pytest
from conftest import mapping_paused

from s3pipe.backends.base import Capability
from s3pipe.contract import HEAD_SK, TERMINAL_EVENTS, head_pk, record_pk, source_pk
from s3pipe.pipeline import Pipeline, Upload


def jsonl(*values: object) -> str:
    return "".join((json.dumps({"v": v}) if v != "bad" else "{broken") + "\n" for v in values)


# The second version must delete the first one's rejection reports: that needs its event's sequencer
# to be greater than the first's (lambda/log_ingest/versions.py, claim_head).
@pytest.mark.aws_semantics(Capability.S3_EVENT_SEQUENCER_ORDER)
def test_a_shrinking_reupload_leaves_exactly_the_new_records(pipeline: Pipeline) -> None:
    first = pipeline.upload("shrink.jsonl", jsonl(*range(1, 11), "bad", 12))
    assert pipeline.wait_for(first).event == "object_partially_stored"
    assert [item["v"] for item in pipeline.items_for(first)] == [*range(1, 11), 12]
    assert [item["src_line"] for item in pipeline.rejections_for(first)] == [11]

    second = pipeline.upload("shrink.jsonl", jsonl("a", "bad", "c"))
    assert pipeline.wait_for(second).event == "object_partially_stored"

    items = pipeline.items_for(second)
    assert [(item["SK"], item["v"]) for item in items] == [("REC#0000000001", "a"), ("REC#0000000003", "c")]
    assert [item["src_line"] for item in pipeline.rejections_for(second)] == [2]
    head = pipeline.get_item(head_pk(second.bucket, second.key), HEAD_SK)
    assert head is not None
    assert (head["version_id"], head["hwm"]) == (second.version_id, 3)


def _take_events(pipeline: Pipeline, uploads: list[Upload], timeout: float = 30.0) -> dict[str, str]:
    """Receive (and delete) the S3 event messages of ``uploads`` from the paused queue: version id -> body."""
    sqs, url = pipeline.stack.sqs, pipeline.stack.outputs.queue_url
    wanted = {u.version_id for u in uploads}
    bodies: dict[str, str] = {}
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while wanted - set(bodies) and time.monotonic() < deadline:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60)
        for message in response.get("Messages", []):
            body = message["Body"]
            seen.append(body[:200])
            records = json.loads(body).get("Records", [])
            for record in records:
                version = record.get("s3", {}).get("object", {}).get("versionId")
                if version in wanted:
                    bodies[version] = body
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert not wanted - set(bodies), f"S3 events of {sorted(map(str, wanted - set(bodies)))} not received; saw {seen}"
    return bodies


# The older event is recognised as superseded by its lower sequencer.
@pytest.mark.aws_semantics(Capability.S3_EVENT_SEQUENCER_ORDER)
def test_two_versions_delivered_newest_first_end_with_the_newest_content(pipeline: Pipeline) -> None:
    with mapping_paused(pipeline.stack):
        older = pipeline.upload("order.jsonl", jsonl("old-1", "old-2", "old-3", "old-4"))
        newer = pipeline.upload("order.jsonl", jsonl("new-1", "new-2"))
        assert older.version_id
        assert newer.version_id
        assert older.version_id != newer.version_id
        events = _take_events(pipeline, [older, newer])
        pipeline.send_message(events[str(newer.version_id)])  # the newest first ...

    assert pipeline.wait_for(newer).event == "object_stored"
    pipeline.send_message(events[str(older.version_id)])  # ... then the older one
    outcome = pipeline.wait_for(older)

    assert outcome.event == "object_ignored"
    assert str(outcome.fields["reason"]).startswith("superseded: a newer version")
    stored = pipeline.items_for(newer)
    assert [item["v"] for item in stored] == ["new-1", "new-2"]

    # redelivering the newest version's event is idempotent
    again = pipeline.send_message(events[str(newer.version_id)])
    line = pipeline.wait_for_message_event(again, set(TERMINAL_EVENTS))
    assert line.event == "object_stored"
    assert pipeline.object_items(newer.bucket, newer.key) == stored


RECORD_SHARD_BYTES = 1 << 20  # lambda/log_ingest/config.py default


def test_a_large_objects_items_span_several_partition_keys_and_read_back_in_order(pipeline: Pipeline) -> None:
    lines = 13_000  # ~2.6 MB of 200-byte lines: 3 partitions of at most 1 MiB each
    body = "".join(json.dumps({"n": n, "pad": "x" * 170}) + "\n" for n in range(1, lines + 1))
    assert 2 * RECORD_SHARD_BYTES < len(body) <= 3 * RECORD_SHARD_BYTES
    upload = pipeline.upload("spread.jsonl", body)
    assert pipeline.wait_for(upload, timeout=300).event == "object_stored"

    items = pipeline.object_items(upload.bucket, upload.key)
    assert [item["n"] for item in items] == list(range(1, lines + 1))
    partitions = {item["PK"] for item in items}
    assert partitions == {record_pk(upload.bucket, upload.key, shard) for shard in range(3)}
    assert len(pipeline.query(source_pk(upload.bucket, upload.key))) == -(-lines // 3)  # round-robin
    head = pipeline.get_item(head_pk(upload.bucket, upload.key), HEAD_SK)
    assert head is not None
    assert head["shards"] == 3
