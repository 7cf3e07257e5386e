"""The harness's copy of the handler's contracts (s3pipe.contract) equals the handler's own.

The harness cannot import the handler at runtime; this test imports both, so a change on one side
that the other does not follow fails here, not in an integration run.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from log_ingest import items, logs
from log_ingest.formats import DEFAULT_MAX_LINE_BYTES
from s3pipe import contract
from s3pipe import pipeline as harness_pipeline

BUCKETS = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True)
KEYS = st.text(min_size=1, max_size=200)
ORDINALS = st.integers(min_value=1, max_value=10**10 - 1)


def _events(module: object) -> dict[str, str]:
    return {name: value for name, value in vars(module).items() if name.startswith("EVENT_")}


def test_every_event_name_the_harness_knows_is_the_handlers() -> None:
    handler_events = _events(logs)
    harness_events = _events(contract)
    assert harness_events, "s3pipe.contract defines no events"
    for name, value in harness_events.items():
        assert handler_events.get(name) == value, f"{name}: harness {value!r}, handler {handler_events.get(name)!r}"


def test_event_groups_are_equal() -> None:
    assert contract.TERMINAL_EVENTS == logs.TERMINAL_EVENTS
    assert contract.MESSAGE_TERMINAL_EVENTS == logs.MESSAGE_TERMINAL_EVENTS
    assert contract.RETRY_EVENTS == logs.RETRY_EVENTS
    assert not contract.TERMINAL_EVENTS & contract.RETRY_EVENTS


def test_the_pipeline_helpers_use_the_contract() -> None:
    assert harness_pipeline.TERMINAL_EVENTS is contract.TERMINAL_EVENTS
    assert harness_pipeline.RETRY_EVENTS is contract.RETRY_EVENTS
    assert harness_pipeline.source_pk is contract.source_pk
    assert harness_pipeline.rejection_pk is contract.rejection_pk


def test_limits_are_equal() -> None:
    assert contract.MAX_LINE_BYTES == DEFAULT_MAX_LINE_BYTES


@given(BUCKETS, KEYS)
def test_partition_keys_are_equal(bucket: str, key: str) -> None:
    assert contract.source_pk(bucket, key) == items.source_pk(bucket, key)
    assert contract.rejection_pk(bucket, key) == items.rejection_pk(bucket, key)
    source = items.SourceObject(bucket, key)
    assert (source.record_pk, source.rejection_pk) == (items.source_pk(bucket, key), items.rejection_pk(bucket, key))


@given(ORDINALS, st.one_of(st.none(), ORDINALS))
def test_sort_keys_are_equal(ordinal: int, element: int | None) -> None:
    assert contract.record_sort_key(ordinal) == items.record_sort_key(ordinal)
    assert contract.rejection_sort_key(ordinal, element) == items.rejection_sort_key(ordinal, element)


def test_sort_keys_order_like_the_ordinals() -> None:
    ordinals = [1, 2, 9, 10, 99, 100, 12345, 10**10 - 1]
    assert sorted(ordinals, key=contract.record_sort_key) == ordinals
    assert sorted(ordinals, key=contract.rejection_sort_key) == ordinals
