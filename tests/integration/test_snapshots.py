"""A stack restored from a snapshot is the stack a fresh ``terraform apply`` gives (issue 9).

Two private stacks beside the session's: one applied from scratch with snapshots off, one restored
from the snapshot of the same key. Their outputs and every resource's configuration are equal once
the per-stack name prefix and the ports are masked; the canary and every sample format end the
same way on both. (The session's own stack is a restored one whenever the cache holds the key, so
the whole suite runs on restored stacks too.)
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3pipe.backends.registry import backend_class
from s3pipe.config import HarnessConfig
from s3pipe.demo import EXPECTED_OUTCOMES
from s3pipe.guard import check_deployment
from s3pipe.pipeline import Pipeline, StackObserver
from s3pipe.progress import Progress
from s3pipe.session import StackSession
from s3pipe.snapshots.canary import run_canary
from s3pipe.stack import Stack

pytestmark = pytest.mark.slow

_PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")
#: Generated ids (the event source mapping's UUID) differ between any two applies.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: Attributes that differ between any two creations of the same resource (times, ids, counters).
_VOLATILE = {
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "LastModified",
    "RevisionId",
    "CreationDateTime",
    "TableId",
    "ItemCount",
    "TableSizeBytes",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "UUID",
    "CreateDate",
    "RoleId",
    "creationTime",
    "storedBytes",
    "ResponseMetadata",
    "LastProcessingResult",
    "StateTransitionReason",
    "EarliestRestorableDateTime",
    "LatestRestorableDateTime",
    "ETag",
}


def masked(value: Any, prefix: str) -> Any:
    """The value with the stack's name prefix and every loopback port masked, volatile fields dropped."""
    if isinstance(value, dict):
        return {masked(k, prefix): masked(v, prefix) for k, v in sorted(value.items()) if k not in _VOLATILE}
    if isinstance(value, list):
        return [masked(v, prefix) for v in value]
    if isinstance(value, str):
        text = _UUID.sub("<uuid>", _PORT.sub(r"\1:<port>", value.replace(prefix, "<prefix>")))
        if text.startswith(("{", "[")):  # policies and redrive settings are JSON documents
            try:
                return masked(json.loads(text), prefix)
            except ValueError:
                return text
        return text
    return value


def resources(stack: Stack) -> dict[str, Any]:
    """Every deployed resource's configuration, as the APIs describe it."""
    out = stack.outputs
    iam = stack.client("iam")
    policies = {
        name: iam.get_role_policy(RoleName=out.role_name, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=out.role_name)["PolicyNames"]
    }
    function = stack.lambda_.get_function_configuration(FunctionName=out.function_name)
    bucket = out.bucket_name
    return {
        "queue": stack.sqs.get_queue_attributes(QueueUrl=out.queue_url, AttributeNames=["All"])["Attributes"],
        "dlq": stack.sqs.get_queue_attributes(QueueUrl=out.dlq_url, AttributeNames=["All"])["Attributes"],
        "queue_urls": sorted(stack.sqs.list_queues(QueueNamePrefix=out.name_prefix).get("QueueUrls", [])),
        "function": function,
        "mapping": stack.lambda_.get_event_source_mapping(UUID=out.event_source_mapping_uuid),
        "notification": stack.s3.get_bucket_notification_configuration(Bucket=bucket),
        "versioning": stack.s3.get_bucket_versioning(Bucket=bucket),
        "encryption": stack.s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"],
        "public_access": stack.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        "bucket_policy": stack.s3.get_bucket_policy(Bucket=bucket)["Policy"],
        "table": stack.dynamodb.describe_table(TableName=out.table_name)["Table"],
        "pitr": stack.dynamodb.describe_continuous_backups(TableName=out.table_name)["ContinuousBackupsDescription"],
        "role": iam.get_role(RoleName=out.role_name)["Role"],
        "role_policies": policies,
        "log_groups": stack.logs.describe_log_groups(logGroupNamePrefix=out.log_group_name)["logGroups"],
    }


