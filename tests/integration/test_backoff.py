"""Transient failures back off: a throttled table is retried less and less often, and the message
still settles (lambda/log_ingest/backoff.py; the stack's retry_backoff_base_seconds default, 2 s)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from s3pipe.contract import EVENT_MESSAGE_RETRY_DELAYED, EVENT_OBJECT_RETRY
from s3pipe.faults import FaultPlan, FaultRule, GatewayClient
from s3pipe.observe import LogLine
from s3pipe.pipeline import Pipeline

BASE_S = 2  # infra/variables.tf retry_backoff_base_seconds default


def _at(line: LogLine) -> float:
    return datetime.fromisoformat(str((line.fields or {})["time"])).timestamp()


def test_a_throttled_table_is_retried_less_and_less_often_and_the_message_settles(
    pipeline: Pipeline, s3pipe_gateway: GatewayClient
) -> None:
    plan = FaultPlan(seed=11, rules=(FaultRule("dynamodb", "BatchWriteItem", "throttle", probability=1.0),))
    pipeline.settle(timeout=300)  # nothing else in flight: every throttled write is this object's

    with s3pipe_gateway.faults(plan):
        upload = pipeline.upload("backoff.jsonl", "".join(f'{{"n": {n}}}\n' for n in range(20)))
        # two failed receives (the stack's maxReceiveCount is 3: the third must succeed)
        deadline = time.monotonic() + 120
        while True:
            retries = [
                line
                for line in pipeline.observer.object_lines(upload.bucket, upload.key)
                if line.event == EVENT_OBJECT_RETRY
            ]
            if len({(line.fields or {}).get("receive_count") for line in retries}) >= 2:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"no second throttled receive within 120 s\n{pipeline.trace(upload)}")
            pipeline.observer.refresh()
            time.sleep(0.2)

    outcome = pipeline.wait_for(upload, timeout=120)
    assert outcome.event == "object_stored", pipeline.trace(upload)
    assert outcome.fields["stored"] == 20
    message_id = str(outcome.fields["message_id"])

    delays = [line for line in pipeline.message_lines(message_id) if line.event == EVENT_MESSAGE_RETRY_DELAYED]
    assert [(line.fields or {}).get("visibility_timeout") for line in delays] == [BASE_S, 2 * BASE_S]
    # each retry started no sooner than its delay after the failed invocation ended: the waits grow
    first_line: dict[int, LogLine] = {}
    for line in pipeline.observer.object_lines(upload.bucket, upload.key):
        first_line.setdefault(int((line.fields or {}).get("receive_count") or 0), line)
    assert sorted(first_line) == [1, 2, 3]
    summaries = {
        (line.fields or {}).get("aws_request_id"): line
        for line in pipeline.observer.logs.structured()
        if line.event == "invocation_summary"
    }

    def started(receive: int) -> float:  # the invocation's start: its summary's time minus its duration
        summary = summaries[(first_line[receive].fields or {}).get("aws_request_id")]
        return _at(summary) - int((summary.fields or {})["duration_ms"]) / 1000

    waits = [started(n + 2) - _at(delayed) for n, delayed in enumerate(delays)]
    print(f"visibility delays {[BASE_S, 2 * BASE_S]} s -> waits before the next receive {[round(w, 1) for w in waits]}")
    assert waits[0] >= BASE_S - 0.5, waits
    assert waits[1] >= 2 * BASE_S - 0.5, waits
    assert waits[1] > waits[0], waits
    assert pipeline.observer.dlq.for_object(upload.bucket, upload.key) == []
