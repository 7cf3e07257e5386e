"""The bad-input corpus (tests/corpus/) through the handler with fake AWS clients, and its README.

The same table is driven through the deployed stack by tests/integration/test_corpus.py; this
run needs no emulator, so a handler change that alters an outcome fails here first. Where the
outcome depends on S3 itself (a deleted version, a missing bucket) the fake answers as S3 does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from corpus import generate as corpus  # tests/ is on pytest's pythonpath
from log_ingest import logs
from log_ingest.handler import handle
from log_ingest.items import item_to_plain
from s3pipe.strategies import s3_event_record, s3_notification_body, sqs_event, sqs_record

from .fakes import FakeS3, World, client_error, make_world

CORPUS_DIR = corpus.CORPUS_DIR
BUCKET = "corpus-bucket"
PREFIX = "t/corpus-unit/"
VERSION = "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"

logs.configure("INFO")


CASES = corpus.load_cases()


class S3WithBuckets(FakeS3):
    """S3 answers NoSuchBucket for a bucket that does not exist (the fake only knows keys)."""

    def get_object(self, **request: Any) -> dict[str, Any]:
        if request["Bucket"] != BUCKET:
            raise client_error("NoSuchBucket", "GetObject", "The specified bucket does not exist", 404)
        return super().get_object(**request)


def _world() -> World:
    world = make_world()
    s3 = S3WithBuckets()
    s3.clock = world.clock
    world.s3 = s3
    return world


def _run(world: World, body: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    response = handle(sqs_event([sqs_record(body, "m-corpus")]), world.context(), world.deps)
    assert response == {"batchItemFailures": []}, "no corpus case is a transient failure"
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _partition(world: World, pk: str) -> list[dict[str, Any]]:
    part = world.dynamodb.partition(pk)
    return [item_to_plain(part[sk]) for sk in sorted(part)]


def _observed(
    world: World, lines: list[dict[str, Any]], event_names: set[str], key: str | None, match: dict[str, Any]
) -> Any:
    terminal = [
        line
        for line in lines
        if line["event"] in event_names and all(line.get(name) == value for name, value in match.items())
    ]
    assert len(terminal) <= 1, terminal
    line = terminal[0] if terminal else {}
    dead = [m for m in world.sqs.dead_letters if m.attributes.get("ObjectKey") == key]
    return corpus.Observed(
        event=line.get("event"),
        fields=line,
        items=[item_to_plain(item) for _, item in sorted(world.dynamodb.object_records(BUCKET, key).items())]
        if key
        else [],
        rejections=_partition(world, f"REJECT#s3://{BUCKET}/{key}") if key else [],
        dead_letters=dead,
    )


TERMINAL = corpus.TERMINAL_EVENTS


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world = _world()
    if case.delivery == "multi_record":
        _check_multi_record(case, world, capsys)
        return
    key: str | None
    if case.delivery == "raw_body":
        body = case.body(BUCKET, PREFIX)
        lines = _run(world, body, capsys)
        named = [line for line in lines if line["event"] in TERMINAL]
        key = named[0].get("key") if named else None
    else:
        key = PREFIX + corpus.object_key(case)
        world.s3.put(BUCKET, key, case.data())
        if case.delivery == "deleted_version":
            world.s3.errors[(BUCKET, key)] = client_error(
                "NoSuchVersion", "GetObject", "The specified version does not exist.", 404
            )
        # delete_marker: a GetObject with the event's VersionId still returns the version.
        body = s3_notification_body([s3_event_record(BUCKET, key, version_id=VERSION, size=len(case.data()))])
        lines = _run(world, body, capsys)
    observed = _observed(world, lines, TERMINAL, key, {})
    if case.message_level:
        observed.dead_letters = list(world.sqs.dead_letters)
    observed.by_key = {(pk, sk): _item(world, pk, sk) for pk, sk in corpus.keys_to_look_up(case)}
    assert corpus.check(case, observed, object_key=key) == []
    if case.message_level and case.outcome == "dead_lettered":
        (dead,) = world.sqs.dead_letters
        assert dead.body == body
    if case.terminal_event == "s3_test_event":
        assert observed.fields["bucket"] == BUCKET


def _item(world: World, pk: str, sk: str) -> dict[str, Any] | None:
    item = world.dynamodb.items.get((pk, sk))
    return item_to_plain(item) if item is not None else None


def _check_multi_record(case: Any, world: World, capsys: pytest.CaptureFixture[str]) -> None:
    for part in case.parts:
        if part.file:
            world.s3.put(BUCKET, PREFIX + part.key, corpus.file_bytes(part.file))
    lines = _run(world, case.body(BUCKET, PREFIX), capsys)
    for index, part in enumerate(case.parts):
        events = corpus.OBJECT_TERMINAL_EVENTS
        if part.key:
            key = PREFIX + part.key
            observed = _observed(world, lines, events, key, {"key": key})
        else:
            observed = _observed(world, lines, events, None, {"record_index": index})
        assert corpus.check_part(part, observed, object_key=observed.fields.get("key")) == [], part


def test_readme_is_generated_from_the_table() -> None:
    assert (CORPUS_DIR / "README.md").read_text(encoding="utf-8") == corpus.render_readme(CASES), (
        "tests/corpus/README.md is out of date: run python tests/corpus/generate.py --readme"
    )


def test_corpus_covers_the_issue_and_stays_small() -> None:
    assert len(CASES) >= 25
    referenced = {case.file for case in CASES if case.file} | {p.file for c in CASES for p in c.parts if p.file}
    on_disk = {path.name for path in (CORPUS_DIR / "files").iterdir()}
    assert referenced == on_disk, "every committed input is used by a case, and only those"
    too_big = [name for name in on_disk if (CORPUS_DIR / "files" / name).stat().st_size > corpus.MAX_COMMITTED_BYTES]
    assert too_big == []
    used = {case.generator for case in CASES if case.generator}
    assert used == set(corpus.GENERATORS), "every generator is used by a case"
    outcomes = {case.outcome for case in CASES}
    assert outcomes == set(corpus.OUTCOMES)


@pytest.mark.parametrize("name", sorted(corpus.GENERATORS))
def test_generated_inputs_are_deterministic(name: str) -> None:
    assert corpus.GENERATORS[name]() == corpus.generated(name)