def open_private(config: HarnessConfig, name: str, lines: list[str]) -> StackSession:
    session = StackSession(config, Progress(write=lines.append), name, guard=check_deployment)
    session.deployer.workspace(name).remove()
    return session


@pytest.fixture
def stacks(s3pipe_config: HarnessConfig, s3pipe_stack: Stack) -> Iterator[tuple[Stack, Stack, list[str]]]:
    """(applied from scratch, restored from the snapshot, the restored session's progress lines)."""
    if not (s3pipe_config.snapshots and backend_class(s3pipe_config.backend).supports_snapshots):
        pytest.skip(f"backend {s3pipe_config.backend!r} with snapshots={s3pipe_config.snapshots}: nothing to compare")
    del s3pipe_stack  # the session's stack exists first: its cold apply stores the snapshot when none was cached
    token = secrets.token_hex(2)
    applied_lines: list[str] = []
    restored_lines: list[str] = []
    applied = open_private(s3pipe_config.with_overrides(snapshots=False, reuse=False), f"fresh-{token}", applied_lines)
    restored = open_private(s3pipe_config.with_overrides(reuse=False), f"restored-{token}", restored_lines)
    try:
        yield applied.open(), restored.open(), restored_lines
    finally:
        for session in (restored, applied):
            session.close(keep=False)
            session.deployer.workspace(session.stack_name).remove()


def sample_outcomes(stack: Stack, samples: Path) -> dict[str, tuple[str, int]]:
    """Every sample format (and the broken one) through the stack: (final event, items of the object)."""
    pipeline = Pipeline(stack, StackObserver(stack), f"t/snapshot-equivalence-{secrets.token_hex(3)}/")
    uploads = {}
    for name in EXPECTED_OUTCOMES:
        if name.endswith(".gz"):
            uploads[name] = pipeline.upload(name, (samples / name.removesuffix(".gz")).read_bytes(), gzip=True)
        else:
            uploads[name] = pipeline.upload(name, (samples / name).read_bytes())
    outcomes = pipeline.wait_for_all(list(uploads.values()), timeout=90)
    return {
        name: (outcome.event, len(pipeline.query(f"SRC#s3://{upload.bucket}/{upload.key}")))
        for (name, upload), outcome in zip(uploads.items(), outcomes, strict=True)
    }


def test_a_restored_stack_equals_a_fresh_apply(stacks: tuple[Stack, Stack, list[str]], samples: Path) -> None:
    """One test, so that one xdist worker pays the fresh apply it needs (a module fixture runs once per worker)."""
    applied, restored, lines = stacks

    # it came from the snapshot, not from Terraform
    assert any("restore" in line and "canary passed" in line for line in lines), lines
    assert not any(line.split()[1:2] == ["apply"] for line in lines if line.split()), lines

    # same outputs, apart from its own ports and the name prefix of the stack that stored the snapshot
    assert masked(restored.outputs.to_json(), restored.outputs.name_prefix) == masked(
        applied.outputs.to_json(), applied.outputs.name_prefix
    )
    assert restored.endpoint.url != applied.endpoint.url
    assert restored.outputs.queue_url.startswith(f"{restored.endpoint.url}/")

    # same resources, configured the same, running the same code
    expected = masked(resources(applied), applied.outputs.name_prefix)
    actual = masked(resources(restored), restored.outputs.name_prefix)
    for name in expected:
        assert actual[name] == expected[name], f"{name} differs"
    code = applied.lambda_.get_function_configuration(FunctionName=applied.outputs.function_name)["CodeSha256"]
    assert (
        restored.lambda_.get_function_configuration(FunctionName=restored.outputs.function_name)["CodeSha256"] == code
    )

    # the canary passes on both (and catches other code)
    assert run_canary(applied, code) is None
    assert run_canary(restored, code) is None
    assert run_canary(restored, "not-the-code") == f"function code hash is {code}, the handler zip's is not-the-code"

    # every sample format ends the same way on both
    on_applied = sample_outcomes(applied, samples)
    on_restored = sample_outcomes(restored, samples)
    assert on_restored == on_applied
    assert {name: event for name, (event, _) in on_restored.items()} == EXPECTED_OUTCOMES
