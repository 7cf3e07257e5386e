"""Objects too large for one invocation: continuation messages (continuation.py).

The fake clock drives the time budget: every BatchWriteItem call "takes" some seconds, so an
invocation runs out of budget after a few batches and hands the object over to a continuation
message, which :func:`pump` delivers to the next invocation like the event source mapping would.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from log_ingest import logs
from log_ingest.config import Dependencies
from log_ingest.handler import handle
from log_ingest.items import item_to_plain
from s3pipe.strategies import s3_event_record, s3_notification_body, sqs_event, sqs_record

from .fakes import DEFAULT_ETAG, QUEUE_URL, World, client_error, make_world

logs.configure("INFO")

BUDGET_MS = 10_000  # the test stack's function timeout; the safety margin is 2 s of it
TERMINAL = ("object_stored", "object_partially_stored", "object_dead_lettered", "object_ignored")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", None)
        self.events.append({"event": record.getMessage(), **(fields if isinstance(fields, dict) else {})})


@contextmanager
def captured() -> Iterator[list[dict[str, Any]]]:
    """The handler's log events (event name + fields), without going through stdout."""
    logger = logging.getLogger(logs.LOGGER_NAME)
    capture = _Capture()
    logger.addHandler(capture)
    try:
        yield capture.events
    finally:
        logger.removeHandler(capture)


def named(events: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] in names]


