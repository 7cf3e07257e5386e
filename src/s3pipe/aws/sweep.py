"""``s3pipe aws sweep --run <id>``: delete what a run left on AWS, found by its tag, and nothing else.

Candidates come from the Resource Groups Tagging API (``GetResources`` filtered on
``s3pipe:run=<id>``) and, because that API does not list IAM roles, from IAM itself (every role's
tags). Each candidate's own tags are checked again before anything happens to it: a resource that
does not carry this run's tag is left alone, whatever a filter returned. Without ``delete`` nothing
is deleted (a dry run lists what would be). Deletion goes in dependency order (mappings, functions,
topics, queues, tables, buckets with every version, log groups, roles with their policies); a
resource of a type the sweep does not know is listed for deleting by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from s3pipe.aws.leftovers import tagged_resources
from s3pipe.aws.run import TAG_RUN

#: service name -> a boto3 client for it in the sweep's region.
ClientFactory = Callable[[str], Any]


@dataclass(frozen=True)
class Arn:
    text: str
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, arn: str) -> Arn:
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            raise ValueError(f"not an ARN: {arn!r}")
        return cls(arn, parts[1], parts[2], parts[3], parts[4], parts[5])

    @property
    def kind(self) -> str:
        """``service:resource-type``, e.g. ``lambda:function``, ``sqs:queue``, ``s3:bucket``."""
        if self.service in {"sqs", "sns"}:
            return f"{self.service}:{'queue' if self.service == 'sqs' else 'topic'}"
        if self.service == "s3":
            return "s3:bucket" if "/" not in self.resource else "s3:object"
        head = self.resource.split(":", 1)[0].split("/", 1)[0]
        return f"{self.service}:{head}"

    @property
    def name(self) -> str:
        """The resource's own name (a function's, a table's, a log group's, a role's last path segment)."""
        match self.kind:
            case "sqs:queue" | "sns:topic" | "s3:bucket":
                return self.resource
            case "logs:log-group":
                return self.resource.split(":", 1)[1].removesuffix(":*")
            case "iam:role" | "dynamodb:table":
                return self.resource.rsplit("/", 1)[1]
            case _:
                return self.resource.split(":", 1)[-1]


#: Deletion order: what uses a resource goes before it.
_ORDER = (
    "lambda:event-source-mapping",
    "lambda:function",
    "sns:topic",
    "sqs:queue",
    "dynamodb:table",
    "s3:bucket",
    "logs:log-group",
    "iam:role",
)


@dataclass(frozen=True)
class Candidate:
    arn: str
    tags: Mapping[str, str]

    @property
    def parsed(self) -> Arn:
        return Arn.parse(self.arn)


@dataclass
class SweepResult:
    run_id: str
    deleted: list[str] = field(default_factory=list)
    #: Would be deleted (a dry run).
    planned: list[str] = field(default_factory=list)
    #: (arn, why) left alone: not this run's tag, or a type the sweep does not delete.
    left: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"would delete: {arn}" for arn in self.planned]
        out += [f"deleted: {arn}" for arn in self.deleted]
        out += [f"left alone: {arn} ({why})" for arn, why in self.left]
        out += [f"FAILED: {arn}: {why}" for arn, why in self.failed]
        return out


class Sweeper:
    """Finds a run's resources by tag and deletes them (only them) when asked."""

    def __init__(self, clients: ClientFactory, run_id: str) -> None:
        self.clients = clients
        self.run_id = run_id

    # ------------------------------------------------------------------ find
    def tagged(self) -> list[Candidate]:
        """Everything the Tagging API and IAM list with this run's tag (as they report it)."""
        return [*self._tagging_api(), *self._iam_roles()]

    def _tagging_api(self) -> Iterator[Candidate]:
        for arn, tags in tagged_resources(self.clients("resourcegroupstaggingapi"), self.run_id):
            yield Candidate(arn, tags)

    def _iam_roles(self) -> Iterator[Candidate]:
        iam = self.clients("iam")
        for page in iam.get_paginator("list_roles").paginate():
            for role in page.get("Roles", []):
                if str(role.get("Path", "/")).startswith("/aws-service-role/"):
                    continue  # service-linked: never created by a module's provider, never deletable here
                tags: dict[str, str] = {}
                for tag_page in iam.get_paginator("list_role_tags").paginate(RoleName=role["RoleName"]):
                    tags.update({str(tag["Key"]): str(tag["Value"]) for tag in tag_page.get("Tags", [])})
                if tags.get(TAG_RUN) == self.run_id:
                    yield Candidate(str(role["Arn"]), tags)

    # ------------------------------------------------------------------ sweep
    def sweep(self, *, delete: bool) -> SweepResult:
        result = SweepResult(self.run_id)
        ours: list[Candidate] = []
        for candidate in self.tagged():
            if candidate.tags.get(TAG_RUN) != self.run_id:
                result.left.append((candidate.arn, f"not tagged {TAG_RUN}={self.run_id}"))
            elif not candidate.arn.startswith("arn:") or candidate.parsed.kind not in _ORDER:
                result.left.append((candidate.arn, "a type the sweep does not delete: delete it by hand"))
            else:
                ours.append(candidate)
        ours.sort(key=lambda candidate: _ORDER.index(candidate.parsed.kind))
        for candidate in ours:
            if not delete:
                result.planned.append(candidate.arn)
                continue
            try:
                self._delete(candidate.parsed)
            except (ClientError, BotoCoreError) as error:
                result.failed.append((candidate.arn, f"{type(error).__name__}: {error}"))
            else:
                result.deleted.append(candidate.arn)
        return result

    def _delete(self, arn: Arn) -> None:
        match arn.kind:
            case "lambda:event-source-mapping":
                self.clients("lambda").delete_event_source_mapping(UUID=arn.name)
            case "lambda:function":
                self.clients("lambda").delete_function(FunctionName=arn.name)
            case "sns:topic":
                self.clients("sns").delete_topic(TopicArn=arn.text)
            case "sqs:queue":
                sqs = self.clients("sqs")
                url = sqs.get_queue_url(QueueName=arn.name, QueueOwnerAWSAccountId=arn.account)["QueueUrl"]
                sqs.delete_queue(QueueUrl=url)
            case "dynamodb:table":
                self.clients("dynamodb").delete_table(TableName=arn.name)
            case "s3:bucket":
                self._empty_bucket(arn.name)
                self.clients("s3").delete_bucket(Bucket=arn.name)
            case "logs:log-group":
                self.clients("logs").delete_log_group(logGroupName=arn.name)
            case "iam:role":
                self._delete_role(arn.name)
            case other:  # pragma: no cover - sweep() keeps other kinds out
                raise ValueError(f"no deletion for {other}")

    def _empty_bucket(self, bucket: str) -> None:
        """Delete every version and delete marker (the stack's bucket is versioned)."""
        s3 = self.clients("s3")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            objects = [
                {"Key": entry["Key"], "VersionId": entry["VersionId"]}
                for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            for start in range(0, len(objects), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objects[start : start + 1000], "Quiet": True})

    def _delete_role(self, role: str) -> None:
        iam = self.clients("iam")
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
            for policy in page.get("AttachedPolicies", []):
                iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
            for name in page.get("PolicyNames", []):
                iam.delete_role_policy(RoleName=role, PolicyName=name)
        for page in iam.get_paginator("list_instance_profiles_for_role").paginate(RoleName=role):
            for profile in page.get("InstanceProfiles", []):
                iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=role)
        iam.delete_role(RoleName=role)
