"""Load: 1,000 uploads issued concurrently, every record accounted for."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from accounting import Accounting, Ledger, account

from s3pipe.pipeline import Pipeline

OBJECTS = 1_000
RECORDS_PER_OBJECT = 3


@pytest.mark.slow
def test_a_thousand_concurrent_uploads_are_all_accounted_for(pipeline: Pipeline) -> None:
    ledger = Ledger()

    def upload(n: int) -> None:
        ids = [f"load-{n}-{r}" for r in range(RECORDS_PER_OBJECT)]
        body = "".join(json.dumps({"rid": rid, "n": n, "r": r}) + "\n" for r, rid in enumerate(ids))
        ledger.add(pipeline.upload(f"obj-{n:04d}.jsonl", body), ids)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(upload, range(OBJECTS)))
    uploaded = time.monotonic() - started
    # the table and the DLQ decide, not the function's log lines (the emulator drops some under load)
    pipeline.settle(timeout=300)

    def everything_accounted_for() -> Accounting:
        result = account(pipeline, ledger)
        assert result.lost == 0, result.line()
        return result

    result = pipeline.eventually(everything_accounted_for, timeout=120, what="every record stored or dead-lettered")
    wall = time.monotonic() - started

    print(f"\nload: {OBJECTS} uploads in {uploaded:.1f} s, all settled after {wall:.1f} s; {result.line()}")
    assert (result.lost, result.duplicated, result.dlq) == (0, 0, 0), result.lost_examples
    assert result.stored == OBJECTS * RECORDS_PER_OBJECT