def per_invocation(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The events split after each ``invocation_summary``."""
    groups: list[list[dict[str, Any]]] = [[]]
    for e in events:
        groups[-1].append(e)
        if e["event"] == "invocation_summary":
            groups.append([])
    return groups[:-1]


def failures(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def slow_writes(world: World, seconds: float, parallel: int = 1) -> None:
    """Every BatchWriteItem call takes ``seconds`` of the invocation's budget (``parallel`` calls
    at a time overlap: each one advances the shared fake clock by its share)."""

    def advance(items: list[Any]) -> None:
        world.clock.now += seconds / parallel

    world.dynamodb.on_batch = advance


def _redelivered(record: dict[str, Any]) -> dict[str, Any]:
    count = int(record["attributes"]["ApproximateReceiveCount"]) + 1
    return {**record, "attributes": {**record["attributes"], "ApproximateReceiveCount": str(count)}}


def pump(
    world: World,
    records: list[dict[str, Any]],
    *,
    budget_ms: int = BUDGET_MS,
    deps: Dependencies | None = None,
    max_invocations: int = 60,
) -> list[list[str]]:
    """Invoke the handler like the event source mapping until the queue is empty: failed messages
    come back (receive count + 1), continuation messages sent to the main queue are delivered.
    Returns the failure list of every invocation."""
    deps = deps or world.deps
    queue = list(records)
    seen = len(world.sqs.sent)
    history: list[list[str]] = []
    while queue:
        assert len(history) < max_invocations, "the object never finished"
        failed = failures(handle(sqs_event(queue), world.context(budget_ms), deps))  # type: ignore[arg-type]
        history.append(failed)
        retried = [_redelivered(r) for r in queue if r["messageId"] in failed]
        sent = [sqs_record(m.body, m.message_id) for m in world.sqs.sent[seen:] if m.queue_url == QUEUE_URL]
        seen = len(world.sqs.sent)
        queue = retried + sent
    return history


def object_message(bucket: str, key: str, message_id: str = "m-1", **record: Any) -> dict[str, Any]:
    return sqs_record(s3_notification_body([s3_event_record(bucket, key, **record)]), message_id)


def jsonl(count: int, bad_every: int = 0) -> bytes:
    lines = [
        "{broken" if bad_every and n % bad_every == bad_every // 2 else json.dumps({"n": n})
        for n in range(1, count + 1)
    ]
    return ("\n".join(lines) + "\n").encode()


def table(world: World, prefix: str, key: str) -> dict[str, dict[str, Any]]:
    part = world.dynamodb.partition(f"{prefix}#s3://b/{key}")
    return {sk: item_to_plain(item) for sk, item in sorted(part.items())}


# ==================================================================== a file that needs 3 passes


def test_a_file_that_needs_three_passes_is_stored_exactly_once() -> None:
    world = make_world(hold_max_entries=50)
    world.s3.put("b", "big.jsonl", jsonl(500, bad_every=50))
    slow_writes(world, 1.0)  # 8 s of budget: 8 batches of 25 entries per invocation
    original = object_message("b", "big.jsonl", size=1234)
    with captured() as events:
        assert pump(world, [original]) == [[], [], []]

    records = table(world, "SRC", "big.jsonl")
    rejections = table(world, "REJECT", "big.jsonl")
    bad_lines = [n for n in range(1, 501) if n % 50 == 25]
    assert [r["n"] for r in records.values()] == [n for n in range(1, 501) if n not in bad_lines]
    assert [r["src_line"] for r in records.values()] == [r["n"] for r in records.values()]
    assert [r["src_line"] for r in rejections.values()] == bad_lines
    assert set(world.dynamodb.writes.values()) == {1}  # every record and rejection written exactly once
    assert world.sqs.dead_letters == []

    continued = named(events, "object_continued")
    assert [(e["resume_after"], e["pass"], e["records"], e["stored"], e["rejected"]) for e in continued] == [
        (200, 2, 200, 196, 4),
        (400, 3, 400, 392, 8),
    ]
    assert [e["continuation_message_id"] for e in continued] == [m.message_id for m in world.sqs.continuations]
    assert all((e["bucket"], e["key"], e["receive_count"]) == ("b", "big.jsonl", 1) for e in continued)
    assert "time budget exhausted" in continued[0]["reason"]
    (final,) = named(events, *TERMINAL)
    assert final["event"] == "object_partially_stored"
    assert (final["records"], final["stored"], final["rejected"], final["passes"]) == (500, 490, 10, 3)
    assert (final["bucket"], final["key"], final["message_id"]) == ("b", "big.jsonl", "cont-2")
    assert final["origin_message_id"] == "m-1"
    assert "version_id" not in final
    # every rejection is logged; a later pass never logs one at or before its resume point
    logged = [sorted(e["line"] for e in named(p, "record_rejected")) for p in per_invocation(events)]
    assert sorted(set().union(*logged)) == bad_lines
    assert min(logged[1]) > 200
    assert min(logged[2]) > 400
    summaries = named(events, "invocation_summary")
    assert [(s["continued"], s["records_processed"], s["stored"], s["rejected"]) for s in summaries] == [
        (1, 200, 196, 4),
        (1, 200, 196, 4),
        (0, 100, 98, 2),
    ]

    first, second = (json.loads(m.body) for m in world.sqs.continuations)
    record = json.loads(original["body"])["Records"][0]
    assert first == {
        "s3pipe_continuation": 1,
        "record": record,
        "resume_after": 200,
        "pass": 2,
        "origin_message_id": "m-1",
        "totals": {"records": 200, "stored": 196, "rejected": 4, "formats": ["jsonl"]},
        "etag": DEFAULT_ETAG,
    }
    assert (second["resume_after"], second["pass"], second["origin_message_id"]) == (400, 3, "m-1")
    assert second["totals"] == {"records": 400, "stored": 392, "rejected": 8, "formats": ["jsonl"]}
    # later passes read the same content: If-Match on the ETag pass 1 read
    assert world.s3.calls == [
        {"Bucket": "b", "Key": "big.jsonl"},
        {"Bucket": "b", "Key": "big.jsonl", "IfMatch": DEFAULT_ETAG},
        {"Bucket": "b", "Key": "big.jsonl", "IfMatch": DEFAULT_ETAG},
    ]
    # the queue URL is looked up once per container, from the event source ARN
    assert world.sqs.lookups == [{"QueueName": "ingest", "QueueOwnerAWSAccountId": "000000000000"}]
    assert {m.queue_url for m in world.sqs.continuations} == {QUEUE_URL}


def test_versioned_object_is_read_by_version_on_every_pass() -> None:
    world = make_world(hold_max_entries=50)
    world.s3.put("b", "v.jsonl", jsonl(300))
    slow_writes(world, 1.0)
    with captured() as events:
        assert pump(world, [object_message("b", "v.jsonl", version_id="v42")]) == [[], []]
    assert world.s3.calls == [{"Bucket": "b", "Key": "v.jsonl", "VersionId": "v42"}] * 2
    assert len(table(world, "SRC", "v.jsonl")) == 300
    (final,) = named(events, *TERMINAL)
    assert (final["version_id"], final["passes"], final["stored"]) == ("v42", 2, 300)
    assert all(e["version_id"] == "v42" for e in named(events, "object_continued"))


def test_a_json_array_is_validated_then_continued() -> None:
    world = make_world(hold_max_entries=10)
    body = "[\n" + ",\n".join(json.dumps({"n": n}) if n % 40 else "7" for n in range(1, 301)) + "\n]\n"
    world.s3.put("b", "arr.json", body.encode())
    slow_writes(world, 1.0)
    with captured() as events:
        assert pump(world, [object_message("b", "arr.json")]) == [[], []]
    assert [r["src_line"] for r in table(world, "SRC", "arr.json").values()] == [n + 1 for n in range(1, 301) if n % 40]
    assert [r["src_line"] for r in table(world, "REJECT", "arr.json").values()] == [41, 81, 121, 161, 201, 241, 281]
    assert set(world.dynamodb.writes.values()) == {1}
    assert [c.get("IfMatch") for c in world.s3.calls] == [None, DEFAULT_ETAG, DEFAULT_ETAG]  # validate, write, pass 2
    (final,) = named(events, *TERMINAL)
    assert (final["records"], final["stored"], final["rejected"], final["passes"]) == (300, 293, 7, 2)


# ================================================== property: identical to a single-pass run

FORMATS = ["jsonl", "jsonl.gz", "truncated.jsonl.gz", "log", "json_array", "sniffed.json"]
_CLF = '192.0.2.{n} - - [10/Oct/2000:13:55:{s:02d} -0700] "GET /item/{n} HTTP/1.1" 200 {n}'


def _content(fmt: str, kinds: list[str]) -> tuple[str, bytes]:
    lines: list[str] = []
    for n, kind in enumerate(kinds, 1):
        if kind == "blank":
            lines.append("   " if fmt != "json_array" else "")
        elif fmt == "log":
            lines.append("not an access log line" if kind == "bad" else _CLF.format(n=n, s=n % 60))
        elif fmt == "json_array":
            lines.append(("42" if kind == "bad" else json.dumps({"n": n})) + ",")
        elif kind == "bad":
            lines.append("{broken")
        elif kind == "dup":  # explicit keys, several records per key: the last one wins
            lines.append(json.dumps({"PK": "dup", "SK": f"k{n % 3}", "n": n}))
        else:
            lines.append(json.dumps({"n": n}))
    text = "\n".join(lines) + "\n"
    if fmt == "json_array":
        text = "[\n" + text.rstrip().rstrip(",") + "\n]\n"
        return "a.json", text.encode()
    if fmt == "log":
        return "a.log", text.encode()
    if fmt == "sniffed.json":
        return "a.json", text.encode()
    if fmt.endswith(".gz"):
        data = gzip.compress(text.encode(), mtime=0)
        if fmt.startswith("truncated"):
            data = data[: max(30, len(data) * 3 // 4)]
        return "a.jsonl.gz", data
    return "a.jsonl", text.encode()


def _ingest(world: World, key: str, data: bytes, *, deps: Dependencies | None = None) -> list[dict[str, Any]]:
    world.s3.put("b", key, data)
    with captured() as events:
        history = pump(world, [object_message("b", key)], deps=deps)
    assert all(not f for f in history[-1:])
    return events


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    fmt=st.sampled_from(FORMATS),
    size=st.integers(1, 400),
    hold=st.sampled_from([5, 30, 1000]),
    # Up to the whole usable budget (8 s of 10 s) less the 0.5 s a DynamoDB call needs to start
    # (a refused batch is followed by PutItem calls that isolate the bad item): a pass may get one
    # write round trip only, so a refused record's report is often not durable when the pass ends
    # -- it is then carried in the continuation message and written first by the next pass.
    step=st.floats(0.5, 7.5),
    concurrency=st.sampled_from([1, 1, 3]),
    half_unprocessed=st.sampled_from([0, 0, 2]),
    refused=st.sets(st.integers(1, 400), max_size=3),
    data=st.data(),
)
def test_a_continued_object_ends_exactly_like_a_single_pass(  # noqa: PLR0917
    fmt: str,
    size: int,
    hold: int,
    step: float,
    concurrency: int,
    half_unprocessed: int,
    refused: set[int],
    data: st.DataObject,
) -> None:
    """Random sizes, contents and cut points (the cost of a batch decides where a pass ends)."""
    kinds = data.draw(st.lists(st.sampled_from(["good"] * 6 + ["bad", "blank", "dup"]), min_size=size, max_size=size))
    world = _check_continued_like_single_pass(fmt, kinds, hold, step, concurrency, half_unprocessed, refused)
    passes = len(world.sqs.continuations) + 1
    event(f"passes: {min(passes, 4)}{'+' if passes >= 4 else ''}")


@pytest.mark.parametrize("step", [4.0, 6.0, 7.5])
def test_refused_records_reports_survive_a_pass_that_ends_right_after_their_batch(step: float) -> None:
    """The example that once needed the 2.5-step cap: refused records 1 and 26 of a 26-line file,
    a batch costing half the budget or more (their reports cannot be written in the same pass)."""
    world = _check_continued_like_single_pass("jsonl", ["good"] * 26, 5, step, 1, 0, {1, 26})
    # entries 1..25 are done, record 1's report rides in the continuation and is written by pass 2
    bodies = [json.loads(m.body) for m in world.sqs.continuations if "complete_through" not in m.body]
    assert [(b["resume_after"], [r["ordinal"] for r in b.get("reports", [])]) for b in bodies] == [(25, [1])]


def _check_continued_like_single_pass(  # noqa: PLR0917
    fmt: str,
    kinds: list[str],
    hold: int,
    step: float,
    concurrency: int,
    half_unprocessed: int,
    refused: set[int],
) -> World:
    """Ingest once without and once with a slow table; returns the latter's world."""
    key, content = _content(fmt, kinds)

    def refuse(item: dict[str, Any]) -> bool:
        # Only records with generated keys: whether a refused record that a later record with
        # the same key supersedes gets reported depends on the write window, in one pass too.
        value = item.get("n", {}).get("N") or item.get("bytes", {}).get("N")
        return item["PK"]["S"].startswith("SRC#") and value is not None and int(value) in refused

    reference = make_world(hold_max_entries=hold)
    reference.dynamodb.invalid = refuse
    expected_events = _ingest(reference, key, content)

    world = make_world(hold_max_entries=hold, write_concurrency=concurrency)
    world.dynamodb.invalid = refuse
    world.dynamodb.half_unprocessed_responses = half_unprocessed
    slow_writes(world, step, concurrency)
    with ThreadPoolExecutor(concurrency) as pool:
        events = _ingest(world, key, content, deps=replace(world.deps, executor=pool if concurrency > 1 else None))

    # the same items (ordinals in SK, line numbers in src_line), the same DLQ outcome
    assert world.dynamodb.items == reference.dynamodb.items
    assert [m.attributes["FailureReason"] for m in world.sqs.dead_letters] == [
        m.attributes["FailureReason"] for m in reference.sqs.dead_letters
    ]
    # the same totals on the one terminal line
    (final,) = named(events, *TERMINAL)
    (expected,) = named(expected_events, *TERMINAL)
    fields = ("event", "records", "stored", "rejected", "formats")
    assert {f: final.get(f) for f in fields} == {f: expected.get(f) for f in fields}
    continued = named(events, "object_continued")
    assert final.get("passes", 1) == len(continued) + 1
    resumes = [e["resume_after"] for e in continued]
    assert resumes == sorted(set(resumes))
    for body in (json.loads(m.body) for m in world.sqs.continuations):
        if body.get("complete_through"):  # all written, the budget ran out before the head was completed
            assert {f: body["totals"][f] for f in ("records", "stored", "rejected")} == {
                f: final[f] for f in ("records", "stored", "rejected")
            }
            continue
        assert body["totals"]["records"] == body["resume_after"]
        assert body["totals"]["stored"] + body["totals"]["rejected"] == body["resume_after"]
    # with one batch at a time, nothing durable is ever written again by a later pass
    if concurrency == 1 and not half_unprocessed and not refused:
        generated = {k: n for k, n in world.dynamodb.writes.items() if k[0].startswith(("SRC#", "REJECT#"))}
        assert set(generated.values()) <= {1}
    return world


