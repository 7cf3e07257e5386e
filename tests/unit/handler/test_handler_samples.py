"""samples/ produce what samples/README.md says they produce."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from log_ingest.handler import handle
from log_ingest.items import item_to_plain
from s3pipe.strategies import s3_event_record, s3_notification_body, sqs_event, sqs_record

from .fakes import World, make_world

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def run(name: str, data: bytes | None = None) -> tuple[World, str]:
    world = make_world()
    key = f"samples/{name}"
    world.s3.put("demo-bucket", key, data if data is not None else (SAMPLES / name).read_bytes())
    event = sqs_event([sqs_record(s3_notification_body([s3_event_record("demo-bucket", key)]), "m-1")])
    assert handle(event, world.context(), world.deps) == {"batchItemFailures": []}
    return world, key


def plain(world: World) -> list[dict[str, Any]]:
    return [item_to_plain(world.dynamodb.items[k]) for k in sorted(world.dynamodb.items)]


def test_server_log_json_is_the_article_item() -> None:
    world, _ = run("server-log.json")
    assert list(world.dynamodb.items.values()) == [
        {
            "PK": {"S": "USER#12345"},
            "SK": {"S": "LOG#2025-10-20T10:30:00Z"},
            "timestamp": {"S": "2025-10-20T10:30:00Z"},
            "userId": {"S": "12345"},
            "action": {"S": "login"},
            "ipAddress": {"S": "192.168.1.100"},
        }
    ]


@pytest.mark.parametrize(("name", "count", "fmt"), [("events.jsonl", 5, "jsonl"), ("access.log", 4, "combined")])
def test_generated_key_samples(name: str, count: int, fmt: str) -> None:
    world, key = run(name)
    items = plain(world)
    assert [i["SK"] for i in items] == [f"REC#{n:010d}" for n in range(1, count + 1)]
    assert {i["PK"] for i in items} == {f"SRC#s3://demo-bucket/{key}"}
    assert {i["src_format"] for i in items} == {fmt}
    assert world.sqs.sent == []


def test_batch_json_is_stored_verbatim() -> None:
    world, _ = run("batch.json")
    assert sorted(world.dynamodb.items) == [
        ("USER#12345", "LOG#2025-10-20T11:00:00Z"),
        ("USER#12345", "LOG#2025-10-20T11:05:00Z"),
        ("USER#67890", "LOG#2025-10-20T11:10:00Z"),
    ]


def test_access_log_gz_made_at_demo_time() -> None:
    world, _ = run("access.log.gz", gzip.compress((SAMPLES / "access.log").read_bytes()))
    items = plain(world)
    assert len(items) == 4
    assert items[0]["time"] == "2025-10-20T10:30:00Z"
    assert "bytes" not in items[2]


def test_mixed_jsonl() -> None:
    world, key = run("mixed.jsonl")
    records = [i for i in plain(world) if i["PK"].startswith("SRC#")]
    rejections = [i for i in plain(world) if i["PK"].startswith("REJECT#")]
    assert [(r["SK"], r["src_line"]) for r in records] == [
        ("REC#0000000001", 1),
        ("REC#0000000003", 3),
        ("REC#0000000006", 7),
    ]
    assert [(r["SK"], r["reason"]) for r in rejections] == [
        ("LINE#0000000002", "invalid JSON: Expecting ',' delimiter (column 74)"),
        ("LINE#0000000004", "line is a JSON array, not an object"),
        ("LINE#0000000005", "non-finite number NaN is not allowed (DynamoDB cannot store it)"),
    ]
    assert {r["PK"] for r in rejections} == {f"REJECT#s3://demo-bucket/{key}"}


def test_broken_json_goes_to_the_dlq() -> None:
    world, key = run("broken.json")
    assert world.dynamodb.items == {}
    (sent,) = world.sqs.sent
    assert sent.attributes == {
        "FailureReason": "JSON syntax error at line 7: Expecting property name enclosed in double quotes",
        "FailureClass": "permanent",
        "SourceMessageId": "m-1",
        "ObjectBucket": "demo-bucket",
        "ObjectKey": key,
    }
