"""Least privilege through the deployed stack: the function's calls, journalled by the gateway, fit its role.

The same audit runs at session end over every call of the run (``--s3pipe-iam-audit``); these
tests pin down what it sees and prove it trips on a call the role does not allow.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest

from s3pipe.backends.base import Capability
from s3pipe.gateway import FaultPlan, FaultRule, GatewayCall, GatewayClient, classify_request, journal_entry
from s3pipe.iam import audit_calls, load_role_policies
from s3pipe.pipeline import Pipeline
from s3pipe.stack import Stack

pytestmark = pytest.mark.requires(Capability.FUNCTION_ENDPOINT_OVERRIDE)

#: Lines of a JSONL file that needs more than one 10 s invocation (so continuation messages).
LARGE_LINES = 60_000
#: What the handler calls in any run with good, bad and large objects.
HANDLER_CALLS = {
    ("s3", "GetObject"),
    ("dynamodb", "BatchWriteItem"),
    ("dynamodb", "UpdateItem"),  # each object's head item (lambda/log_ingest/versions.py)
    ("sqs", "SendMessage"),
}


def jsonl(count: int) -> str:
    return "".join(
        json.dumps({"seq": i, "level": "info", "msg": f"request {i} served", "latency_ms": i % 250}) + "\n"
        for i in range(count)
    )


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def as_function_call(stack: Stack, service: str, operation: str, **params: Any) -> GatewayCall:
    """The journal entry the gateway would write for this call of the function (built by botocore, not sent)."""
    session = botocore.session.get_session()
    client = session.create_client(
        service,
        region_name=stack.endpoint.region,
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="000000000000",
        aws_secret_access_key="test",
    )

    def capture(request: Any, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send", capture)
    try:
        getattr(client, operation)(**params)
    except _Captured as captured:
        request = captured.request
    else:  # pragma: no cover - before-send always fires
        raise AssertionError("botocore sent nothing")
    target = request.url.split("127.0.0.1:1", 1)[1] or "/"
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    headers["host"] = "127.0.0.1:1"
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    classified = classify_request(request.method, target, headers, body)
    return GatewayCall.from_json({"seq": 0, **journal_entry(classified, request.method, target), "status": 200})


def test_every_call_of_the_function_is_allowed_by_its_role(
    pipeline: Pipeline, s3pipe_stack: Stack, s3pipe_gateway: GatewayClient
) -> None:
    outputs = s3pipe_stack.outputs
    mark = s3pipe_gateway.cursor()
    good = pipeline.upload("good.jsonl", jsonl(50))
    bad = pipeline.upload("all-bad.jsonl", 'not json\n[1, 2]\n{"x": NaN}\n')
    large = pipeline.upload("large.jsonl", jsonl(LARGE_LINES))

    assert pipeline.wait_for(good).event == "object_stored"
    assert [entry.failure_class for entry in pipeline.dlq_entries_for(bad)] == ["permanent"]
    big = pipeline.wait_for(large, timeout=300)
    assert (big.event, big.fields["stored"]) == ("object_stored", LARGE_LINES)
    assert int(big.fields["passes"]) >= 2, "the large object should have needed a continuation"

    calls = [c for c in s3pipe_gateway.calls(mark) if pipeline.prefix in c.path or c.service != "s3"]
    kinds = {(c.service, c.action) for c in calls}
    assert kinds >= HANDLER_CALLS
    # nothing else; GetQueueUrl only when the container had not looked the queue up yet (the handler caches it)
    assert kinds <= {*HANDLER_CALLS, ("sqs", "GetQueueUrl"), ("dynamodb", "PutItem")}
    reads = [c for c in calls if c.action == "GetObject"]
    assert all(r.startswith(f"{outputs.bucket_arn}/{pipeline.prefix}") for c in reads for r in c.resources)
    # the bucket is versioned and the events name the version: IAM sees s3:GetObjectVersion
    assert {a for c in reads for a in c.iam_actions} == {"s3:GetObjectVersion"}
    sent_to = {r for c in calls if c.action == "SendMessage" for r in c.resources}
    assert sent_to == {outputs.queue_arn, outputs.dlq_arn}  # continuation + the bad file's DLQ entry
    assert {r for c in calls if c.action == "GetQueueUrl" for r in c.resources} <= {outputs.queue_arn}
    assert {r for c in calls if c.service == "dynamodb" for r in c.resources} == {outputs.table_arn}

    policies = load_role_policies(s3pipe_stack.client("iam"), outputs.role_name)
    report = audit_calls(policies, calls, stack=s3pipe_stack.name, role=outputs.role_name)
    print(report.render_text())

    assert report.violations == [], report.render_text()
    allowed_by = {(kind.action, kind.resource): kind.statements for kind in report.kinds}
    assert allowed_by[("s3:GetObjectVersion", f"{outputs.bucket_arn}/*")] == ("ReadRawLogObjects",)
    assert allowed_by[("sqs:SendMessage", outputs.dlq_arn)] == ("SendPermanentFailuresToDlq",)
    assert allowed_by[("sqs:SendMessage", outputs.queue_arn)] == ("ContinueLargeObjects",)
    assert allowed_by.get(("sqs:GetQueueUrl", outputs.queue_arn), ("ContinueLargeObjects",)) == (
        "ContinueLargeObjects",
    )
    assert allowed_by[("dynamodb:BatchWriteItem", outputs.table_arn)] == ("WriteServerLogsTable",)
    assert allowed_by[("dynamodb:UpdateItem", outputs.table_arn)] == ("TrackObjectVersions",)
    platform = {(p.statement, p.action) for p in report.platform}
    assert {("ConsumeMainQueue", "sqs:ReceiveMessage"), ("WriteOwnLogGroup", "logs:PutLogEvents")} <= platform
    assert ("WriteServerLogsTable", "dynamodb:PutItem") in {(p.statement, p.action) for p in report.unused}


def test_a_call_outside_the_role_is_a_violation_that_names_the_missing_statement(s3pipe_stack: Stack) -> None:
    outputs = s3pipe_stack.outputs
    key = {"PK": {"S": "SRC#x"}, "SK": {"S": "REC#1"}}
    calls = [
        as_function_call(s3pipe_stack, "dynamodb", "delete_item", TableName=outputs.table_name, Key=key),
        as_function_call(s3pipe_stack, "s3", "get_object", Bucket="someone-elses-bucket", Key="secrets.json"),
        as_function_call(s3pipe_stack, "sqs", "send_message", QueueUrl=outputs.dlq_url, MessageBody="allowed"),
    ]
    policies = load_role_policies(s3pipe_stack.client("iam"), outputs.role_name)

    report = audit_calls(policies, calls, stack=s3pipe_stack.name, role=outputs.role_name)

    assert not report.ok
    missing = {v.action: dict(v.suggestion) for v in report.violations}
    assert missing == {
        "dynamodb:DeleteItem": {
            "Sid": "AllowDynamodbDeleteItem",
            "Effect": "Allow",
            "Action": "dynamodb:DeleteItem",
            "Resource": outputs.table_arn,
        },
        "s3:GetObject": {
            "Sid": "AllowS3GetObject",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::someone-elses-bucket/*",
        },
    }
    assert "AllowDynamodbDeleteItem" in report.render_text()
    assert [k.statements for k in report.kinds if k.action == "sqs:SendMessage"] == [("SendPermanentFailuresToDlq",)]


def test_throttled_writes_are_retried_and_the_object_is_stored_exactly_once(
    pipeline: Pipeline, s3pipe_gateway: GatewayClient
) -> None:
    lines = 40
    # every attempt of the object's first BatchWriteItem call is throttled: a failed write for the
    # handler, however many attempts the SDK makes in the time the invocation has left
    plan = FaultPlan(
        seed=7, rules=(FaultRule("dynamodb", "BatchWriteItem", "throttle", max_count=1, scope="sdk_call"),)
    )
    pipeline.settle(timeout=300)  # nothing else in flight: every throttled write is this object's
    mark = s3pipe_gateway.cursor()

    with s3pipe_gateway.faults(plan):
        upload = pipeline.upload("throttled.jsonl", jsonl(lines))
        outcome = pipeline.wait_for(upload, timeout=120)

    throttled = [c for c in s3pipe_gateway.calls(mark) if c.fault == "throttle"]
    assert throttled, "no BatchWriteItem was throttled"
    assert len({c.sdk_invocation for c in throttled}) == 1, throttled  # one SDK call, all its attempts
    lines_seen = pipeline.observer.object_lines(upload.bucket, upload.key)
    assert outcome.event == "object_stored", pipeline.trace(upload)
    assert int(outcome.fields["receive_count"]) == 2, pipeline.trace(upload)  # the failed write was retried
    assert (outcome.fields["stored"], outcome.fields["rejected"]) == (lines, 0)
    assert [line.event for line in lines_seen].count("object_stored") == 1
    items = pipeline.items_for(upload)
    assert [int(item["seq"]) for item in items] == list(range(lines))  # each line stored once, none missing
    assert pipeline.observer.dlq.for_object(upload.bucket, upload.key) == []
    assert all(c.status == 400 for c in s3pipe_gateway.calls(mark) if c.fault == "throttle")