# =========================================================================== failure modes


def test_object_changed_between_passes_goes_to_the_dlq() -> None:
    world = make_world(hold_max_entries=50)
    world.s3.put("b", "c.jsonl", jsonl(300))
    slow_writes(world, 1.0)
    assert failures(handle(sqs_event([object_message("b", "c.jsonl")]), world.context(BUDGET_MS), world.deps)) == []
    (continuation,) = world.sqs.continuations
    world.s3.put("b", "c.jsonl", jsonl(300, bad_every=3), etag='"changed"')
    with captured() as events:
        event = sqs_event([sqs_record(continuation.body, continuation.message_id)])
        assert failures(handle(event, world.context(BUDGET_MS), world.deps)) == []
    (sent,) = world.sqs.dead_letters
    assert sent.attributes["FailureReason"].startswith("object changed between passes: s3://b/c.jsonl")
    assert sent.attributes["FailureClass"] == "permanent"
    assert (sent.attributes["ObjectBucket"], sent.attributes["ObjectKey"]) == ("b", "c.jsonl")
    assert sent.attributes["SourceMessageId"] == continuation.message_id
    assert sent.body == continuation.body  # a redrive resumes exactly what failed
    (dead,) = named(events, *TERMINAL)
    assert dead["event"] == "object_dead_lettered"
    assert (dead["bucket"], dead["key"], dead["passes"], dead["stored"]) == ("b", "c.jsonl", 2, 200)
    assert world.s3.calls[-1] == {"Bucket": "b", "Key": "c.jsonl", "IfMatch": DEFAULT_ETAG}
    assert len(table(world, "SRC", "c.jsonl")) == 200  # what pass 1 stored stays
    assert table(world, "REJECT", "c.jsonl") == {}


