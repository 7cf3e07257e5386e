"""Keys arrive URL-encoded; re-delivery is idempotent."""

from __future__ import annotations

import pytest

from s3pipe.pipeline import Pipeline

KEYS = [
    "with space/log file.jsonl",
    "plus+sign/a+b.jsonl",
    "percent%20literal/100%.jsonl",
    "equals=and&amp/k=v.jsonl",
    "ユニコード/ログ 日本語.jsonl",
    "deep/" + "/".join(f"level{i}" for i in range(12)) + "/events.jsonl",
]


@pytest.mark.parametrize("name", KEYS, ids=["space", "plus", "percent", "equals", "unicode", "deep"])
def test_keys_are_decoded_exactly(pipeline: Pipeline, name: str) -> None:
    upload = pipeline.upload(name, '{"ok": 1}\n')

    items = pipeline.items_for(upload)

    assert len(items) == 1
    assert items[0]["src_key"] == upload.key
    assert items[0]["PK"] == f"SRC#s3://{upload.bucket}/{upload.key}"


def test_reuploading_the_same_object_does_not_duplicate_items(pipeline: Pipeline) -> None:
    body = "".join(f'{{"n": {i}}}\n' for i in range(40))
    first = pipeline.upload("same.jsonl", body)
    items_first = pipeline.items_for(first)

    second = pipeline.upload("same.jsonl", body)
    pipeline.wait_for(second)
    items_second = pipeline.items_for(second)

    assert len(items_first) == 40
    assert items_second == items_first
    assert len(pipeline.observer.object_lines(first.bucket, first.key)) >= 2  # processed twice, stored once
