"""The bad-input corpus (tests/corpus/outcomes.toml) through the deployed stack.

Every case is delivered in a batch with good objects: the event source mapping is paused while a
batch's messages pile up (at most ``BATCH_MESSAGES``, the mapping's batch size), so the bad input
and the good objects reach the function in one invocation. Then, per case (``test_case[<id>]``):
its exact outcome (log line, counts, items, rejection items, DLQ message), that it shared its
invocation with the good objects (``aws_request_id``), and that those were stored completely.

The whole corpus runs once per module (fixture ``corpus_run``); big inputs are generated once per
process (tests/corpus/generate.py).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import mapping_paused

from corpus import generate as corpus  # tests/ is on pytest's pythonpath
from s3pipe.backends.base import Capability
from s3pipe.observe import DlqEntry, LogLine
from s3pipe.pipeline import ObjectOutcome, Pipeline, StackObserver, Upload, poll_until, rejection_pk
from s3pipe.stack import Stack

#: Each case is checked against the invocation that also stored its batch's good objects; the mapping is
#: paused and resumed once per batch.
pytestmark = pytest.mark.requires(Capability.ONE_INVOCATION_PER_QUEUED_BATCH, Capability.PROMPT_MAPPING_STATE)

#: Messages per paused batch: the stack's event source mapping batch size (s3pipe.deploy default).
BATCH_MESSAGES = 10
GOOD_PER_BATCH = 2
#: Inputs whose processing is heavy (10-16 MiB): at most one per invocation.
HEAVY = frozenset({"ten_mb_line", "line_at_max_length", "line_over_max_length"})
TIMEOUT = 60.0


CASES = corpus.load_cases()
GOOD = corpus.file_bytes("good.jsonl")
GOOD_ITEMS = ["REC#0000000001", "REC#0000000002", "REC#0000000003"]
TERMINAL = corpus.TERMINAL_EVENTS


@dataclass
class Delivered:
    """One case on its way: what was put on the queue, and what came of it."""

    case: Any
    batch: int
    upload: Upload | None = None
    message_id: str | None = None
    body: str | None = None
    #: For a multi-record event: (part index, full key or None, line, observation).
    parts: list[tuple[int, str | None, LogLine | None, Any]] = field(default_factory=list)
    key: str | None = None
    line: LogLine | None = None
    observed: Any = None
    error: str | None = None


@dataclass
class GoodObject:
    """A good object of a batch as the run left it, read once for every case of the batch."""

    upload: Upload
    outcome: ObjectOutcome
    sks: list[str]
    rejections: list[dict[str, Any]]


@dataclass
class Batch:
    index: int
    cases: list[Any] = field(default_factory=list)
    goods: list[Upload] = field(default_factory=list)
    good: list[GoodObject] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return GOOD_PER_BATCH + sum(case.messages for case in self.cases)

    @property
    def heavy(self) -> bool:
        return any(case.generator in HEAVY for case in self.cases)


@dataclass
class CorpusRun:
    pipeline: Pipeline
    batches: list[Batch]
    delivered: dict[str, Delivered]
    seconds: float


def plan(cases: tuple[Any, ...]) -> list[Batch]:
    """First fit in table order: at most BATCH_MESSAGES messages and one heavy input per batch."""
    batches: list[Batch] = []
    for case in cases:
        heavy = case.generator in HEAVY
        target = next(
            (b for b in batches if b.messages + case.messages <= BATCH_MESSAGES and not (heavy and b.heavy)),
            None,
        )
        if target is None:
            target = Batch(len(batches))
            batches.append(target)
        target.cases.append(case)
    return batches


# ------------------------------------------------------------------------------------ delivery


def _deliver(pipeline: Pipeline, case: Any, batch: int) -> Delivered:
    sent = Delivered(case, batch)
    s3 = pipeline.stack.s3
    if case.delivery in ("upload", "deleted_version", "delete_marker"):
        sent.upload = pipeline.upload(corpus.object_key(case), case.data())
        sent.key = sent.upload.key
        if case.delivery == "deleted_version":
            assert sent.upload.version_id, "the bucket is versioned"
            s3.delete_object(Bucket=pipeline.bucket, Key=sent.key, VersionId=sent.upload.version_id)
        elif case.delivery == "delete_marker":
            marker = s3.delete_object(Bucket=pipeline.bucket, Key=sent.key)
            assert marker.get("DeleteMarker"), marker
        return sent
    for part in case.parts:
        if part.file:
            pipeline.upload(part.key, corpus.file_bytes(part.file))
    sent.body = case.body(pipeline.bucket, pipeline.prefix)
    sent.message_id = pipeline.send_message(sent.body)
    return sent


def _wait_picked_up(pipeline: Pipeline) -> None:
    """The mapping has received every visible message (so the next batch cannot join them)."""
    poll_until(
        lambda: True if pipeline.observer.depth().visible == 0 else None,
        timeout=TIMEOUT,
        describe=lambda: f"queue now: {pipeline.observer.depth()}",
        what="the batch picked up by the event source mapping",
        interval=0.05,
    )


# ------------------------------------------------------------------------------------ observation


def _dead_letters_for_message(pipeline: Pipeline, message_id: str, expect: bool) -> list[DlqEntry]:
    if expect:
        return pipeline.dlq_entries_for_message(message_id, TIMEOUT)
    pipeline.observer.refresh()
    return pipeline.observer.dlq.for_message(message_id)


def _observe_object(pipeline: Pipeline, key: str | None, line: LogLine, dead: list[DlqEntry]) -> Any:
    bucket = pipeline.bucket
    return corpus.Observed(
        event=line.event,
        fields=dict(line.fields or {}),
        items=pipeline.object_items(bucket, key) if key else [],
        rejections=pipeline.query(rejection_pk(bucket, key)) if key else [],
        dead_letters=dead,
    )


def _observe(pipeline: Pipeline, sent: Delivered) -> None:
    case = sent.case
    expect_dead = case.outcome == "dead_lettered"
    if sent.upload is not None:
        outcome = pipeline.wait_for(sent.upload, TIMEOUT)
        sent.line = _line_of(outcome.event, outcome.fields)
        dead = pipeline.dlq_entries_for(sent.upload, TIMEOUT) if expect_dead else _dead_for(pipeline, sent.key)
        sent.observed = _observe_object(pipeline, sent.key, sent.line, dead)
    elif not case.parts:
        assert sent.message_id is not None
        line = pipeline.wait_for_message_event(sent.message_id, set(TERMINAL), TIMEOUT)
        sent.line = line
        sent.key = (line.fields or {}).get("key")
        dead = _dead_letters_for_message(pipeline, sent.message_id, expect_dead)
        sent.observed = _observe_object(pipeline, sent.key, line, dead)
    else:
        assert sent.message_id is not None
        for index, part in enumerate(case.parts):
            key = pipeline.key(part.key) if part.key else None
            match = {"key": key} if key else {"record_index": index}
            line = _wait_message_object(pipeline, sent.message_id, match)
            dead = [
                entry
                for entry in _dead_letters_for_message(pipeline, sent.message_id, part.outcome == "dead_lettered")
                if entry.attributes.get("ObjectKey") == key
            ]
            sent.parts.append((index, key, line, _observe_object(pipeline, key, line, dead)))
        sent.line = sent.parts[0][2]
    if sent.observed is not None:
        sent.observed.by_key = {(pk, sk): pipeline.get_item(pk, sk) for pk, sk in corpus.keys_to_look_up(case)}


def _line_of(event: str, fields: Any) -> LogLine:
    return LogLine(0, "", "", {**dict(fields), "event": event})


def _dead_for(pipeline: Pipeline, key: str | None) -> list[DlqEntry]:
    pipeline.observer.refresh()
    return pipeline.observer.dlq.for_object(pipeline.bucket, key) if key else []


def _wait_message_object(pipeline: Pipeline, message_id: str, match: dict[str, Any]) -> LogLine:
    events = corpus.OBJECT_TERMINAL_EVENTS

    def check() -> LogLine | None:
        return next(
            (
                line
                for line in pipeline.message_lines(message_id)
                if line.event in events and all((line.fields or {}).get(k) == v for k, v in match.items())
            ),
            None,
        )

    return poll_until(
        check,
        timeout=TIMEOUT,
        describe=lambda: pipeline.describe_message(message_id),
        what=f"the outcome of {match} in message {message_id}",
    )


# ------------------------------------------------------------------------------------ the run


@pytest.fixture(scope="module")
def corpus_run(s3pipe_stack: Stack, s3pipe_observer: StackObserver) -> CorpusRun:
    pipeline = Pipeline(s3pipe_stack, s3pipe_observer, f"t/corpus-{secrets.token_hex(3)}/")
    started = time.monotonic()
    batches = plan(CASES)
    delivered: dict[str, Delivered] = {}
    for batch in batches:
        with mapping_paused(s3pipe_stack):
            batch.goods = [pipeline.upload(f"good-{batch.index}-{n}.jsonl", GOOD) for n in range(GOOD_PER_BATCH)]
            for case in batch.cases:
                delivered[case.id] = _deliver(pipeline, case, batch.index)
            pipeline.wait_for_queue_depth(batch.messages, TIMEOUT)
        _wait_picked_up(pipeline)
    for batch in batches:
        outcomes = pipeline.wait_for_all(batch.goods, TIMEOUT)
        batch.good = [
            GoodObject(
                upload,
                outcome,
                [item["SK"] for item in pipeline.object_items(upload.bucket, upload.key)],
                pipeline.query(rejection_pk(upload.bucket, upload.key)),
            )
            for upload, outcome in zip(batch.goods, outcomes, strict=True)
        ]
    for sent in delivered.values():
        try:
            _observe(pipeline, sent)
        except Exception as exc:  # one case that never settles must not hide the others' results
            sent.error = f"{type(exc).__name__}: {exc}"
    return CorpusRun(pipeline, batches, delivered, time.monotonic() - started)


# ------------------------------------------------------------------------------------ the tests


#: Cases whose delivery makes the function attempt a call its role does not allow, on purpose.
EXPECTED_DENIALS = {
    "event-missing-bucket": pytest.mark.iam_expected_denial(
        "s3:GetObject",
        "arn:aws:s3:::s3p-corpus-no-such-bucket-*/*",
        reason=(
            "an S3 event naming a bucket outside the role: AWS answers AccessDenied (retried, then redriven), "
            "MiniStack NoSuchBucket (dead-lettered at once); the expected outcome is MiniStack's"
        ),
    )
}


def _param(case: Any) -> Any:
    marks = [EXPECTED_DENIALS[case.id]] if case.id in EXPECTED_DENIALS else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_case(case: Any, corpus_run: CorpusRun) -> None:
    sent = corpus_run.delivered[case.id]
    assert sent.error is None, f"{case.id}: {sent.error}"
    pipeline = corpus_run.pipeline
    batch = corpus_run.batches[sent.batch]

    problems: list[str] = []
    if case.parts:
        for index, key, _, observed in sent.parts:
            part_problems = corpus.check_part(case.parts[index], observed, object_key=key)
            problems.extend(f"record {index} ({key}): {p}" for p in part_problems)
        for _, _, _, observed in sent.parts:
            for entry in observed.dead_letters:
                assert entry.attributes["SourceMessageId"] == sent.message_id
                assert len(entry.body) < len(sent.body or ""), "the DLQ body is the event reduced to the failed record"
    else:
        problems = corpus.check(sent.case, sent.observed, object_key=sent.key)
    assert not problems, f"{case.id} ({case.source}):\n  " + "\n  ".join(problems)

    fields = dict(sent.line.fields or {}) if sent.line is not None else {}
    good_requests = {good.outcome.fields.get("aws_request_id") for good in batch.good}
    assert fields.get("aws_request_id") in good_requests, (
        f"{case.id} was not processed in the same invocation as the good objects of its batch "
        f"({fields.get('aws_request_id')} not in {good_requests})"
    )
    for good in batch.good:
        assert good.outcome.event == "object_stored", f"good object {good.upload.key}: {good.outcome}"
        assert good.outcome.fields.get("stored") == 3
        assert good.sks == GOOD_ITEMS
        assert good.rejections == []

    _check_delivery_specifics(case, sent, pipeline)


def _check_delivery_specifics(case: Any, sent: Delivered, pipeline: Pipeline) -> None:
    observed = sent.observed
    if case.message_level and case.outcome == "dead_lettered":
        (entry,) = observed.dead_letters
        assert entry.body == sent.body, "a body that names no object is dead-lettered verbatim"
        assert "ObjectKey" not in entry.attributes
    elif case.outcome == "dead_lettered" and sent.upload is not None:
        (entry,) = observed.dead_letters
        assert entry.objects == ((pipeline.bucket, sent.key),), "the DLQ body is the object's S3 event"
    if case.delivery == "deleted_version":
        assert sent.upload is not None
        (entry,) = observed.dead_letters
        assert entry.attributes["ObjectVersionId"] == sent.upload.version_id
    if case.terminal_event == "s3_test_event":
        assert observed.fields["bucket"] == pipeline.bucket
        assert observed.fields["message_id"] == sent.message_id


def test_corpus_run_summary(corpus_run: CorpusRun) -> None:
    """Every case was delivered in a batch holding good objects (and the run says how long it took)."""
    assert {case.id for batch in corpus_run.batches for case in batch.cases} == {case.id for case in CASES}
    assert all(batch.messages <= BATCH_MESSAGES for batch in corpus_run.batches)
    print(f"corpus: {len(CASES)} cases in {len(corpus_run.batches)} batches, {corpus_run.seconds:.1f} s")