def test_a_continuation_without_progress_is_a_transient_failure_not_another_continuation() -> None:
    world = make_world(hold_max_entries=50)
    world.s3.put("b", "s.jsonl", jsonl(300))
    slow_writes(world, 1.0)
    handle(sqs_event([object_message("b", "s.jsonl")]), world.context(BUDGET_MS), world.deps)
    (continuation,) = world.sqs.continuations
    world.dynamodb.unprocessed_responses = 10**9  # DynamoDB accepts nothing any more
    with captured() as events:
        event = sqs_event([sqs_record(continuation.body, "c-1")])
        assert failures(handle(event, world.context(BUDGET_MS), world.deps)) == ["c-1"]
    assert len(world.sqs.continuations) == 1
    assert world.sqs.dead_letters == []
    (retry,) = named(events, "object_retry")
    assert "no progress: nothing after entry 200 could be stored in pass 2" in retry["reason"]
    assert named(events, "object_continued") == []
    assert named(events, "invocation_summary")[0]["continued"] == 0


def test_nothing_written_in_the_first_pass_is_a_transient_failure() -> None:
    world = make_world(hold_max_entries=50)
    world.s3.put("b", "s.jsonl", jsonl(300))
    world.dynamodb.unprocessed_responses = 10**9
    assert failures(handle(sqs_event([object_message("b", "s.jsonl")]), world.context(BUDGET_MS), world.deps)) == [
        "m-1"
    ]
    assert world.sqs.sent == []


