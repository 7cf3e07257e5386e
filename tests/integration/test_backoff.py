"""Transient failures back off: a throttled table is retried less and less often, and the message
still settles (lambda/log_ingest/backoff.py; the stack's retry_backoff_base_seconds default, 2 s)."""

from __future__ import annotations

from s3pipe import FaultPlan, FaultRule, GatewayClient
from s3pipe.contract import EVENT_MESSAGE_RETRY_DELAYED
from s3pipe.pipeline import Pipeline

BASE_S = 2  # infra/variables.tf retry_backoff_base_seconds default


def test_a_throttled_table_is_retried_less_and_less_often_and_the_message_settles(
    pipeline: Pipeline, s3pipe_gateway: GatewayClient
) -> None:
    # exactly two failed receives: every attempt of the object's first two BatchWriteItem calls is
    # throttled (however many attempts the SDK makes in the time the invocation has); the stack's
    # maxReceiveCount is 3: the third receive must store the object
    plan = FaultPlan(
        seed=11, rules=(FaultRule("dynamodb", "BatchWriteItem", "throttle", max_count=2, scope="sdk_call"),)
    )
    pipeline.settle(timeout=300)  # nothing else in flight: every call in the journal is this object's
    mark = s3pipe_gateway.cursor()

    with s3pipe_gateway.faults(plan):
        upload = pipeline.upload("backoff.jsonl", "".join(f'{{"n": {n}}}\n' for n in range(20)))
        outcome = pipeline.wait_for(upload, timeout=180)

    assert outcome.event == "object_stored", pipeline.trace(upload)
    assert outcome.fields["stored"] == 20
    assert int(outcome.fields["receive_count"]) == 3, pipeline.trace(upload)
    assert pipeline.observer.dlq.for_object(upload.bucket, upload.key) == []

    # what the function did, from the gateway's journal (complete even where the emulator drops log lines):
    # each receive reads the object once; each failed receive sets its message's visibility before it ends
    calls = s3pipe_gateway.calls(mark)
    object_arn = f"arn:aws:s3:::{upload.bucket}/{upload.key}"
    reads = [c.time for c in calls if c.action == "GetObject" and object_arn in c.resources]
    delayed = [c.time for c in calls if c.action == "ChangeMessageVisibility" and c.status == 200]
    journal = [f"{c.time:.3f} {c.action} {c.status} {c.fault or ''}" for c in calls]
    assert (len(reads), len(delayed)) == (3, 2), journal

    # each retry started no sooner than its delay (2 s, then 4 s) after the failed receive hid the message
    waits = {n: reads[n] - delayed[n - 1] for n in (1, 2)}
    print(f"visibility delays {[BASE_S * 2 ** (n - 1) for n in waits]} s -> waits {waits}")
    for n, wait in waits.items():
        assert wait >= BASE_S * 2 ** (n - 1) - 0.5, (waits, journal)

    # the function's own account of the delays agrees, for every receive whose log lines arrived
    message_id = str(outcome.fields["message_id"])
    for line in pipeline.message_lines(message_id):
        if line.event == EVENT_MESSAGE_RETRY_DELAYED:
            receive = int((line.fields or {})["receive_count"])
            assert (line.fields or {}).get("visibility_timeout") == BASE_S * 2 ** (receive - 1), line
