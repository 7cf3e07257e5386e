"""Chaos: 1,000+ objects under injected faults; every record stored exactly once or in the DLQ with a reason.

Faults come only from the test stack, never from production code:

- the function fails some invocations outright: a test-only wrapper around the deployed handler
  (shipped in this stack's zip only, selected with the ``lambda_handler`` variable) raises before
  the handler runs, or after it ran (its writes are done but its response is lost, so the whole
  batch comes back);
- DynamoDB writes are throttled, fail with 500s, or come back partly unprocessed, and some S3 reads
  fail: the function gateway's fault plan;
- some messages are delivered twice: copies of S3 notifications sent straight to the queue;
- some objects are malformed: they must end in the DLQ with their reason, and nothing else with them.

Run with ``pytest -k chaos -s`` to see the accounting line.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote_plus

import pytest
from accounting import Ledger, account

from s3pipe.backends.base import Capability
from s3pipe.gateway import FaultPlan, FaultRule, GatewayClient
from s3pipe.pipeline import Pipeline, StackObserver, Upload
from s3pipe.stack import Stack

OBJECTS = 1_000
RECORDS_PER_OBJECT = 5
BAD_EVERY = 40  # 25 malformed objects
DUPLICATE_EVERY = 10  # 100 notifications delivered twice
CRASH_RATE = 0.08  # of invocations; half before the handler runs, half after

CHAOS_WRAPPER = '''"""TEST-ONLY chaos wrapper around the real handler (deployed by tests/integration/test_chaos.py)."""

import os
import random

from log_ingest.handler import lambda_handler as real_lambda_handler

RATE = float(os.environ.get("CHAOS_CRASH_RATE", "0"))


def lambda_handler(event, context):
    draw = random.Random(context.aws_request_id).random()
    if draw < RATE / 2:
        raise RuntimeError("chaos: invocation failed before the handler ran")
    response = real_lambda_handler(event, context)
    if draw < RATE:
        raise RuntimeError("chaos: invocation failed after the handler ran (its response is lost)")
    return response
'''

FAULTS = FaultPlan(
    seed=20261129,
    rules=(
        FaultRule("dynamodb", "BatchWriteItem", "throttle", probability=0.05),
        FaultRule("dynamodb", "BatchWriteItem", "server_error", probability=0.03),
        FaultRule("dynamodb", "BatchWriteItem", "unprocessed", probability=0.15, unprocessed_fraction=0.5),
        FaultRule("s3", "GetObject", "server_error", probability=0.03),
    ),
)


def notification(upload: Upload) -> str:
    """The S3 event notification S3 sent for ``upload`` (sent again to simulate a duplicate delivery)."""
    s3_object = {"key": quote_plus(upload.key, safe="/"), "size": upload.size, "eTag": upload.etag}
    if upload.version_id:
        s3_object["versionId"] = upload.version_id
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": upload.bucket}, "object": s3_object},
    }
    return json.dumps({"Records": [record]})


@pytest.fixture(scope="module")
def chaos_stack(s3pipe_stack_factory: Callable[..., Stack]) -> Stack:
    return s3pipe_stack_factory(
        "chaos",
        extra_files={"chaos_wrapper.py": CHAOS_WRAPPER.encode()},
        extra_environment={"CHAOS_CRASH_RATE": str(CRASH_RATE)},
        extra_variables={"lambda_handler": "chaos_wrapper.lambda_handler"},
        max_receive_count=10,  # transient faults retry; only malformed objects should reach the DLQ
    )


@pytest.mark.slow
@pytest.mark.requires(Capability.FUNCTION_ENDPOINT_OVERRIDE)
def test_chaos_nothing_lost_nothing_duplicated(chaos_stack: Stack) -> None:
    assert chaos_stack.gateway_url is not None
    gateway = GatewayClient(chaos_stack.gateway_url)
    pipeline = Pipeline(chaos_stack, StackObserver(chaos_stack), f"chaos/{secrets.token_hex(3)}/")
    ledger = Ledger()
    bad_keys: set[str] = set()

    def upload(n: int) -> Upload:
        ids = [f"chaos-{n}-{r}" for r in range(RECORDS_PER_OBJECT)]
        lines = [json.dumps({"rid": rid, "n": n, "r": r, "pad": "x" * (n % 50)}) for r, rid in enumerate(ids)]
        if n % BAD_EVERY == BAD_EVERY - 1:
            uploaded = pipeline.upload(f"obj-{n:04d}.json", "[" + ",".join(lines) + ", {broken")  # malformed array
            bad_keys.add(uploaded.key)
        else:
            uploaded = pipeline.upload(f"obj-{n:04d}.jsonl", "\n".join(lines) + "\n")
        ledger.add(uploaded, ids)
        return uploaded

    started = time.monotonic()
    mark = gateway.cursor()
    with gateway.faults(FAULTS):
        with ThreadPoolExecutor(max_workers=16) as pool:
            uploads = list(pool.map(upload, range(OBJECTS)))
        for duplicate in uploads[::DUPLICATE_EVERY]:
            pipeline.send_message(notification(duplicate))
        pipeline.wait_for_all(uploads, timeout=600)
        pipeline.settle(timeout=600)
        fired = {
            f"{rule['service']}:{rule['action']}:{rule['fault']}": rule["fired"]
            for rule in gateway.plan_state()["rules"]
        }
    wall = time.monotonic() - started

    result = account(pipeline, ledger)
    crashes = sum(
        1 for line in pipeline.observer.logs.lines if "chaos: invocation failed" in line.message and line.fields is None
    )
    print(
        f"\nchaos: {result.line()}  ({OBJECTS} objects, {len(bad_keys)} malformed, "
        f"{len(uploads[::DUPLICATE_EVERY])} duplicate deliveries, crashed invocations seen={crashes}, "
        f"faults fired={fired}, {wall:.0f} s)"
    )
    assert result.lost == 0, f"lost records, e.g. {result.lost_examples}"
    assert result.duplicated == 0
    assert result.dlq == len(bad_keys) * RECORDS_PER_OBJECT, "only the malformed objects belong in the DLQ"
    assert result.dlq_without_reason == 0
    for key in bad_keys:
        reasons = {entry.reason for entry in pipeline.observer.dlq.for_object(pipeline.bucket, key)}
        assert all(reason.startswith("JSON syntax error") for reason in reasons), reasons
    assert all(count > 0 for count in fired.values()), f"every fault must have fired at least once: {fired}"
    # a trimmed BatchWriteItem is signed again (the emulator enforces IAM and checks signatures): written, 200
    trimmed = [call for call in gateway.calls(mark) if call.fault == "unprocessed"]
    assert trimmed, "the unprocessed fault fired, so the journal must show it"
    assert {call.status for call in trimmed} == {200}, [str(call) for call in trimmed if call.status != 200]