@pytest.mark.parametrize("failing", ["send", "lookup", "arn"])
def test_a_continuation_that_cannot_be_sent_is_a_transient_failure(failing: str) -> None:
    world = make_world(hold_max_entries=50)
    world.s3.put("b", "f.jsonl", jsonl(300))
    slow_writes(world, 1.0)
    message = object_message("b", "f.jsonl")
    if failing == "send":
        world.sqs.fail_continuations = client_error("InternalError", "SendMessage", status=500)
    elif failing == "lookup":
        world.sqs.fail_lookup = client_error("AWS.SimpleQueueService.NonExistentQueue", "GetQueueUrl")
    else:
        message["eventSourceARN"] = "not-an-arn"
    with captured() as events:
        assert failures(handle(sqs_event([message]), world.context(BUDGET_MS), world.deps)) == ["m-1"]
    assert world.sqs.sent == []
    reason = named(events, "message_retry")[0]["reason"]
    assert {
        "send": "sending the continuation message failed: InternalError",
        "lookup": "looking up the URL of queue ingest failed: AWS.SimpleQueueService.NonExistentQueue",
        "arn": "eventSourceARN 'not-an-arn' is not an SQS queue ARN",
    }[failing] in reason
    assert len(table(world, "SRC", "f.jsonl")) == 200  # idempotent: the retry writes the same keys again
    # the retry (after the problem is fixed) starts from the beginning and finishes the object
    world.sqs.fail_continuations = world.sqs.fail_lookup = None
    message["eventSourceARN"] = "arn:aws:sqs:us-east-1:000000000000:ingest"
    assert pump(world, [message]) == [[], []]
    assert len(table(world, "SRC", "f.jsonl")) == 300


