"""Each accepted format lands as the expected items, asserted field by field."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from s3pipe.pipeline import Pipeline, source_pk

ARTICLE_ITEM = {
    "PK": "USER#12345",
    "SK": "LOG#2025-10-20T10:30:00Z",
    "timestamp": "2025-10-20T10:30:00Z",
    "userId": "12345",
    "action": "login",
    "ipAddress": "192.168.1.100",
}


def provenance(pipeline: Pipeline, key: str, ordinal: int, line: int, fmt: str) -> dict[str, object]:
    return {
        "PK": source_pk(pipeline.bucket, key),
        "SK": f"REC#{ordinal:010d}",
        "src_bucket": pipeline.bucket,
        "src_key": key,
        "src_line": Decimal(line),
        "src_format": fmt,
    }


def test_article_server_log_is_stored_verbatim(pipeline: Pipeline, samples: Path) -> None:
    upload = pipeline.upload("server-log.json", (samples / "server-log.json").read_bytes())

    outcome = pipeline.wait_for(upload)

    assert outcome.event == "object_stored"
    # exactly the article's `aws dynamodb scan` output: six S attributes, nothing added
    assert pipeline.get_item(ARTICLE_ITEM["PK"], ARTICLE_ITEM["SK"]) == ARTICLE_ITEM
    raw = pipeline.stack.dynamodb.get_item(
        TableName=pipeline.stack.outputs.table_name,
        Key={"PK": {"S": ARTICLE_ITEM["PK"]}, "SK": {"S": ARTICLE_ITEM["SK"]}},
    )["Item"]
    assert raw == {name: {"S": value} for name, value in ARTICLE_ITEM.items()}


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_json_lines_become_one_item_per_line(pipeline: Pipeline, gzip: bool, suffix: str) -> None:
    records = [
        {"ts": "2025-10-20T10:30:00Z", "user": "12345", "action": "login", "latency": 0.25},
        {"ts": "2025-10-20T10:31:00Z", "user": "67890", "action": "view", "tags": ["a", "b"], "ok": True},
        {"ts": "2025-10-20T10:32:00Z", "user": "12345", "nested": {"depth": 2, "none": None}},
    ]
    body = "".join(json.dumps(record) + "\n" for record in records)
    name = f"events{suffix}" + (".gz" if gzip else "")
    upload = pipeline.upload(name, body, gzip=gzip)

    items = pipeline.items_for(upload)

    assert items == [
        {
            **provenance(pipeline, upload.key, 1, 1, "jsonl"),
            "ts": "2025-10-20T10:30:00Z",
            "user": "12345",
            "action": "login",
            "latency": Decimal("0.25"),
        },
        {
            **provenance(pipeline, upload.key, 2, 2, "jsonl"),
            "ts": "2025-10-20T10:31:00Z",
            "user": "67890",
            "action": "view",
            "tags": ["a", "b"],
            "ok": True,
        },
        {
            **provenance(pipeline, upload.key, 3, 3, "jsonl"),
            "ts": "2025-10-20T10:32:00Z",
            "user": "12345",
            "nested": {"depth": Decimal(2), "none": None},
        },
    ]


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_json_array_of_objects(pipeline: Pipeline, gzip: bool) -> None:
    body = '[\n  {"event": "a", "n": 1},\n  {"event": "b", "n": 2.5}\n]\n'
    upload = pipeline.upload("array.json" + (".gz" if gzip else ""), body, gzip=gzip)

    items = pipeline.items_for(upload)

    assert items == [
        {**provenance(pipeline, upload.key, 1, 2, "json_array"), "event": "a", "n": Decimal(1)},
        {**provenance(pipeline, upload.key, 2, 3, "json_array"), "event": "b", "n": Decimal("2.5")},
    ]


def test_json_array_carrying_keys_is_stored_verbatim(pipeline: Pipeline, samples: Path) -> None:
    upload = pipeline.upload("batch.json", (samples / "batch.json").read_bytes())
    pipeline.wait_for(upload)

    expected = json.loads((samples / "batch.json").read_text())
    for record in expected:
        assert pipeline.get_item(record["PK"], record["SK"]) == record


def test_single_json_object_without_keys_gets_generated_keys(pipeline: Pipeline) -> None:
    upload = pipeline.upload("one.json", '{\n  "host": "web-1",\n  "cpu": 0.93\n}\n')

    assert pipeline.items_for(upload) == [
        {**provenance(pipeline, upload.key, 1, 1, "json"), "host": "web-1", "cpu": Decimal("0.93")}
    ]


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_combined_and_common_log_format_lines(pipeline: Pipeline, gzip: bool) -> None:
    body = (
        '192.168.1.100 - - [20/Oct/2025:19:30:00 +0900] "GET /index.html HTTP/1.1" 200 5120 "-" '
        '"Mozilla/5.0 (X11)"\n'
        '198.51.100.23 - alice [20/Oct/2025:19:31:15 +0900] "POST /api/login HTTP/1.1" 302 -\n'
    )
    upload = pipeline.upload("access.log" + (".gz" if gzip else ""), body, gzip=gzip)

    items = pipeline.items_for(upload)

    assert items == [
        {
            **provenance(pipeline, upload.key, 1, 1, "combined"),
            "remote_host": "192.168.1.100",
            "ident": "-",
            "user": "-",
            "time": "2025-10-20T10:30:00Z",
            "method": "GET",
            "path": "/index.html",
            "protocol": "HTTP/1.1",
            "status": Decimal(200),
            "bytes": Decimal(5120),
            "referer": "-",
            "user_agent": "Mozilla/5.0 (X11)",
        },
        {
            **provenance(pipeline, upload.key, 2, 2, "clf"),
            "remote_host": "198.51.100.23",
            "ident": "-",
            "user": "alice",
            "time": "2025-10-20T10:31:15Z",
            "method": "POST",
            "path": "/api/login",
            "protocol": "HTTP/1.1",
            "status": Decimal(302),
        },
    ]
