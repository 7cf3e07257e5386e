"""Trust nothing restored: the function runs the expected code, the event source mapping is enabled, and an
object put into the bucket reaches the function. The canaries clean up after themselves.

Two canaries. :func:`run_canary` knows the shipped handler: the canary object must become an item. A
handler of your own writes what nobody here can know, so :func:`run_event_path_canary` proves only the
path, whatever the handler then does: S3 notifies the queue, the mapping hands the message to the
function, and the function is invoked (MiniStack's line for that invocation, success or failure);
then it removes the object, the message (the queues are purged: a restored stack is fresh) and every
item that was not in the table before it.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from s3pipe.contract import HEAD_SK, head_pk, source_pk
from s3pipe.invocations import EmulatorLogInvocations
from s3pipe.observe import queue_depth, table_key_names
from s3pipe.stack import Stack

CANARY_PREFIX = "_s3pipe/canary/"
CANARY_TIMEOUT = 30.0
#: The shipped handler's entry module, relative to the lambda dir: the canary's end-to-end step reads
#: the items this handler writes (``s3pipe.contract``), so only stacks running it are snapshotted.
SHIPPED_HANDLER = Path("log_ingest") / "handler.py"


def canary_can_check(lambda_dir: Path) -> bool:
    """Whether the canary can prove a restored stack works end to end with this handler package.

    A handler of your own writes items the canary cannot know, so its stacks are applied, not
    restored: a snapshot nobody can verify is not trusted.
    """
    return (lambda_dir / SHIPPED_HANDLER).is_file()


def run_canary(stack: Stack, code_sha256: str, timeout: float = CANARY_TIMEOUT) -> str | None:
    """None when the stack works end to end; otherwise one line saying what did not."""
    try:
        return _function_ready(stack, code_sha256) or _canary(stack, timeout)
    except (BotoCoreError, ClientError) as error:
        return f"the canary's AWS call failed: {error}"


def run_event_path_canary(stack: Stack, code_sha256: str, timeout: float = CANARY_TIMEOUT) -> str | None:
    """None when an object put into the bucket reaches the function (any handler); otherwise one line saying why."""
    try:
        return _function_ready(stack, code_sha256) or _event_path(stack, timeout)
    except (BotoCoreError, ClientError) as error:
        return f"the canary's AWS call failed: {error}"


def _function_ready(stack: Stack, code_sha256: str) -> str | None:
    """The function runs the handler zip's code, and its event source mapping is enabled."""
    outputs = stack.outputs
    configuration = stack.lambda_.get_function_configuration(FunctionName=outputs.function_name)
    if configuration.get("CodeSha256") != code_sha256:
        return f"function code hash is {configuration.get('CodeSha256')}, the handler zip's is {code_sha256}"
    mapping = stack.lambda_.get_event_source_mapping(UUID=outputs.event_source_mapping_uuid)
    if mapping.get("State") != "Enabled":
        return f"event source mapping {outputs.event_source_mapping_uuid} is {mapping.get('State')!r}, not Enabled"
    return None


def _canary(stack: Stack, timeout: float) -> str | None:
    outputs = stack.outputs
    key = f"{CANARY_PREFIX}{secrets.token_hex(6)}.jsonl"
    pk = source_pk(outputs.bucket_name, key)
    stack.s3.put_object(Bucket=outputs.bucket_name, Key=key, Body=b'{"s3pipe": "canary"}\n')
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    try:
        while time.monotonic() < deadline:
            query = stack.dynamodb.query(
                TableName=outputs.table_name,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ConsistentRead=True,
            )
            if items := [dict(item) for item in query.get("Items", [])]:
                return _queue_drained(stack, deadline)
            time.sleep(0.05)
        return _why_no_item(stack, key, timeout)
    finally:
        records = [(str(item["PK"]["S"]), str(item["SK"]["S"])) for item in items]
        _clean_up(stack, key, [*records, (head_pk(outputs.bucket_name, key), HEAD_SK)])


def _queue_drained(stack: Stack, deadline: float) -> str | None:
    """The canary's message deleted (as after a fresh apply, the queue is empty when tests start)."""
    names: list[Any] = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes: dict[str, str] = {}
    while time.monotonic() < deadline:
        answer = stack.sqs.get_queue_attributes(QueueUrl=stack.outputs.queue_url, AttributeNames=names)
        attributes = {str(name): value for name, value in answer["Attributes"].items()}
        if all(attributes.get(name) == "0" for name in names):
            return None
        time.sleep(0.05)
    return f"the item arrived but the queue did not drain ({attributes})"


