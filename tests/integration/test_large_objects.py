"""Large objects are stored completely, across as many invocations as they need."""

from __future__ import annotations

import json

import pytest

from s3pipe.pipeline import Pipeline

LINES = 100_000


@pytest.mark.slow
def test_hundred_thousand_line_file_is_stored_completely(pipeline: Pipeline) -> None:
    body = "".join(
        json.dumps({"seq": i, "level": "info", "msg": f"request {i} served", "latency_ms": i % 250}) + "\n"
        for i in range(LINES)
    )
    upload = pipeline.upload("big.jsonl", body)

    outcome = pipeline.wait_for(upload, timeout=300)
    items = pipeline.items_for(upload)

    assert outcome.event == "object_stored"
    assert (outcome.fields["records"], outcome.fields["stored"], outcome.fields["rejected"]) == (LINES, LINES, 0)
    assert len(items) == LINES
    assert [int(item["seq"]) for item in items] == list(range(LINES))  # SK order == file order, none missing
    assert items[-1]["SK"] == f"REC#{LINES:010d}"
    assert pipeline.observer.dlq.for_object(upload.bucket, upload.key) == []
