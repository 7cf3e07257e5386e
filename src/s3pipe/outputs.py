"""Output roles: which of a module's Terraform outputs the harness reads, and how it completes the rest.

The pipeline helpers need six *roles*: ``bucket``, ``queue_url``, ``dlq_url``, ``table``, ``function``
and ``log_group``. A module names its outputs as it likes; the ini key ``s3pipe_outputs`` maps roles
to output names (``role = output_name``, one a line; also ``--s3pipe-outputs`` / ``S3PIPE_OUTPUTS``
with commas). Defaults are ``infra/``'s names, so ``infra/`` needs no mapping.

Every other :class:`~s3pipe.stack.StackOutputs` value (ARNs, names, timeouts, maxReceiveCount, the
mapping's UUID, the accepted suffixes) is read when the module outputs it under its field name (or a
name mapped to that field), and otherwise derived or looked up from the deployed resources with the
SDK. ``log_group`` falls back to the function's own log group.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from s3pipe.errors import OutputsError
from s3pipe.stack import StackOutputs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

#: Role -> the StackOutputs field it fills (and, by default, the output name read for it).
ROLE_FIELDS: dict[str, str] = {
    "bucket": "bucket_name",
    "queue_url": "queue_url",
    "dlq_url": "dlq_url",
    "table": "table_name",
    "function": "function_name",
    "log_group": "log_group_name",
}
#: Roles a module must provide (``log_group`` can be found from the function).
REQUIRED_ROLES: tuple[str, ...] = ("bucket", "queue_url", "dlq_url", "table", "function")
_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(StackOutputs))
#: Every key ``s3pipe_outputs`` accepts: the roles, and any other StackOutputs field by its name.
MAPPABLE: tuple[str, ...] = (*ROLE_FIELDS, *(name for name in _FIELDS if name not in ROLE_FIELDS.values()))


def parse_output_map(raw: str) -> dict[str, str]:
    """``"bucket = raw_bucket\\nqueue_url = q"`` (or comma separated) -> ``{"bucket": "raw_bucket", ...}``."""
    mapping: dict[str, str] = {}
    for entry in re.split(r"[\n,;]", raw):
        text = entry.strip()
        if not text or text.startswith("#"):
            continue
        role, equals, output = (part.strip() for part in text.partition("="))
        if not equals or not role or not output:
            raise OutputsError.bad_mapping(raw, f"{text!r} is not `role = output_name`", MAPPABLE)
        if role not in MAPPABLE:
            raise OutputsError.bad_mapping(raw, f"unknown role {role!r}", MAPPABLE)
        mapping[role] = output
    return mapping


def output_names(mapping: Mapping[str, str]) -> dict[str, str]:
    """StackOutputs field -> the output name to read for it (defaults: the field's own name)."""
    names = {name: name for name in _FIELDS}
    for role, output in mapping.items():
        names[ROLE_FIELDS.get(role, role)] = output
    return names


class ResourceLookup(Protocol):
    """What the harness asks the deployed resources when the module does not output a value."""

    def queue_attributes(self, queue_url: str) -> Mapping[str, str]: ...
    def function_configuration(self, function: str) -> Mapping[str, Any]: ...
    def table_arn(self, table: str) -> str: ...
    def mapping_uuid(self, function: str, queue_arn: str) -> str: ...
    def bucket_suffixes(self, bucket: str, queue_arn: str) -> tuple[str, ...]: ...


class SdkLookup:
    """:class:`ResourceLookup` through boto3 clients (``client(service)`` builds one for the stack's endpoint)."""

    def __init__(self, client: Callable[[str], Any]) -> None:
        self.client = client

    def queue_attributes(self, queue_url: str) -> Mapping[str, str]:
        sqs: SQSClient = self.client("sqs")
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"]).get("Attributes", {})
        return {str(name): value for name, value in attributes.items()}

    def function_configuration(self, function: str) -> Mapping[str, Any]:
        lambda_: LambdaClient = self.client("lambda")
        return dict(lambda_.get_function_configuration(FunctionName=function))

    def table_arn(self, table: str) -> str:
        dynamodb: DynamoDBClient = self.client("dynamodb")
        return dynamodb.describe_table(TableName=table)["Table"].get("TableArn", "")

    def mapping_uuid(self, function: str, queue_arn: str) -> str:
        lambda_: LambdaClient = self.client("lambda")
        mappings = lambda_.list_event_source_mappings(FunctionName=function, EventSourceArn=queue_arn)
        return next((m.get("UUID", "") for m in mappings.get("EventSourceMappings", [])), "")

    def bucket_suffixes(self, bucket: str, queue_arn: str) -> tuple[str, ...]:
        s3: S3Client = self.client("s3")
        configuration = s3.get_bucket_notification_configuration(Bucket=bucket)
        suffixes: list[str] = []
        for queue in configuration.get("QueueConfigurations", []):
            if queue.get("QueueArn") != queue_arn:
                continue
            rules = queue.get("Filter", {}).get("Key", {}).get("FilterRules", [])
            suffixes += [str(rule.get("Value", "")) for rule in rules if str(rule.get("Name", "")).lower() == "suffix"]
        return tuple(suffixes)


def _max_receive_count(attributes: Mapping[str, str]) -> int:
    """The queue's redrive policy's ``maxReceiveCount``; 0 when the queue has no DLQ redrive."""
    policy = json.loads(attributes.get("RedrivePolicy") or "{}")
    return int(policy.get("maxReceiveCount", 0)) if isinstance(policy, dict) else 0


def _last_segment(value: str, separator: str) -> str:
    return value.rstrip(separator).rsplit(separator, 1)[-1]


def check_roles(
    declared: Iterable[str],
    mapping: Mapping[str, str],
    module: Path | str,
    *,
    mapping_from: str = "default",
    settings: str = "the [pytest] ini section",
) -> None:
    """Before any apply: every required role's output is declared by the module (else :class:`OutputsError`).

    ``mapping_from`` says where the mapping came from and ``settings`` where to change it (the project's ini file).
    """
    names, present = output_names(mapping), set(declared)
    missing = {role: names[ROLE_FIELDS[role]] for role in REQUIRED_ROLES if names[ROLE_FIELDS[role]] not in present}
    if missing:
        raise OutputsError.missing_roles(missing, present, str(module), mapping_from=mapping_from, settings=settings)


def resolve_outputs(
    raw: Mapping[str, Any],
    mapping: Mapping[str, str],
    lookup: ResourceLookup,
    *,
    region: str,
    name_prefix: str,
    module: Path | str,
) -> StackOutputs:
    """Complete :class:`StackOutputs` from a module's raw outputs: mapped names first, then derived, then looked up.

    Raises :class:`OutputsError` (listing the module's outputs and the ini line) when a required role is missing.
    """
    names = output_names(mapping)
    values: dict[str, Any] = {field: raw[name] for field, name in names.items() if raw.get(name) is not None}
    missing = {
        role: names[field] for role, field in ROLE_FIELDS.items() if role in REQUIRED_ROLES and field not in values
    }
    if missing:
        raise OutputsError.missing_roles(missing, raw, str(module))

    def fill(field: str, compute: Callable[[], Any]) -> None:
        if field not in values:
            values[field] = compute()

    fill("region", lambda: region)
    fill("name_prefix", lambda: name_prefix)
    fill("bucket_arn", lambda: f"arn:aws:s3:::{values['bucket_name']}")
    fill("queue_name", lambda: _last_segment(str(values["queue_url"]), "/"))
    fill("dlq_name", lambda: _last_segment(str(values["dlq_url"]), "/"))
    queue: dict[str, Mapping[str, str]] = {}

    def attributes(url_field: str) -> Mapping[str, str]:
        if url_field not in queue:
            queue[url_field] = lookup.queue_attributes(str(values[url_field]))
        return queue[url_field]

    fill("queue_arn", lambda: attributes("queue_url").get("QueueArn", ""))
    fill("dlq_arn", lambda: attributes("dlq_url").get("QueueArn", ""))
    fill("visibility_timeout_seconds", lambda: attributes("queue_url").get("VisibilityTimeout", 30))
    fill(
        "max_receive_count",
        lambda: _max_receive_count(attributes("queue_url")),
    )
    function: dict[str, Mapping[str, Any]] = {}

    def configuration() -> Mapping[str, Any]:
        if not function:
            function["config"] = lookup.function_configuration(str(values["function_name"]))
        return function["config"]

    fill("function_arn", lambda: configuration().get("FunctionArn", ""))
    fill("role_arn", lambda: configuration().get("Role", ""))
    fill("role_name", lambda: _last_segment(str(values["role_arn"]), "/"))
    fill("lambda_timeout", lambda: configuration().get("Timeout", 3))
    fill(
        "log_group_name",
        lambda: configuration().get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{values['function_name']}",
    )
    fill("table_arn", lambda: lookup.table_arn(str(values["table_name"])))
    fill(
        "event_source_mapping_uuid", lambda: lookup.mapping_uuid(str(values["function_name"]), str(values["queue_arn"]))
    )
    fill("accepted_suffixes", lambda: lookup.bucket_suffixes(str(values["bucket_name"]), str(values["queue_arn"])))
    return StackOutputs.from_terraform(values)
