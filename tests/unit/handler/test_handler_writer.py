"""BatchWriter: batches of <= 25 without duplicate keys, UnprocessedItems retries, budget, isolation."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from log_ingest.errors import BudgetExhaustedError, TransientError
from log_ingest.items import Item
from log_ingest.writer import BatchWriter, Deadline, Tag

from .fakes import FakeClock, FakeDynamoDB, client_error


def item(pk: int, sk: int, value: int = 0) -> Item:
    return {"PK": {"S": f"P{pk}"}, "SK": {"S": f"S{sk}"}, "v": {"N": str(value)}}


def writer(
    table: FakeDynamoDB, clock: FakeClock, budget_ms: int = 60_000, concurrency: int = 1, executor=None
) -> BatchWriter:
    started = clock.now
    deadline = Deadline(lambda: budget_ms - int((clock.now - started) * 1000), 0)
    return BatchWriter(
        table,  # type: ignore[arg-type]
        "events",
        deadline,
        concurrency=concurrency,
        executor=executor,
        sleep=clock.sleep,
        random=lambda: 1.0,
    )


KEYS = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40)), max_size=300)


@given(KEYS, st.integers(0, 3), st.integers(0, 3))
def test_batches_are_small_unique_and_everything_gets_written(
    keys: list[tuple[int, int]], unprocessed: int, half: int
) -> None:
    table = FakeDynamoDB()
    table.unprocessed_responses = unprocessed
    table.half_unprocessed_responses = half
    clock = FakeClock()
    w = writer(table, clock)
    expected: dict[tuple[str, str], Item] = {}
    for n, (pk, sk) in enumerate(keys):
        it = item(pk, sk, n)
        expected[(f"P{pk}", f"S{sk}")] = it
        w.add(it, Tag(True, n + 1, n + 1))
    w.flush()
    assert table.items == expected  # last one wins for a duplicate key
    assert w.stored_records == len(keys)
    assert all(1 <= len(b) <= 25 and len(set(b)) == len(b) for b in table.batches)


@given(st.integers(1, 8))
def test_unprocessed_items_are_retried_with_growing_jittered_backoff(times: int) -> None:
    table = FakeDynamoDB()
    table.unprocessed_responses = times
    clock = FakeClock()
    w = writer(table, clock, budget_ms=10**9)
    for n in range(10):
        w.add(item(0, n), Tag(True, n, n))
    w.flush()
    assert len(table.items) == 10
    assert len(table.batches) == times + 1
    assert clock.sleeps == [min(5.0, 0.05 * 2**attempt) for attempt in range(1, times + 1)]


def test_budget_exhaustion_is_a_transient_failure() -> None:
    table = FakeDynamoDB()
    table.unprocessed_responses = 10**6
    clock = FakeClock()
    w = writer(table, clock, budget_ms=5_000)
    w.add(item(0, 0), Tag(True, 1, 1))
    with pytest.raises(TransientError, match="time budget exhausted with 1 unprocessed items"):
        w.flush()
    assert clock.now - 1000.0 < 5.0


def test_no_call_is_started_without_budget() -> None:
    table = FakeDynamoDB()
    w = writer(table, FakeClock(), budget_ms=100)
    w.add(item(0, 0), Tag(True, 1, 1))
    with pytest.raises(TransientError, match="time budget exhausted before BatchWriteItem"):
        w.flush()
    assert table.batches == []


@pytest.mark.parametrize(
    "error",
    [
        client_error("ProvisionedThroughputExceededException", "BatchWriteItem", status=400),
        client_error("InternalServerError", "BatchWriteItem", status=500),
        client_error("ResourceNotFoundException", "BatchWriteItem"),
    ],
)
def test_errors_after_botocore_retries_are_transient(error: Exception) -> None:
    table = FakeDynamoDB()
    table.batch_errors = [error]
    w = writer(table, FakeClock())
    w.add(item(0, 0), Tag(True, 1, 1))
    with pytest.raises(TransientError, match="DynamoDB BatchWriteItem failed"):
        w.flush()


def test_validation_exception_isolates_the_bad_item() -> None:
    table = FakeDynamoDB()
    table.invalid = lambda it: it["SK"]["S"] == "S3"
    w = writer(table, FakeClock())
    for n in range(6):
        w.add(item(0, n), Tag(True, n + 10, n + 1))
    w.flush()
    assert sorted(sk for _, sk in table.items) == ["S0", "S1", "S2", "S4", "S5"]
    assert w.stored_records == 5
    (rejected,) = w.rejections
    assert rejected.tag == Tag(True, 13, 4)
    assert rejected.reason.startswith("DynamoDB refused the item: ")


def test_concurrent_windows_write_everything_once() -> None:
    table = FakeDynamoDB()
    table.half_unprocessed_responses = 5
    clock = FakeClock()
    with ThreadPoolExecutor(4) as pool:
        w = writer(table, clock, budget_ms=10**9, concurrency=4, executor=pool)
        for n in range(1000):
            w.add(item(n % 7, n), Tag(True, n, n))
        w.flush()
    assert len(table.items) == 1000
    assert w.stored_records == 1000
    assert all(len(b) <= 25 for b in table.batches)


# ====================================================================== progress by ordinal


def test_durable_through_follows_pending_entries_and_completed_flushes() -> None:
    table = FakeDynamoDB()
    w = writer(table, FakeClock())
    assert w.durable_through() == 0
    for n in range(1, 31):  # the window (25) is written when full; 26..30 stay pending
        w.add(item(0, n), Tag(True, n, n))
    assert w.durable_through() == 25
    w.flush()
    assert w.durable_through() == 30


def test_budget_errors_are_distinguishable() -> None:
    table = FakeDynamoDB()
    w = writer(table, FakeClock(), budget_ms=100)
    w.add(item(0, 0), Tag(True, 1, 1))
    with pytest.raises(BudgetExhaustedError):
        w.flush()
    table.batch_errors = [client_error("InternalServerError", "BatchWriteItem", status=500)]
    w = writer(table, FakeClock())
    w.add(item(0, 0), Tag(True, 1, 1))
    with pytest.raises(TransientError) as raised:
        w.flush()
    assert not isinstance(raised.value, BudgetExhaustedError)


def test_a_failed_sequential_flush_counts_what_was_written_and_stops() -> None:
    table = FakeDynamoDB()
    clock = FakeClock()
    calls = 0

    def fail_second(items: list[Item]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise client_error("InternalServerError", "BatchWriteItem", status=500)

    table.on_batch = fail_second
    w = writer(table, clock)
    w._window = 100  # three batches in one (sequential) flush
    for n in range(1, 61):
        w.add(item(0, n), Tag(n % 2 == 0, n, n))
    with pytest.raises(TransientError):
        w.flush()
    assert calls == 2  # the third batch is not attempted once the second one failed
    assert (w.stored_records, w.stored_other) == (12, 13)  # the first batch: ordinals 1..25
    assert w.durable_through() == 25


@given(st.integers(1, 120), st.sets(st.integers(0, 6), max_size=3))
def test_durable_through_after_a_partially_failed_concurrent_flush(count: int, failing: set[int]) -> None:
    table = FakeDynamoDB()
    batch = 0
    lock = threading.Lock()

    def fail_some(items: list[Item]) -> None:
        nonlocal batch
        with lock:
            batch += 1
            number = batch
        if number - 1 in failing:
            raise client_error("InternalServerError", "BatchWriteItem", status=500)

    table.on_batch = fail_some
    with ThreadPoolExecutor(4) as pool:
        w = writer(table, FakeClock(), concurrency=5, executor=pool)
        try:
            for n in range(1, count + 1):
                w.add(item(0, n), Tag(True, n, n))
            w.flush()
        except TransientError:
            pass
    written = {int(sk[1:]) for _, sk in table.items}
    durable = w.durable_through()
    assert set(range(1, durable + 1)) <= written  # everything up to it is written ...
    assert durable == count or durable + 1 not in written  # ... and it is the highest such ordinal