def test_budget_spent_while_validating_writes_nothing_and_is_retried() -> None:
    world = make_world(hold_max_entries=10, chunk_size=64)
    body = "[" + ",\n".join(json.dumps({"n": n}) for n in range(2000)) + "]"
    world.s3.put("b", "arr.json", body.encode())
    world.s3.read_seconds = 0.05  # a slow download: the array cannot even be validated in time
    with captured() as events:
        assert failures(handle(sqs_event([object_message("b", "arr.json")]), world.context(BUDGET_MS), world.deps)) == [
            "m-1"
        ]
    assert world.dynamodb.batches == []
    assert world.sqs.sent == []
    (retry,) = named(events, "object_retry")
    assert retry["reason"].startswith("time budget exhausted while reading the object")


# ==================================================================== messages, bodies, logs


def test_later_records_of_a_continued_message_are_handed_over_unstarted() -> None:
    world = make_world(hold_max_entries=50)
    world.s3.put("b", "big.jsonl", jsonl(300))
    world.s3.put("b", "small.jsonl", jsonl(3))
    records = [
        s3_event_record("b", "big.jsonl"),
        s3_event_record("b", "small.jsonl"),
        s3_event_record("b", "notes.csv"),
    ]
    records.append(s3_event_record("b", "gone.jsonl"))
    slow_writes(world, 1.0)
    with captured() as events:
        history = pump(world, [sqs_record(s3_notification_body(records), "m-1")])
    assert history == [[], []]
    assert [c["Key"] for c in world.s3.calls][:1] == ["big.jsonl"]  # nothing else started in pass 1
    first_summary = named(events, "invocation_summary")[0]
    assert (first_summary["continued"], first_summary["ignored"]) == (3, 1)
    continued = named(events, "object_continued")
    assert [(e["key"], e["resume_after"], e["pass"]) for e in continued] == [
        ("big.jsonl", 200, 2),
        ("small.jsonl", 0, 1),
        ("gone.jsonl", 0, 1),
    ]
    bodies = [json.loads(m.body) for m in world.sqs.continuations]
    assert [b["record"] for b in bodies] == [records[0], records[1], records[3]]
    assert all(b["origin_message_id"] == "m-1" for b in bodies)
    assert "etag" not in bodies[1]
    assert len(table(world, "SRC", "big.jsonl")) == 300
    assert len(table(world, "SRC", "small.jsonl")) == 3
    (dead,) = world.sqs.dead_letters  # the deleted object, by its own (continuation) message
    assert dead.attributes["ObjectKey"] == "gone.jsonl"
    assert json.loads(dead.body)["record"] == records[3]
    stored = {e["key"]: e for e in named(events, "object_stored")}
    assert (stored["small.jsonl"]["passes"], stored["big.jsonl"]["passes"]) == (1, 2)


MALFORMED = [
    ({"s3pipe_continuation": 2}, "unsupported 's3pipe_continuation' version 2", True),
    ({"s3pipe_continuation": True}, "unsupported 's3pipe_continuation' version True", True),
    ({"record": None}, "'record' is a JSON null, not an S3 event record", False),
    ({"record": {"s3": {"bucket": {"name": "b"}, "object": {}}}}, "record 0 has no s3.object.key", False),
    ({"resume_after": -1}, "'resume_after' must be a non-negative integer, not a JSON number", True),
    ({"resume_after": "5"}, "'resume_after' must be a non-negative integer, not a JSON string", True),
    ({"pass": 0}, "'pass' must be a positive integer, not 0", True),
    ({"origin_message_id": ""}, "'origin_message_id' must be a non-empty string", True),
    ({"totals": [1]}, "'totals' is a JSON array, not an object", True),
    ({"totals": {"records": 5, "stored": 5}}, "'totals.rejected' must be a non-negative integer, not null", True),
    ({"totals": {"records": 1, "stored": 1, "rejected": 0, "formats": "x"}}, "'totals.formats' must be", True),
    ({"etag": 7}, "'etag' must be a non-empty string when present", True),
]