def _why_no_item(stack: Stack, key: str, timeout: float) -> str:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=stack.outputs.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    visible = int(attributes.get("ApproximateNumberOfMessages", "0"))
    in_flight = int(attributes.get("ApproximateNumberOfMessagesNotVisible", "0"))
    if visible:
        seen = f"{visible} message(s) wait in the queue: the notification delivered, the mapping did not poll"
    elif in_flight:
        seen = f"{in_flight} message(s) in flight: the function was invoked but wrote no item"
    else:
        seen = "the queue is empty: no notification arrived, or the function consumed it without writing"
    return f"no item for s3://{stack.outputs.bucket_name}/{key} within {timeout:.0f} s ({seen})"


def _event_path(stack: Stack, timeout: float) -> str | None:
    outputs = stack.outputs
    if not stack.emulator_log:
        return "there is no emulator log to see the function's invocation in"
    invocations = EmulatorLogInvocations(Path(stack.emulator_log), outputs.function_name)
    before = _table_keys(stack)
    suffix = outputs.accepted_suffixes[0] if outputs.accepted_suffixes else ".json"
    key = f"{CANARY_PREFIX}{secrets.token_hex(6)}{suffix}"
    stack.s3.put_object(Bucket=outputs.bucket_name, Key=key, Body=b"s3pipe canary\n")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if invocations.read():  # the mapping handed the notification to the function: the path works
                return None
            time.sleep(0.05)
        return _why_no_invocation(stack, key, timeout)
    finally:
        _clean_up_any(stack, key, before)


def _why_no_invocation(stack: Stack, key: str, timeout: float) -> str:
    depth = queue_depth(stack.sqs, stack.outputs.queue_url)
    if depth.visible:
        seen = f"{depth.visible} message(s) wait in the queue: the notification delivered, the mapping did not poll"
    elif depth.in_flight:
        seen = f"{depth.in_flight} message(s) in flight: received, but no invocation of the function was logged"
    else:
        seen = "the queue is empty: no notification arrived"
    where = f"s3://{stack.outputs.bucket_name}/{key}"
    return f"no invocation of {stack.outputs.function_name} for {where} within {timeout:.0f} s ({seen})"


def _table_keys(stack: Stack) -> set[tuple[tuple[str, str], ...]]:
    """Every item's key in the table (a restored stack's table is as its first apply left it: small)."""
    names = [name for name in table_key_names(stack.dynamodb, stack.outputs.table_name) if name is not None]
    found: set[tuple[tuple[str, str], ...]] = set()
    for page in stack.dynamodb.get_paginator("scan").paginate(
        TableName=stack.outputs.table_name,
        ProjectionExpression=", ".join(f"#k{i}" for i in range(len(names))),
        ExpressionAttributeNames={f"#k{i}": name for i, name in enumerate(names)},
    ):
        for item in page.get("Items", []):
            found.add(tuple((name, json.dumps(item[name], sort_keys=True)) for name in names if name in item))
    return found


def _clean_up_any(stack: Stack, key: str, before: set[tuple[tuple[str, str], ...]]) -> None:
    """Leave the stack as a fresh apply leaves it, whatever the handler did: no canary object, no message in
    either queue, no item that was not there before the canary."""
    outputs = stack.outputs
    try:
        for url in (outputs.queue_url, outputs.dlq_url):
            stack.sqs.purge_queue(QueueUrl=url)
        for item_key in _table_keys(stack) - before:
            stack.dynamodb.delete_item(
                TableName=outputs.table_name, Key={name: json.loads(value) for name, value in item_key}
            )
        _delete_versions(stack, key)
    except (BotoCoreError, ClientError):
        pass  # best effort: the canary's key is under its own prefix, no test reads it


def _delete_versions(stack: Stack, key: str) -> None:
    versions = stack.s3.list_object_versions(Bucket=stack.outputs.bucket_name, Prefix=key)
    for entry in [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])]:
        stack.s3.delete_object(Bucket=stack.outputs.bucket_name, Key=entry["Key"], VersionId=entry["VersionId"])


def _clean_up(stack: Stack, key: str, items: list[tuple[str, str]]) -> None:
    """Leave the stack as a fresh apply leaves it: no canary object (versions included), no canary item
    (its records and the head item naming its version)."""
    outputs = stack.outputs
    try:
        for pk, sk in items:
            stack.dynamodb.delete_item(TableName=outputs.table_name, Key={"PK": {"S": pk}, "SK": {"S": sk}})
        _delete_versions(stack, key)
    except (BotoCoreError, ClientError):
        pass  # best effort: the canary's key is under its own prefix, no test reads it
