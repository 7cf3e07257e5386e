"""Replacement semantics (versions.py): the newest version of an object wins, in any order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from log_ingest import logs
from log_ingest.handler import handle
from log_ingest.items import item_to_plain
from log_ingest.versions import padded_sequencer
from s3pipe.strategies import s3_event_record, s3_notification_body, sqs_event, sqs_record

from .fakes import World, make_world
from .test_handler_continuation import captured, named, pump, slow_writes

logs.configure("INFO")
HEAD = ("HEAD#s3://b/f.jsonl", "HEAD")


def event_for(sequencer: str, message_id: str, key: str = "f.jsonl", size: int = 0) -> dict[str, Any]:
    record = s3_event_record("b", key, size=size)
    record["s3"]["object"]["sequencer"] = sequencer
    return sqs_record(s3_notification_body([record]), message_id)


def lines(*values: int | str) -> bytes:
    return b"".join((json.dumps({"v": v}) if v != "bad" else "{broken").encode() + b"\n" for v in values)


def deliver(world: World, sequencer: str, content: bytes, message_id: str = "m") -> list[dict[str, Any]]:
    """Put ``content`` as the object (the version the event names) and deliver its event."""
    world.s3.put("b", "f.jsonl", content)
    with captured() as events:
        assert pump(world, [event_for(sequencer, message_id, size=len(content))]) == [[]]
    return events


def records(world: World) -> list[Any]:
    part = world.dynamodb.object_records("b", "f.jsonl")
    return [item_to_plain(item)["v"] for _, item in sorted(part.items())]


def rejections(world: World) -> list[int]:
    return [int(item["src_line"]["N"]) for _, item in sorted(world.dynamodb.partition("REJECT#s3://b/f.jsonl").items())]


def test_sequencers_compare_as_aws_documents_them() -> None:
    """Hex strings of different lengths: left-pad the shorter with zeros, then compare."""
    assert padded_sequencer("FF") > padded_sequencer("0F")
    assert padded_sequencer("100") > padded_sequencer("FF")  # longer is greater once padded
    assert padded_sequencer("0055AED6DCD90281E5") < padded_sequencer("0055AED6DCD90281E6")
    assert padded_sequencer("00ab") == padded_sequencer("AB")
    assert padded_sequencer(None) == padded_sequencer("") == ""
    assert padded_sequencer("") < padded_sequencer("01")


def test_a_shrinking_reupload_leaves_exactly_the_new_records() -> None:
    world = make_world()
    deliver(world, "01", lines(1, 2, "bad", 4, 5, "bad"))
    assert (records(world), rejections(world)) == ([1, 2, 4, 5], [3, 6])
    deliver(world, "02", lines(10, "bad"))
    assert (records(world), rejections(world)) == ([10], [2])
    head = world.dynamodb.heads[HEAD]
    assert (head["seq"]["S"], head["hwm"]["N"]) == (padded_sequencer("02"), "2")


def test_versions_delivered_newest_first_end_with_the_newest_content() -> None:
    world = make_world()
    deliver(world, "02", lines("new", "newer"))
    events = deliver(world, "01", lines("old", "older", "oldest"))  # read by its version id
    assert records(world) == ["new", "newer"]
    (ignored,) = named(events, "object_ignored")
    assert ignored["reason"].startswith("superseded: a newer version of s3://b/f.jsonl is stored")
    assert not world.sqs.continuations


def test_redelivery_of_the_current_version_is_idempotent() -> None:
    world = make_world()
    deliver(world, "05", lines(1, 2, 3))
    before = dict(world.dynamodb.items)
    deliver(world, "05", lines(1, 2, 3), message_id="m-again")
    assert world.dynamodb.items == before
    assert records(world) == [1, 2, 3]


def test_a_rejected_entry_of_the_new_version_removes_the_old_record_at_its_ordinal() -> None:
    world = make_world()
    deliver(world, "01", lines(1, 2, 3))
    deliver(world, "02", lines(1, "bad", 3))
    assert (records(world), rejections(world)) == ([1, 3], [2])
    assert ("SRC#s3://b/f.jsonl", "REC#0000000002") in world.dynamodb.deleted


def test_a_first_version_deletes_nothing() -> None:
    world = make_world()
    deliver(world, "01", lines(1, "bad", 3))
    assert world.dynamodb.deleted == []


def test_a_bad_newest_version_does_not_destroy_the_stored_one() -> None:
    world = make_world()
    deliver(world, "01", lines(1, 2))
    events = deliver(world, "02", b"{broken\n{also broken\n")
    assert records(world) == [1, 2]
    assert named(events, "object_dead_lettered")
    assert world.dynamodb.heads[HEAD]["seq"]["S"] == padded_sequencer("01")  # never claimed


@settings(max_examples=30, deadline=None)
@given(st.permutations([1, 2, 3, 4]), st.lists(st.integers(1, 30), min_size=4, max_size=4))
def test_applying_versions_in_any_order_converges_to_the_newest(order: list[int], sizes: list[int]) -> None:
    world = make_world()
    contents = {n: lines(*(f"v{n}-{i}" for i in range(sizes[n - 1]))) for n in (1, 2, 3, 4)}
    for n in order:
        deliver(world, f"{n:02X}", contents[n], message_id=f"m{n}")
    assert records(world) == [f"v4-{i}" for i in range(sizes[3])]


def test_a_version_superseded_while_it_was_written_hands_the_newer_one_back() -> None:
    """V1 is continued (its pass 1 wrote items); V2 is stored meanwhile; V1's pass 2 finds the
    head taken, so it sends V2's S3 record back and V2 is written again over V1's items."""
    world = make_world(hold_max_entries=10)
    world.s3.put("b", "f.jsonl", lines(*(f"v1-{i}" for i in range(120))))
    slow_writes(world, 3.0)  # two batches per invocation: V1 needs several passes
    with captured():
        handle(sqs_event([event_for("01", "m1")]), world.context(10_000), world.deps)  # type: ignore[arg-type]
    (v1_rest,) = world.sqs.continuations
    world.dynamodb.on_batch = None
    deliver(world, "02", lines("v2-a", "v2-b"), message_id="m2")
    assert records(world)[:2] == ["v2-a", "v2-b"]
    world.s3.put("b", "f.jsonl", lines(*(f"v1-{i}" for i in range(120))))  # V1 is read by its version id
    with captured() as events:
        pump_from = [sqs_record(v1_rest.body, v1_rest.message_id)]
        world.sqs.sent.clear()
        history = _pump_switching_content(world, pump_from, lines("v2-a", "v2-b"))
    assert history[-1] == []
    assert records(world) == ["v2-a", "v2-b"]
    (ignored,) = [e for e in named(events, "object_ignored") if e.get("origin_message_id") == "m1"]
    assert "the newer version is written again" in ignored["reason"]


def _pump_switching_content(world: World, queue: list[dict[str, Any]], newest: bytes) -> list[list[str]]:
    """Like pump, but a redo of the newest version reads the newest content (S3 by version id)."""
    failed = handle(sqs_event(queue), world.context(10_000), world.deps)  # type: ignore[arg-type]
    history = [[f["itemIdentifier"] for f in failed["batchItemFailures"]]]
    world.s3.put("b", "f.jsonl", newest)
    redo = [sqs_record(m.body, m.message_id) for m in world.sqs.continuations]
    assert redo, "no redo of the newer version was sent"
    history.extend(pump(world, redo))
    return history


def test_a_large_object_spreads_its_records_round_robin_over_partitions() -> None:
    world = make_world(record_shard_bytes=100, max_record_shards=4)
    content = lines(*range(1, 41))  # 40 lines of 11-12 bytes: > 4 x 100 bytes
    deliver(world, "01", content)
    partitions = {pk for pk, _ in world.dynamodb.items}
    assert partitions == {"SRC#s3://b/f.jsonl", "SRC#1#s3://b/f.jsonl", "SRC#2#s3://b/f.jsonl", "SRC#3#s3://b/f.jsonl"}
    assert [
        int(item_to_plain(i)["v"]) for _, i in sorted(world.dynamodb.partition("SRC#1#s3://b/f.jsonl").items())
    ] == [2, 6, 10, 14, 18, 22, 26, 30, 34, 38]
    assert records(world) == list(range(1, 41))
    assert world.dynamodb.heads[HEAD]["shards"]["N"] == "4"


@pytest.mark.parametrize(("first", "second"), [(60, 3), (3, 60), (60, 45)])
def test_a_replacement_with_another_layout_leaves_exactly_the_new_records(first: int, second: int) -> None:
    world = make_world(record_shard_bytes=100, max_record_shards=8)
    deliver(world, "01", lines(*range(first)))
    deliver(world, "02", lines(*(f"n{i}" for i in range(second))))
    assert records(world) == [f"n{i}" for i in range(second)]
    assert len(world.dynamodb.items) == second


# ------------------------------------------------------------------ removal (ON_OBJECT_REMOVED=delete)


def removal(
    sequencer: str, event_name: str = "ObjectRemoved:DeleteMarkerCreated", version_id: str | None = None
) -> Any:
    record = s3_event_record("b", "f.jsonl", event_name=event_name, version_id=version_id)
    record["s3"]["object"]["sequencer"] = sequencer
    return sqs_record(s3_notification_body([record]), f"rm-{sequencer}")


def remove(world: World, sequencer: str, **kwargs: Any) -> list[dict[str, Any]]:
    with captured() as events:
        assert pump(world, [removal(sequencer, **kwargs)]) == [[]]
    return events


def test_by_default_a_removal_leaves_the_items() -> None:
    world = make_world()
    deliver(world, "01", lines(1, 2, "bad"))
    (ignored,) = named(remove(world, "02"), "object_ignored")
    assert ignored["reason"] == "event ObjectRemoved:DeleteMarkerCreated is not an object creation"
    assert (records(world), rejections(world)) == ([1, 2], [3])


@pytest.mark.parametrize("event_name", ["ObjectRemoved:DeleteMarkerCreated", "ObjectRemoved:Delete"])
def test_a_removal_deletes_the_records_and_reports_and_keeps_a_tombstone(event_name: str) -> None:
    world = make_world(on_object_removed="delete")
    deliver(world, "01", lines(1, 2, "bad", 4))
    (removed,) = named(remove(world, "02", event_name=event_name), "object_removed")
    assert removed["reason"] == f"{event_name}: 4 record(s) deleted"
    assert (records(world), rejections(world)) == ([], [])
    head = world.dynamodb.heads[HEAD]
    assert (head["seq"]["S"], head["hwm"]["N"]) == (padded_sequencer("02"), "0")


def test_a_creation_older_than_the_removal_stays_removed_and_a_newer_one_comes_back() -> None:
    world = make_world(on_object_removed="delete")
    remove(world, "05")  # the removal's event arrives first
    (ignored,) = named(deliver(world, "03", lines("old")), "object_ignored")
    assert ignored["reason"].startswith("superseded: a newer version of s3://b/f.jsonl is stored")
    assert records(world) == []
    deliver(world, "07", lines("re-uploaded"))
    assert records(world) == ["re-uploaded"]


def test_a_removal_older_than_the_stored_version_changes_nothing() -> None:
    world = make_world(on_object_removed="delete")
    deliver(world, "09", lines("current"))
    (ignored,) = named(remove(world, "04"), "object_ignored")
    assert ignored["reason"].startswith("superseded:")
    assert records(world) == ["current"]


def test_a_permanent_delete_of_a_noncurrent_version_keeps_the_current_one() -> None:
    world = make_world(on_object_removed="delete")
    world.s3.put("b", "f.jsonl", lines("v2"))
    record = s3_event_record("b", "f.jsonl", version_id="v2")
    record["s3"]["object"]["sequencer"] = "02"
    assert pump(world, [sqs_record(s3_notification_body([record]), "m")]) == [[]]
    events = remove(world, "03", event_name="ObjectRemoved:Delete", version_id="v1")
    (ignored,) = named(events, "object_ignored")
    assert ignored["reason"] == "version v1 was removed; the table holds another one"
    assert records(world) == ["v2"]
    remove(world, "04", event_name="ObjectRemoved:Delete", version_id="v2")  # the current version itself
    assert records(world) == []


def test_the_removal_policy_is_a_setting() -> None:
    from log_ingest.config import ConfigurationError, Settings

    base = {"TABLE_NAME": "t", "DLQ_URL": "q"}
    assert Settings.from_env(base).on_object_removed == "retain"
    assert Settings.from_env({**base, "ON_OBJECT_REMOVED": "Delete"}).on_object_removed == "delete"
    with pytest.raises(ConfigurationError, match="ON_OBJECT_REMOVED must be retain or delete, not 'drop'"):
        Settings.from_env({**base, "ON_OBJECT_REMOVED": "drop"})
