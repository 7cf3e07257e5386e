"""The handler end to end against fake clients: failure lists, DLQ, rejections, budget, logs."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from log_ingest import handler as handler_module
from log_ingest import logs
from log_ingest.dlq import sqs_safe
from log_ingest.formats import DEFAULT_ACCEPTED_SUFFIXES as ACCEPTED
from log_ingest.formats import FormatError, parse_bytes, spec_for_key
from log_ingest.handler import handle, lambda_handler
from log_ingest.items import KEY_ATTRIBUTES, PROVENANCE_ATTRIBUTES, item_to_plain
from s3pipe.strategies import (
    Payload,
    bucket_names,
    json_records,
    json_text,
    malformed_bodies,
    non_json_bodies,
    non_s3_json_bodies,
    object_keys,
    payloads,
    s3_event_record,
    s3_notification_bodies,
    s3_notification_body,
    s3_test_event_body,
    sqs_event,
    sqs_record,
)

from .fakes import DLQ_URL, World, client_error, make_world, read_timeout

logs.configure("INFO")

# Records free of the attribute names the handler adds to every item.
PAYLOADS = payloads(json_records(exclude_names=(*KEY_ATTRIBUTES, *PROVENANCE_ATTRIBUTES)))
# Beyond what SQS delivers: any text at all (control characters, the empty string) must not break the handler.
ANY_BODY = st.one_of(s3_notification_bodies(test_events=True), malformed_bodies(), st.text())


def not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


ARTICLE_SERVER_LOG = b"""{
  "PK": "USER#12345",
  "SK": "LOG#2025-10-20T10:30:00Z",
  "timestamp": "2025-10-20T10:30:00Z",
  "userId": "12345",
  "action": "login",
  "ipAddress": "192.168.1.100"
}
"""


def one_object_event(
    world: World, bucket: str, key: str, data: bytes | None, message_id: str = "m-1"
) -> dict[str, Any]:
    if data is not None:
        world.s3.put(bucket, key, data)
    return sqs_event(
        [sqs_record(s3_notification_body([s3_event_record(bucket, key, size=len(data or b""))]), message_id)]
    )


def failures(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def stored_records(world: World, bucket: str, key: str) -> list[dict[str, Any]]:
    part = world.dynamodb.object_records(bucket, key)
    return [item_to_plain(part[sk]) for sk in sorted(part)]


def stored_rejections(world: World, bucket: str, key: str) -> list[dict[str, Any]]:
    part = world.dynamodb.partition(f"REJECT#s3://{bucket}/{key}")
    return [item_to_plain(part[sk]) for sk in sorted(part)]


# ================================================================= property: exact failure list

BEHAVIOURS = [
    "ok",
    "ok",
    "bad_content",
    "missing",
    "throttled",
    "access_denied",
    "ddb_down",
    "stream_timeout",
    "ignored",
]
TRANSIENT = {"throttled", "access_denied", "ddb_down", "stream_timeout"}
PERMANENT = {"bad_content", "missing"}


@dataclass
class PlannedObject:
    bucket: str
    key: str
    behaviour: str
    payload: Payload | None


@dataclass
class PlannedMessage:
    message_id: str
    kind: str  # "s3", "test", "non_s3", "non_json", "empty"
    body: str
    objects: list[PlannedObject]


@st.composite
def planned_batches(draw: st.DrawFn) -> list[PlannedMessage]:
    messages = []
    counter = 0
    for m in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["s3", "s3", "s3", "test", "non_s3", "non_json", "empty"]))
        objects: list[PlannedObject] = []
        if kind == "s3":
            for _ in range(draw(st.integers(1, 3))):
                counter += 1
                behaviour = draw(st.sampled_from(BEHAVIOURS))
                payload = draw(PAYLOADS) if behaviour in ("ok", "ddb_down") else None
                suffix = payload.suffix if payload else draw(st.sampled_from([".json", ".jsonl", ".log.gz"]))
                if behaviour == "ignored":
                    suffix = ".csv"
                key = draw(object_keys(suffixes=f" obj {counter}+%={suffix}"))
                objects.append(PlannedObject(draw(bucket_names()), key, behaviour, payload))
            body = s3_notification_body([s3_event_record(o.bucket, o.key) for o in objects])
        elif kind == "test":
            body = s3_test_event_body()
        elif kind == "non_s3":
            body = draw(non_s3_json_bodies())
        elif kind == "non_json":
            body = draw(st.one_of(non_json_bodies(), st.text(min_size=1, max_size=40).filter(not_json)))
        else:
            body = ""
        messages.append(PlannedMessage(f"msg-{m}", kind, body, objects))
    return messages


def build_world(plan: list[PlannedMessage]) -> World:
    world = make_world()
    failing_keys: set[str] = set()
    for message in plan:
        for obj in message.objects:
            where = (obj.bucket, obj.key)
            if obj.behaviour in ("ok", "ddb_down"):
                assert obj.payload is not None
                world.s3.put(obj.bucket, obj.key, obj.payload.data)
                if obj.behaviour == "ddb_down":
                    failing_keys.add(obj.key)
            elif obj.behaviour == "bad_content":
                world.s3.put(obj.bucket, obj.key, b"\x1f\x8b not gzip" if obj.key.endswith(".gz") else b'[{"a": 1},')
            elif obj.behaviour == "throttled":
                world.s3.errors[where] = client_error("SlowDown", "GetObject", "Please reduce your request rate.", 503)
            elif obj.behaviour == "access_denied":
                world.s3.errors[where] = client_error("AccessDenied", "GetObject", "Access Denied", 403)
            elif obj.behaviour == "stream_timeout":
                content = b'{"a": 1}\n' * 1000
                world.s3.put(obj.bucket, obj.key, gzip.compress(content) if obj.key.endswith(".gz") else content)
                world.s3.stream_errors[where] = read_timeout()

    def on_batch(items: list[dict[str, Any]]) -> None:
        if any(i.get("src_key", {}).get("S") in failing_keys for i in items):
            raise client_error("InternalServerError", "BatchWriteItem", "Internal server error", 500)

    world.dynamodb.on_batch = on_batch
    return world


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], deadline=None)
@given(planned_batches())
def test_failure_list_names_exactly_the_messages_with_a_transient_failure(plan: list[PlannedMessage]) -> None:
    world = build_world(plan)
    event = sqs_event([sqs_record(m.body, m.message_id) for m in plan])
    response = handle(event, world.context(), world.deps)

    expected_failures = [m.message_id for m in plan if any(o.behaviour in TRANSIENT for o in m.objects)]
    assert failures(response) == expected_failures

    for message in plan:
        dlq = [s for s in world.sqs.sent if s.attributes["SourceMessageId"] == message.message_id]
        if message.message_id in expected_failures:
            assert dlq == []  # deferred: the retry settles it
            continue
        if message.kind in ("non_s3", "non_json", "empty"):
            (sent,) = dlq
            assert sent.body == (sqs_safe(message.body) or "(empty message body)")
            assert sent.attributes["FailureClass"] == "permanent"
            assert "ObjectKey" not in sent.attributes
            continue
        permanent = [o for o in message.objects if o.behaviour in PERMANENT]
        assert [(s.attributes["ObjectBucket"], s.attributes["ObjectKey"]) for s in dlq] == [
            (o.bucket, o.key) for o in permanent
        ]
        for sent, obj in zip(dlq, permanent, strict=True):
            assert sent.queue_url == DLQ_URL
            assert sent.attributes["FailureReason"]
            if len(message.objects) == 1:
                assert sent.body == message.body
            else:
                (record,) = json.loads(sent.body)["Records"]
                assert unquote_plus(record["s3"]["object"]["key"]) == obj.key
            assert stored_records(world, obj.bucket, obj.key) == []
            assert stored_rejections(world, obj.bucket, obj.key) == []
        for obj in message.objects:
            if obj.behaviour == "ok":
                assert obj.payload is not None
                got = stored_records(world, obj.bucket, obj.key)
                assert [(r["src_line"], r["src_format"]) for r in got] == [(ln, f) for ln, _, f in obj.payload.expected]
                assert [
                    {k: v for k, v in r.items() if not k.startswith("src_") and k not in ("PK", "SK")} for r in got
                ] == [rec for _, rec, _ in obj.payload.expected]


# ===================================================================== property: never raises

RANDOM_EVENTS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda c: st.one_of(
        st.lists(c, max_size=3),
        st.dictionaries(st.sampled_from(["Records", "messageId", "body", "x"]), c, max_size=3),
    ),
    max_leaves=10,
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.one_of(
        RANDOM_EVENTS,
        st.lists(st.tuples(st.one_of(st.none(), st.text(max_size=5)), ANY_BODY), max_size=4).map(
            lambda pairs: sqs_event([{"messageId": mid, "body": body} for mid, body in pairs])
        ),
    ),
    st.binary(max_size=300),
)
def test_no_input_makes_the_handler_raise(event: Any, content: bytes) -> None:
    world = make_world()
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        for record in event["Records"]:
            try:
                body = json.loads(record["body"])
                for r in body["Records"]:
                    world.s3.put(r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"]), content)
            except (ValueError, KeyError, TypeError):
                pass
    response = handle(event, world.context(), world.deps)
    ids = [
        r.get("messageId")
        for r in (event.get("Records") if isinstance(event, dict) and isinstance(event.get("Records"), list) else [])
        if isinstance(r, dict)
    ]
    for identifier in failures(response):
        assert isinstance(identifier, str)
        assert identifier
        assert identifier in ids


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=2000), st.sampled_from([".json", ".jsonl", ".log", ".json.gz", ".jsonl.gz", ".log.gz"]))
def test_arbitrary_content_is_stored_or_dead_lettered(content: bytes, suffix: str) -> None:
    world = make_world()
    event = one_object_event(world, "b", "f" + suffix, content)
    response = handle(event, world.context(), world.deps)
    assert failures(response) == []
    # Stored, or dead-lettered with a reason, or nothing to store at all: never silently dropped.
    spec = spec_for_key("f" + suffix, ACCEPTED)
    assert spec is not None
    try:
        entries = parse_bytes(content, spec.family, gzip_suffix=spec.gzip_suffix)
    except FormatError:
        assert world.dynamodb.items == {}
        assert len(world.sqs.sent) == 1
        return
    if not entries:
        assert world.dynamodb.items == {}
        assert world.sqs.sent == []
    else:
        assert bool(world.dynamodb.items) != bool(world.sqs.sent)


# ======================================================== property: keys deterministic, mixed files


@settings(deadline=None)
@given(PAYLOADS)
def test_same_object_twice_writes_identical_keys(payload: Payload) -> None:
    world = make_world()
    key = "dir/file" + payload.suffix
    event = one_object_event(world, "b", key, payload.data)
    assert failures(handle(event, world.context(), world.deps)) == []
    first = dict(world.dynamodb.items)
    assert len(first) == len(payload.expected)
    assert failures(handle(event, world.context(), world.deps)) == []
    assert world.dynamodb.items == first


@settings(deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(0, 10**6)), min_size=2, max_size=30).filter(
        lambda v: any(x is not None for x in v) and None in v
    )
)
def test_file_with_some_bad_lines_writes_good_lines_and_rejection_items(values: list[int | None]) -> None:
    world = make_world()
    lines = [json_text({"n": v}) if v is not None else "{broken" for v in values]
    event = one_object_event(world, "b", "mixed.jsonl", ("\n".join(lines) + "\n").encode())
    assert failures(handle(event, world.context(), world.deps)) == []
    good = [(i + 1, v) for i, v in enumerate(values) if v is not None]
    bad = [i + 1 for i, v in enumerate(values) if v is None]
    records = stored_records(world, "b", "mixed.jsonl")
    assert [(r["src_line"], r["n"]) for r in records] == good
    assert [r["SK"] for r in records] == [f"REC#{line:010d}" for line, _ in good]
    rejections = stored_rejections(world, "b", "mixed.jsonl")
    assert [r["src_line"] for r in rejections] == bad
    assert all(r["reason"].startswith("invalid JSON") and r["excerpt"] == "{broken" for r in rejections)
    assert world.sqs.sent == []


# ========================================================================== examples: formats


def test_article_server_log_is_stored_exactly_as_printed() -> None:
    world = make_world()
    event = one_object_event(world, "my-bucket", "server-log.json", ARTICLE_SERVER_LOG)
    assert handle(event, world.context(), world.deps) == {"batchItemFailures": []}
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
    # The S3 request carried exactly bucket and key (no VersionId in this event).
    assert world.s3.calls == [{"Bucket": "my-bucket", "Key": "server-log.json"}]


def test_version_id_is_passed_to_get_object() -> None:
    world = make_world()
    world.s3.put("b", "k.jsonl", b'{"a": 1}\n')
    event = sqs_event([sqs_record(s3_notification_body([s3_event_record("b", "k.jsonl", version_id="v123")]), "m")])
    handle(event, world.context(), world.deps)
    assert world.s3.calls == [{"Bucket": "b", "Key": "k.jsonl", "VersionId": "v123"}]


def test_every_s3_record_of_a_message_is_processed() -> None:
    world = make_world()
    for n in range(3):
        world.s3.put("b", f"f{n}.jsonl", b'{"n": %d}\n' % n)
    event = sqs_event([sqs_record(s3_notification_body([s3_event_record("b", f"f{n}.jsonl") for n in range(3)]), "m")])
    assert failures(handle(event, world.context(), world.deps)) == []
    assert sorted(i["n"]["N"] for i in world.dynamodb.items.values()) == ["0", "1", "2"]


def test_gzip_access_log() -> None:
    world = make_world()
    line = b'203.0.113.9 - - [20/Oct/2025:10:30:00 +0000] "GET /index.html HTTP/1.1" 200 512 "-" "curl/8.5.0"\n'
    event = one_object_event(world, "b", "access.log.gz", gzip.compress(line * 3))
    assert failures(handle(event, world.context(), world.deps)) == []
    records = stored_records(world, "b", "access.log.gz")
    assert len(records) == 3
    assert records[0]["src_format"] == "combined"
    assert records[0]["time"] == "2025-10-20T10:30:00Z"


def test_duplicates_in_one_file_are_written_once_last_wins() -> None:
    world = make_world()
    body = (
        b'{"PK": "U#1", "SK": "S#1", "v": 1}\n{"PK": "U#1", "SK": "S#1", "v": 2}\n{"PK": "U#2", "SK": "S#1", "v": 3}\n'
    )
    event = one_object_event(world, "b", "dups.jsonl", body)
    assert failures(handle(event, world.context(), world.deps)) == []
    assert {k: item_to_plain(v)["v"] for k, v in world.dynamodb.items.items()} == {
        ("U#1", "S#1"): 2,
        ("U#2", "S#1"): 3,
    }
    assert all(len(b) == len(set(b)) for b in world.dynamodb.batches)


def test_truncated_gzip_stores_what_was_decoded_and_reports_the_truncation() -> None:
    world = make_world()
    data = gzip.compress(b"".join(b'{"n": %d, "pad": "%s"}\n' % (i, b"%x" % (i * 7919)) for i in range(20000)))
    event = one_object_event(world, "b", "t.jsonl.gz", data[: len(data) // 2])
    assert failures(handle(event, world.context(), world.deps)) == []
    records = stored_records(world, "b", "t.jsonl.gz")
    (rejection,) = stored_rejections(world, "b", "t.jsonl.gz")
    assert rejection["reason"] == f"gzip stream truncated after line {len(records)}"
    assert [r["n"] for r in records] == list(range(len(records)))


@pytest.mark.parametrize(
    ("key", "data", "reason"),
    [
        ("broken.json", b'{"PK": "x", "SK": ', "JSON syntax error at line 1"),
        ("n.json", b"42", "top-level JSON value is a number, not an object or array"),
        ("g.jsonl.gz", b"\x1f\x8b" + b"\x00" * 40, "not a valid gzip stream"),
        ("z.jsonl.gz", b"definitely not gzip\n", "not gzip-compressed"),
        ("bin.log", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content"),
        (
            "all-bad.jsonl",
            b"{\n[1]\nNaN\n",
            "all 3 records were rejected, nothing was stored; first: line 1: invalid JSON",
        ),
        (
            "nan.json",
            b'{"x": NaN}',
            "all 1 record was rejected, nothing was stored; first: line 1: non-finite number NaN",
        ),
        ("bad.log", b"hello\nworld\n", "all 2 records were rejected"),
        ("big.jsonl", b'{"n": 123456789012345678901234567890123456789}\n', "39 significant digits"),
        ("utf8.json", b'{"a": "\xff"}', "invalid UTF-8"),
    ],
)
def test_permanent_failures_go_to_the_dlq_with_a_specific_reason_and_write_nothing(
    key: str, data: bytes, reason: str
) -> None:
    world = make_world()
    event = one_object_event(world, "b", key, data, "m-9")
    assert handle(event, world.context(), world.deps) == {"batchItemFailures": []}
    assert world.dynamodb.items == {}
    assert world.dynamodb.batches == []
    (sent,) = world.sqs.sent
    assert reason in sent.attributes["FailureReason"]
    assert sent.attributes["FailureClass"] == "permanent"
    assert sent.attributes["SourceMessageId"] == "m-9"
    assert sent.attributes["ObjectBucket"] == "b"
    assert sent.attributes["ObjectKey"] == key
    assert sent.body == event["Records"][0]["body"]


def test_deleted_object_is_permanent() -> None:
    world = make_world()
    event = one_object_event(world, "b", "gone.json", None)
    assert failures(handle(event, world.context(), world.deps)) == []
    (sent,) = world.sqs.sent
    assert "NoSuchKey" in sent.attributes["FailureReason"]


def test_over_400kb_record_is_rejected_and_the_rest_stored() -> None:
    world = make_world()
    body = b'{"a": 1}\n{"blob": "' + b"x" * (410 * 1024) + b'"}\n{"b": 2}\n'
    event = one_object_event(world, "b", "big.jsonl", body)
    assert failures(handle(event, world.context(), world.deps)) == []
    assert len(stored_records(world, "b", "big.jsonl")) == 2
    (rejection,) = stored_rejections(world, "b", "big.jsonl")
    assert "exceeds DynamoDB's 400 KB limit" in rejection["reason"]
    assert rejection["src_line"] == 2


def test_dynamodb_validation_exception_isolates_the_item() -> None:
    world = make_world()
    world.dynamodb.invalid = lambda item: item.get("n", {}).get("N") == "2"
    event = one_object_event(world, "b", "v.jsonl", b'{"n": 1}\n{"n": 2}\n{"n": 3}\n')
    assert failures(handle(event, world.context(), world.deps)) == []
    assert [r["n"] for r in stored_records(world, "b", "v.jsonl")] == [1, 3]
    (rejection,) = stored_rejections(world, "b", "v.jsonl")
    assert rejection["src_line"] == 2
    assert rejection["reason"].startswith("DynamoDB refused the item")


# ============================================================= examples: hold-back and 2nd pass


def test_long_json_lines_file_streams_after_the_hold_limit() -> None:
    world = make_world(hold_max_entries=10)
    body = b"".join(b'{"n": %d}\n' % i for i in range(200)) + b"broken\n"
    event = one_object_event(world, "b", "long.jsonl", body)
    assert failures(handle(event, world.context(), world.deps)) == []
    assert len(stored_records(world, "b", "long.jsonl")) == 200
    assert len(stored_rejections(world, "b", "long.jsonl")) == 1
    assert len(world.s3.calls) == 1


def test_large_array_is_validated_then_read_again() -> None:
    world = make_world(hold_max_entries=10)
    body = b"[" + b",\n".join(b'{"n": %d}' % i for i in range(100)) + b"]"
    event = one_object_event(world, "b", "arr.json", body)
    assert failures(handle(event, world.context(), world.deps)) == []
    assert len(stored_records(world, "b", "arr.json")) == 100
    assert world.s3.calls == [
        {"Bucket": "b", "Key": "arr.json"},
        {"Bucket": "b", "Key": "arr.json", "IfMatch": '"0123abcd"'},
    ]


def test_large_array_broken_at_the_end_writes_nothing() -> None:
    world = make_world(hold_max_entries=10)
    body = b"[" + b",\n".join(b'{"n": %d}' % i for i in range(100)) + b",\n{oops}]"
    event = one_object_event(world, "b", "arr.json", body)
    assert failures(handle(event, world.context(), world.deps)) == []
    assert world.dynamodb.items == {}
    assert world.dynamodb.batches == []
    (sent,) = world.sqs.sent
    assert sent.attributes["FailureReason"].startswith("JSON syntax error at line 101")


def test_many_bad_lines_before_the_first_good_one() -> None:
    world = make_world(hold_max_entries=10)
    body = b"bad\n" * 50 + b'{"ok": 1}\n'
    event = one_object_event(world, "b", "late.jsonl", body)
    assert failures(handle(event, world.context(), world.deps)) == []
    assert len(stored_records(world, "b", "late.jsonl")) == 1
    assert len(stored_rejections(world, "b", "late.jsonl")) == 50
    assert len(world.s3.calls) == 2


def test_second_pass_does_not_report_its_rejections_as_unlogged(capsys: pytest.CaptureFixture[str]) -> None:
    world = make_world(hold_max_entries=10)
    event = one_object_event(world, "b", "late.jsonl", b"bad\n" * 50 + b'{"ok": 1}\n')
    capsys.readouterr()
    assert failures(handle(event, world.context(), world.deps)) == []
    events = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert events.count("object_second_pass") == 1
    assert events.count("record_rejected") == world.deps.settings.max_logged_rejections == 50
    assert "rejections_not_logged" not in events
    assert events.count("object_partially_stored") == 1


def test_a_rejected_huge_record_does_not_fill_the_hold() -> None:
    world = make_world(hold_max_chars=1 << 20)
    body = b'{"blob": "' + b"x" * (2 << 20) + b'"}\n{"ok": 1}\n'
    event = one_object_event(world, "b", "big.jsonl", body)
    assert failures(handle(event, world.context(), world.deps)) == []
    assert [r["ok"] for r in stored_records(world, "b", "big.jsonl")] == [1]
    (rejection,) = stored_rejections(world, "b", "big.jsonl")
    assert "exceeds DynamoDB's 400 KB limit" in rejection["reason"]
    assert rejection["excerpt"] == '{"blob":"' + "x" * 191
    assert len(world.s3.calls) == 1  # read once: only the small report was held


def test_many_bad_lines_and_no_good_one_writes_nothing() -> None:
    world = make_world(hold_max_entries=10)
    event = one_object_event(world, "b", "bad.jsonl", b"bad\n" * 50)
    assert failures(handle(event, world.context(), world.deps)) == []
    assert world.dynamodb.batches == []
    (sent,) = world.sqs.sent
    assert sent.attributes["FailureReason"].startswith("all 50 records were rejected")


# ==================================================================== examples: retries, budget


def test_unprocessed_items_are_retried_until_written() -> None:
    world = make_world()
    world.dynamodb.unprocessed_responses = 4
    event = one_object_event(world, "b", "u.jsonl", b'{"a": 1}\n{"a": 2}\n')
    assert failures(handle(event, world.context(), world.deps)) == []
    assert len(world.dynamodb.items) == 2
    assert len(world.clock.sleeps) == 4


def test_budget_exhaustion_while_writing_is_a_transient_failure() -> None:
    world = make_world()
    world.dynamodb.unprocessed_responses = 10**9
    event = one_object_event(world, "b", "u.jsonl", b'{"a": 1}\n', "m-slow")
    assert failures(handle(event, world.context(budget_ms=20_000), world.deps)) == ["m-slow"]
    assert world.sqs.sent == []


def test_messages_not_started_for_lack_of_time_are_reported() -> None:
    world = make_world()
    for n in range(3):
        world.s3.put("b", f"f{n}.jsonl", b'{"a": 1}\n')
    event = sqs_event(
        [sqs_record(s3_notification_body([s3_event_record("b", f"f{n}.jsonl")]), f"m{n}") for n in range(3)]
    )
    context = world.context(budget_ms=60_000)
    original = world.dynamodb.batch_write_item

    def slow(**request: Any) -> dict[str, Any]:
        world.clock.now += 30  # each write takes 30 s of the 60 s budget (10 s of it is the margin)
        return original(**request)

    world.dynamodb.batch_write_item = slow  # type: ignore[method-assign]
    assert failures(handle(event, context, world.deps)) == ["m2"]
    assert [c["Key"] for c in world.s3.calls] == ["f0.jsonl", "f1.jsonl"]


def test_dlq_send_failure_reports_the_message_for_retry() -> None:
    world = make_world()
    world.sqs.fail = client_error("InternalError", "SendMessage", status=500)
    event = sqs_event([sqs_record("not json", "m-x"), sqs_record(s3_test_event_body(), "m-ok")])
    assert failures(handle(event, world.context(), world.deps)) == ["m-x"]


def test_permanent_failure_beside_a_transient_one_is_deferred() -> None:
    world = make_world()
    world.s3.errors[("b", "slow.json")] = client_error("SlowDown", "GetObject", status=503)
    body = s3_notification_body(
        [s3_event_record("b", "gone.json"), s3_event_record("b", "slow.json"), s3_event_record("b", "never.json")]
    )
    event = sqs_event([sqs_record(body, "m")])
    assert failures(handle(event, world.context(), world.deps)) == ["m"]
    assert world.sqs.sent == []
    assert [c["Key"] for c in world.s3.calls] == ["gone.json", "slow.json"]  # never.json is not started


def test_reduced_dlq_body_for_one_failed_record_of_several() -> None:
    world = make_world()
    world.s3.put("b", "ok.jsonl", b'{"a": 1}\n')
    records = [s3_event_record("b", "ok.jsonl"), s3_event_record("b", "dir/gone file.json", version_id="v9")]
    event = sqs_event([sqs_record(s3_notification_body(records), "m")])
    assert failures(handle(event, world.context(), world.deps)) == []
    (sent,) = world.sqs.sent
    assert json.loads(sent.body) == {"Records": [records[1]]}
    assert sent.attributes["ObjectKey"] == "dir/gone file.json"
    assert sent.attributes["ObjectVersionId"] == "v9"


def test_ignored_objects_and_test_events() -> None:
    world = make_world()
    body = s3_notification_body(
        [s3_event_record("b", "notes.csv"), s3_event_record("b", "x.json", event_name="ObjectRemoved:Delete")]
    )
    event = sqs_event([sqs_record(body, "m1"), sqs_record(s3_test_event_body(), "m2")])
    assert handle(event, world.context(), world.deps) == {"batchItemFailures": []}
    assert world.s3.calls == []
    assert world.sqs.sent == []


def test_bug_in_one_message_fails_only_that_message(monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world()
    world.s3.put("b", "ok.jsonl", b'{"a": 1}\n')
    original = handler_module.process_object

    def buggy(ref: Any, *args: Any) -> Any:
        if ref.key == "bug.jsonl":
            raise ZeroDivisionError("boom")
        return original(ref, *args)

    monkeypatch.setattr(handler_module, "process_object", buggy)
    event = sqs_event(
        [
            sqs_record(s3_notification_body([s3_event_record("b", "bug.jsonl")]), "m-bug"),
            sqs_record(s3_notification_body([s3_event_record("b", "ok.jsonl")]), "m-ok"),
        ]
    )
    assert failures(handle(event, world.context(), world.deps)) == ["m-bug"]


def test_bug_outside_the_message_loop_fails_every_message(monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world()

    def broken(*args: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(handler_module, "make_deadline", broken)
    event = sqs_event([sqs_record("x", "m1"), sqs_record("y", "m2")])
    assert failures(handle(event, world.context(), world.deps)) == ["m1", "m2"]


def test_lambda_handler_without_configuration_retries_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLE_NAME", raising=False)
    monkeypatch.delenv("DLQ_URL", raising=False)
    monkeypatch.setattr(handler_module, "_default_dependencies", None)
    event = sqs_event([sqs_record("x", "m1"), sqs_record("y", "m2")])
    assert failures(lambda_handler(event, None)) == ["m1", "m2"]


def test_lambda_handler_builds_default_clients_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "events")
    monkeypatch.setenv("DLQ_URL", DLQ_URL)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("S3_ADDRESSING_STYLE", "path")
    monkeypatch.setattr(handler_module, "_default_dependencies", None)
    first = handler_module._get_default_dependencies()
    assert handler_module._get_default_dependencies() is first
    assert first.settings.table_name == "events"
    assert first.s3.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert (first.s3.meta.config.connect_timeout, first.s3.meta.config.read_timeout) == (5, 30)
    assert first.s3.meta.config.s3 == {"addressing_style": "path"}
    assert lambda_handler({"Records": []}, None) == {"batchItemFailures": []}
    if first.executor is not None:
        first.executor.shutdown()
    monkeypatch.setattr(handler_module, "_default_dependencies", None)


# =============================================================================== examples: logs


def test_log_lines_are_json_with_object_context(capsys: pytest.CaptureFixture[str]) -> None:
    world = make_world()
    world.s3.put("b", "ok.jsonl", b'{"a": 1}\nbad\n')
    event = sqs_event(
        [
            sqs_record(
                s3_notification_body([s3_event_record("b", "ok.jsonl"), s3_event_record("b", "gone.jsonl")]), "m1"
            ),
            sqs_record("not json", "m2"),
        ]
    )
    capsys.readouterr()

    context = world.context()
    context.aws_request_id = "req-42"
    handle(event, context, world.deps)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_event = {}
    for line in lines:
        by_event.setdefault(line["event"], []).append(line)
        assert line["aws_request_id"] == "req-42"
        assert {"time", "level", "event"} <= set(line)
    (partial,) = by_event["object_partially_stored"]
    assert (partial["message_id"], partial["bucket"], partial["key"]) == ("m1", "b", "ok.jsonl")
    assert (partial["records"], partial["stored"], partial["rejected"]) == (2, 1, 1)
    (rejected,) = by_event["record_rejected"]
    assert (rejected["key"], rejected["line"]) == ("ok.jsonl", 2)
    (dead,) = by_event["object_dead_lettered"]
    assert (dead["message_id"], dead["key"]) == ("m1", "gone.jsonl")
    assert "NoSuchKey" in dead["reason"]
    (message_dead,) = by_event["message_dead_lettered"]
    assert message_dead["message_id"] == "m2"
    (summary,) = by_event["invocation_summary"]
    assert {
        k: summary[k]
        for k in ("messages", "objects", "records_processed", "stored", "rejected", "failed", "dead_lettered")
    } == {
        "messages": 2,
        "objects": 2,
        "records_processed": 2,
        "stored": 1,
        "rejected": 1,
        "failed": 0,
        "dead_lettered": 2,
    }
    assert isinstance(summary["duration_ms"], int)


# ============================================================================= configuration


def test_settings_from_env() -> None:
    from log_ingest.config import ConfigurationError, Settings

    settings = Settings.from_env(
        {
            "TABLE_NAME": "t",
            "DLQ_URL": "u",
            "ACCEPTED_SUFFIXES": " .JSON, jsonl ,,.log.gz",
            "WRITE_CONCURRENCY": "8",
        }
    )
    assert settings.accepted_suffixes == (".json", ".jsonl", ".log.gz")
    assert settings.write_concurrency == 8
    assert Settings.from_env({"TABLE_NAME": "t", "DLQ_URL": "u", "ACCEPTED_SUFFIXES": ""}).accepted_suffixes == ACCEPTED
    with pytest.raises(ConfigurationError, match="TABLE_NAME, DLQ_URL"):
        Settings.from_env({})
    with pytest.raises(ConfigurationError, match="WRITE_CONCURRENCY"):
        Settings.from_env({"TABLE_NAME": "t", "DLQ_URL": "u", "WRITE_CONCURRENCY": "0"})


def test_concurrent_writes_through_the_handler() -> None:
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    world = make_world(write_concurrency=4)
    world.dynamodb.half_unprocessed_responses = 3
    body = b"".join(b'{"n": %d}\n' % i for i in range(1000))
    event = one_object_event(world, "b", "many.jsonl", body)
    with ThreadPoolExecutor(4) as pool:
        deps = replace(world.deps, executor=pool)
        assert failures(handle(event, world.context(), deps)) == []
    assert [r["n"] for r in stored_records(world, "b", "many.jsonl")] == list(range(1000))
    assert max(len(b) for b in world.dynamodb.batches) == 25
