"""Several objects in one invocation: the bad ones never cost the good ones."""

from __future__ import annotations

import pytest
from conftest import mapping_paused

from s3pipe.backends.base import Capability
from s3pipe.pipeline import Pipeline


@pytest.mark.requires(Capability.ONE_INVOCATION_PER_QUEUED_BATCH)
def test_batch_mixing_good_and_bad_objects_keeps_the_good_ones(pipeline: Pipeline) -> None:
    with mapping_paused(pipeline.stack):
        good = {i: pipeline.upload(f"good-{i}.jsonl", f'{{"i": {i}}}\n{{"i": {i + 100}}}\n') for i in range(4)}
        bad = [pipeline.upload(f"bad-{i}.json", '{"unterminated": ') for i in range(2)]
        pipeline.wait_for_queue_depth(len(good) + len(bad))

    outcomes = {upload.key: pipeline.wait_for(upload) for upload in [*good.values(), *bad]}

    request_ids = {outcome.fields["aws_request_id"] for outcome in outcomes.values()}
    assert len(request_ids) == 1, f"expected one invocation for the whole batch, saw {request_ids}"
    for i, upload in good.items():
        assert outcomes[upload.key].event == "object_stored"
        assert [item["i"] for item in pipeline.items_for(upload)] == [i, i + 100]
    for upload in bad:
        assert outcomes[upload.key].event == "object_dead_lettered"
        (entry,) = pipeline.dlq_entries_for(upload)
        assert entry.reason.startswith("JSON syntax error"), entry.reason
        assert pipeline.items_for(upload) == []
    summaries = [
        line
        for line in pipeline.observer.logs.structured()
        if line.event == "invocation_summary" and line.fields and line.fields["aws_request_id"] in request_ids
    ]
    assert len(summaries) == 1
    assert summaries[0].fields is not None
    assert (summaries[0].fields["messages"], summaries[0].fields["dead_lettered"], summaries[0].fields["failed"]) == (
        6,
        2,
        0,
    )
