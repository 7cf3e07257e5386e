"""Transient failures back off: a throttled table is retried less and less often, and the message
still settles (lambda/log_ingest/backoff.py; the stack's retry_backoff_base_seconds default, 2 s)."""

from __future__ import annotations

from datetime import datetime

from s3pipe import FaultPlan, FaultRule, GatewayClient
from s3pipe.contract import EVENT_MESSAGE_RETRY_DELAYED
from s3pipe.observe import LogLine
from s3pipe.pipeline import Pipeline

BASE_S = 2  # infra/variables.tf retry_backoff_base_seconds default


def _at(line: LogLine) -> float:
    return datetime.fromisoformat(str((line.fields or {})["time"])).timestamp()


def test_a_throttled_table_is_retried_less_and_less_often_and_the_message_settles(
    pipeline: Pipeline, s3pipe_gateway: GatewayClient
) -> None:
    # exactly two failed receives: botocore makes 5 attempts per BatchWriteItem (standard retry mode),
    # so 10 throttles fail receives 1 and 2; the stack's maxReceiveCount is 3: the third must succeed
    plan = FaultPlan(
        seed=11, rules=(FaultRule("dynamodb", "BatchWriteItem", "throttle", probability=1.0, max_count=10),)
    )
    pipeline.settle(timeout=300)  # nothing else in flight: every throttled write is this object's

    with s3pipe_gateway.faults(plan):
        upload = pipeline.upload("backoff.jsonl", "".join(f'{{"n": {n}}}\n' for n in range(20)))
        outcome = pipeline.wait_for(upload, timeout=180)

    assert outcome.event == "object_stored", pipeline.trace(upload)
    assert outcome.fields["stored"] == 20
    assert int(outcome.fields["receive_count"]) == 3, pipeline.trace(upload)
    message_id = str(outcome.fields["message_id"])

    delays = {
        int((line.fields or {})["receive_count"]): line
        for line in pipeline.message_lines(message_id)
        if line.event == EVENT_MESSAGE_RETRY_DELAYED
    }
    # the delay doubles with each receive (MiniStack may drop an invocation's log lines under load:
    # every receive whose lines arrived is checked)
    assert delays, pipeline.trace(upload)
    for n, line in delays.items():
        assert (line.fields or {}).get("visibility_timeout") == BASE_S * 2 ** (n - 1), pipeline.trace(upload)

    # each retry started no sooner than its delay after the failed invocation ended
    first_line: dict[int, LogLine] = {}
    for line in pipeline.observer.object_lines(upload.bucket, upload.key):
        first_line.setdefault(int((line.fields or {}).get("receive_count") or 0), line)
    summaries = {
        (line.fields or {}).get("aws_request_id"): line
        for line in pipeline.observer.logs.structured()
        if line.event == "invocation_summary"
    }

    def started(receive: int) -> float:  # the invocation's start: its summary's time minus its duration
        summary = summaries[(first_line[receive].fields or {}).get("aws_request_id")]
        return _at(summary) - int((summary.fields or {})["duration_ms"]) / 1000

    waits = {n: started(n + 1) - _at(delays[n]) for n in delays if n + 1 in first_line}
    print(f"visibility delays by receive {[BASE_S * 2 ** (n - 1) for n in sorted(waits)]} s -> waits {waits}")
    for n, wait in waits.items():
        assert wait >= BASE_S * 2 ** (n - 1) - 0.5, waits
    assert pipeline.observer.dlq.for_object(upload.bucket, upload.key) == []
