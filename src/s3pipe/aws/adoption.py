"""Never adopt: resources a plan would create are checked for existing ones where AWS hands those back.

Some create calls succeed on a name that exists instead of failing, so Terraform records someone
else's resource as its own and the session's destroy deletes it:

- SQS ``CreateQueue`` with an existing name and the same attributes returns that queue's URL;
- SNS ``CreateTopic`` with an existing name returns that topic's ARN;
- S3 ``CreateBucket`` in us-east-1 for a bucket the account owns returns 200 OK (every other
  region answers ``BucketAlreadyOwnedByYou``); a bucket name is global, so any existing one is refused.

Before an apply on AWS the harness saves the plan (``terraform plan -out``), reads it
(``terraform show -json``), looks each such name up, refuses with the names it found, and otherwise
applies exactly that plan. Names unknown at plan time (``name_prefix`` attributes) are generated
unique by the provider and are not checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from s3pipe.errors import HarnessError
from s3pipe.gateway.classify import partition_of

#: service name -> a boto3 client for it (the stack's session, region and endpoint).
ClientFactory = Callable[[str], Any]

#: Resource types whose create call may return an existing resource, and the attribute that names it.
ADOPTING_TYPES: Mapping[str, str] = {"aws_sqs_queue": "name", "aws_sns_topic": "name", "aws_s3_bucket": "bucket"}

_NOT_FOUND = {
    "aws_sqs_queue": {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"},
    "aws_sns_topic": {"NotFound", "NotFoundException"},
    "aws_s3_bucket": {"404", "NoSuchBucket", "NotFound"},
}


@dataclass(frozen=True)
class PlannedName:
    """A resource the plan creates, under a name known at plan time."""

    address: str
    resource_type: str
    name: str


@dataclass(frozen=True)
class Found:
    planned: PlannedName
    #: What the lookup saw: the existing resource, or why it could not tell.
    evidence: str


class AdoptionRefused(HarnessError):
    """The plan would create a resource whose name already exists: AWS would hand that one back."""

    @classmethod
    def existing(cls, found: list[Found], account: str | None, region: str) -> AdoptionRefused:
        return cls(
            f"The plan would adopt {len(found)} existing resource(s) in account {account or '?'} ({region}) "
            "instead of creating its own, and the session's destroy would delete them",
            tried="look up every queue, topic and bucket name the plan creates before applying it",
            seen=[f"{item.planned.address}: {item.evidence}" for item in found],
            fix=(
                "build those names from the name prefix variable (each run gets a fresh prefix); if they are "
                "leftovers of an earlier s3pipe run, `s3pipe aws sweep --run <its id>` removes them; otherwise "
                "they are not yours to delete: rename them in the module"
            ),
        )


def planned_creations(plan: Mapping[str, Any]) -> list[PlannedName]:
    """Resources of the adopting types that ``terraform show -json <plan>`` says will be created, by name."""
    found: list[PlannedName] = []
    for change in plan.get("resource_changes") or []:
        if not isinstance(change, dict) or change.get("mode") != "managed":
            continue
        attribute = ADOPTING_TYPES.get(str(change.get("type")))
        details = change.get("change") or {}
        if attribute is None or "create" not in (details.get("actions") or []):
            continue
        name = (details.get("after") or {}).get(attribute)
        if isinstance(name, str) and name:
            found.append(PlannedName(str(change.get("address")), str(change["type"]), name))
    return found


def _lookup(planned: PlannedName, clients: ClientFactory, account: str | None, region: str) -> str | None:
    """What exists under the planned name (a description), or None when the name is free."""
    match planned.resource_type:
        case "aws_sqs_queue":
            url = clients("sqs").get_queue_url(QueueName=planned.name)["QueueUrl"]
            return f"queue {planned.name!r} exists ({url}); CreateQueue would return it"
        case "aws_sns_topic":
            arn = f"arn:{partition_of(region)}:sns:{region}:{account}:{planned.name}"
            clients("sns").get_topic_attributes(TopicArn=arn)
            return f"topic {planned.name!r} exists ({arn}); CreateTopic would return it"
        case _:
            clients("s3").head_bucket(Bucket=planned.name)
            return f"bucket {planned.name!r} exists and is this account's (in us-east-1 CreateBucket would return it)"


def existing_resources(
    planned: Iterable[PlannedName], clients: ClientFactory, *, account: str | None, region: str
) -> list[Found]:
    """Every planned name that is taken, or that could not be checked (refused too: nothing is adopted blind)."""
    found: list[Found] = []
    for item in planned:
        try:
            evidence = _lookup(item, clients, account, region)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _NOT_FOUND[item.resource_type] or str(status) in _NOT_FOUND[item.resource_type]:
                continue
            if item.resource_type == "aws_s3_bucket" and status in (301, 403):
                evidence = f"bucket {item.name!r} exists (HTTP {status}: another account's, or another region's)"
            else:
                evidence = f"could not check {item.name!r}: {code or status}: {error}"
        except BotoCoreError as error:
            evidence = f"could not check {item.name!r}: {type(error).__name__}: {error}"
        if evidence is not None:
            found.append(Found(item, evidence))
    return found


def refuse_adoption(plan: Mapping[str, Any], clients: ClientFactory, *, account: str | None, region: str) -> None:
    """Raise :class:`AdoptionRefused` when the plan would create a resource whose name is taken."""
    if found := existing_resources(planned_creations(plan), clients, account=account, region=region):
        raise AdoptionRefused.existing(found, account, region)
