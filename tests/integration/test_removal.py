"""`on_object_removed = "delete"`: deleting an object deletes its items (lambda/log_ingest/versions.py);
the default, "retain", is the corpus case `event-object-removed` (ignored, items kept)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from s3pipe.backends.base import Capability
from s3pipe.contract import HEAD_SK, head_pk, rejection_pk
from s3pipe.pipeline import Pipeline, StackObserver
from s3pipe.stack import Stack


@pytest.fixture(scope="module")
def removal_pipeline(s3pipe_stack_factory: Callable[..., Stack]) -> Pipeline:
    stack = s3pipe_stack_factory("removal", extra_variables={"on_object_removed": "delete"})
    return Pipeline(stack, StackObserver(stack), f"t/removal-{secrets.token_hex(3)}/")


def jsonl(*values: object) -> str:
    return "".join((json.dumps({"v": v}) if v != "bad" else "{broken") + "\n" for v in values)


# The removal deletes the object's rejection reports only when its event's sequencer is greater than
# the creation's (lambda/log_ingest/versions.py, claim_head).
@pytest.mark.aws_semantics(Capability.S3_EVENT_SEQUENCER_ORDER)
def test_deleting_an_object_deletes_its_items_and_a_new_upload_brings_them_back(removal_pipeline: Pipeline) -> None:
    pipeline = removal_pipeline
    first = pipeline.upload("gone.jsonl", jsonl(1, 2, "bad", 4))
    assert pipeline.wait_for(first).event == "object_partially_stored", pipeline.trace(first)
    assert [item["v"] for item in pipeline.items_for(first)] == [1, 2, 4]
    assert len(pipeline.rejections_for(first)) == 1

    # a versioned bucket: the delete adds a delete marker and S3 sends ObjectRemoved:DeleteMarkerCreated
    marker = pipeline.stack.s3.delete_object(Bucket=first.bucket, Key=first.key)

    def removed() -> dict[str, Any]:
        assert pipeline.object_items(first.bucket, first.key) == []
        assert pipeline.query(rejection_pk(first.bucket, first.key)) == []
        head = pipeline.get_item(head_pk(first.bucket, first.key), HEAD_SK)
        assert head is not None
        assert head["hwm"] == 0, head  # a tombstone: an older creation arriving late is ignored
        return head

    head = pipeline.eventually(removed, timeout=60, what=f"the items of {first.key} deleted")
    assert head["version_id"] == marker.get("VersionId", ""), head
    assert pipeline.observer.dlq.for_object(first.bucket, first.key) == []

    again = pipeline.upload("gone.jsonl", jsonl("back"))
    assert pipeline.wait_for(again).event == "object_stored", pipeline.trace(again)
    assert [item["v"] for item in pipeline.items_for(again)] == ["back"]