def continuation_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "s3pipe_continuation": 1,
        "record": s3_event_record("b", "dir/my file.jsonl", version_id="v1"),
        "resume_after": 5,
        "pass": 2,
        "origin_message_id": "m-0",
        "totals": {"records": 5, "stored": 5, "rejected": 0},
    }
    document.update(changes)
    return document


@pytest.mark.parametrize(("changes", "reason", "names_the_object"), MALFORMED)
def test_a_malformed_continuation_goes_to_the_dlq_with_a_specific_reason(
    changes: dict[str, Any], reason: str, names_the_object: bool
) -> None:
    world = make_world()
    body = json.dumps(continuation_document(**changes))
    with captured() as events:
        assert failures(handle(sqs_event([sqs_record(body, "c-9")]), world.context(), world.deps)) == []
    (sent,) = world.sqs.dead_letters
    assert sent.body == body
    assert sent.attributes["FailureReason"].startswith("malformed continuation message: ")
    assert reason in sent.attributes["FailureReason"]
    assert world.s3.calls == []
    if names_the_object:
        assert (sent.attributes["ObjectKey"], sent.attributes["ObjectVersionId"]) == ("dir/my file.jsonl", "v1")
        (dead,) = named(events, "object_dead_lettered")
        assert (dead["bucket"], dead["key"], dead["version_id"], dead["receive_count"]) == (
            "b",
            "dir/my file.jsonl",
            "v1",
            1,
        )
    else:
        assert "ObjectKey" not in sent.attributes
        assert len(named(events, "message_dead_lettered")) == 1


def test_a_continuation_of_an_object_that_is_already_complete_just_finishes() -> None:
    world = make_world()
    world.s3.put("b", "dir/my file.jsonl", jsonl(5))
    body = json.dumps(continuation_document(etag=DEFAULT_ETAG, totals={"records": 5, "stored": 4, "rejected": 1}))
    with captured() as events:
        assert failures(handle(sqs_event([sqs_record(body, "c-1")]), world.context(), world.deps)) == []
    assert world.dynamodb.batches == []
    (final,) = named(events, *TERMINAL)
    assert final["event"] == "object_partially_stored"  # the rejection of an earlier pass counts
    assert (final["records"], final["stored"], final["rejected"], final["passes"]) == (5, 4, 1, 2)
    assert world.s3.calls == [{"Bucket": "b", "Key": "dir/my file.jsonl", "VersionId": "v1"}]


def test_rejections_and_refused_records_before_the_cut_are_not_rewritten() -> None:
    world = make_world(hold_max_entries=50)
    lines = [json.dumps({"n": n}) if n not in (30, 180) else "{bad" for n in range(1, 301)]
    world.s3.put("b", "r.jsonl", ("\n".join(lines) + "\n").encode())
    world.dynamodb.invalid = lambda item: item.get("n", {}).get("N") in ("77", "260")
    slow_writes(world, 1.0)
    with captured() as events:
        assert pump(world, [object_message("b", "r.jsonl")]) == [[], []]
    rejections = table(world, "REJECT", "r.jsonl")
    assert [r["src_line"] for r in rejections.values()] == [30, 77, 180, 260]
    assert rejections["LINE#0000000077"]["reason"].startswith("DynamoDB refused the item")
    assert all(world.dynamodb.writes[("REJECT#s3://b/r.jsonl", sk)] == 1 for sk in rejections)
    first, second = ([e["line"] for e in named(p, "record_rejected")] for p in per_invocation(events))
    assert (first, second) == ([30, 77, 180], [260])
    (continued,) = named(events, "object_continued")
    # the report of the refused record took a slot of a batch: pass 1 ends one entry earlier
    assert (continued["resume_after"], continued["stored"], continued["rejected"]) == (199, 196, 3)
    (final,) = named(events, *TERMINAL)
    assert (final["records"], final["stored"], final["rejected"]) == (300, 296, 4)


def test_object_lines_carry_the_receive_count() -> None:
    world = make_world()
    world.s3.put("b", "k.jsonl", b'{"a": 1}\n')
    message = object_message("b", "k.jsonl")
    message["attributes"]["ApproximateReceiveCount"] = "3"
    with captured() as events:
        handle(sqs_event([message]), world.context(), world.deps)
    (stored,) = named(events, "object_stored")
    assert (stored["receive_count"], stored["passes"], stored["reads"]) == (3, 1, 1)
