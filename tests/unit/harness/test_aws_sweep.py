"""``s3pipe aws sweep``: deletes what carries this run's tag, only that, and nothing at all without ``--yes``.

Every AWS answer comes from botocore's Stubber, which fails the test on any call it was not told to
expect: a delete of an untagged or another run's resource would be such a call.
"""

from __future__ import annotations

import argparse
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from s3pipe.aws.cli import cmd_sweep
from s3pipe.aws.sweep import Arn, Sweeper
from s3pipe.cli import build_parser
from s3pipe.errors import HarnessError

RUN = "r0123456789"
OTHER_RUN = "r9876543210"
ACCOUNT = "123456789012"
REGION = "eu-west-1"

OUR_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:s3p-ci-abc123-queue"
OUR_FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:s3p-ci-abc123-ingest"
OUR_MAPPING = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:11111111-2222-3333-4444-555555555555"
OUR_BUCKET = "arn:aws:s3:::s3p-ci-abc123-raw-logs"
OUR_TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/s3p-ci-abc123-server-logs"
OUR_LOGS = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/s3p-ci-abc123-ingest"
OUR_ALARM = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:s3p-ci-abc123-errors"
OTHER_RUNS_BUCKET = "arn:aws:s3:::s3p-ci-fff000-raw-logs"
UNTAGGED_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"


def tags(run: str | None) -> list[dict[str, str]]:
    return [] if run is None else [{"Key": "s3pipe:run", "Value": run}, {"Key": "s3pipe:stack", "Value": "ci"}]


class Stubs:
    """One stubbed client per service; a call nobody expected fails the test."""

    def __init__(self) -> None:
        self.session = boto3.Session(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x", region_name=REGION)
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}

    def __call__(self, service: str) -> Any:
        self.stub(service)
        return self.clients[service]

    def stub(self, service: str) -> Stubber:
        if service not in self.stubbers:
            self.clients[service] = self.session.client(service, region_name=REGION)  # type: ignore[call-overload]
            self.stubbers[service] = Stubber(self.clients[service])
            self.stubbers[service].activate()
        return self.stubbers[service]

    def verify(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


def role(name: str) -> dict[str, Any]:
    return {
        "Path": "/",
        "RoleName": name,
        "RoleId": f"AROA{name.upper()[:12]:0<12}",
        "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "CreateDate": "2025-01-01T00:00:00Z",
    }


def expect_listing(stubs: Stubs, resources: list[tuple[str, str | None]]) -> None:
    """The Tagging API's answer (as if its filter let everything through) and IAM's two roles."""
    stubs.stub("resourcegroupstaggingapi").add_response(
        "get_resources",
        {"ResourceTagMappingList": [{"ResourceARN": arn, "Tags": tags(run)} for arn, run in resources]},
        {"TagFilters": [{"Key": "s3pipe:run", "Values": [RUN]}]},
    )
    iam = stubs.stub("iam")
    iam.add_response("list_roles", {"Roles": [role("s3p-ci-abc123-ingest"), role("prod-app")]}, {})
    iam.add_response("list_role_tags", {"Tags": tags(RUN)}, {"RoleName": "s3p-ci-abc123-ingest"})
    iam.add_response("list_role_tags", {"Tags": tags(OTHER_RUN)}, {"RoleName": "prod-app"})


LISTED = [
    (OUR_BUCKET, RUN),
    (OTHER_RUNS_BUCKET, OTHER_RUN),
    (UNTAGGED_QUEUE, None),
    (OUR_QUEUE, RUN),
    (OUR_TABLE, RUN),
    (OUR_LOGS, RUN),
    (OUR_FUNCTION, RUN),
    (OUR_MAPPING, RUN),
    (OUR_ALARM, RUN),
]


def test_a_dry_run_lists_the_runs_resources_and_deletes_nothing() -> None:
    stubs = Stubs()
    expect_listing(stubs, LISTED)

    result = Sweeper(stubs, RUN).sweep(delete=False)

    assert result.deleted == []
    assert result.planned == [
        OUR_MAPPING,
        OUR_FUNCTION,
        OUR_QUEUE,
        OUR_TABLE,
        OUR_BUCKET,
        OUR_LOGS,
        f"arn:aws:iam::{ACCOUNT}:role/s3p-ci-abc123-ingest",
    ]
    left = dict(result.left)
    assert left[OTHER_RUNS_BUCKET] == f"not tagged s3pipe:run={RUN}"
    assert left[UNTAGGED_QUEUE] == f"not tagged s3pipe:run={RUN}"
    assert "delete it by hand" in left[OUR_ALARM]
    stubs.verify()


def test_yes_deletes_only_what_carries_this_runs_tag_in_dependency_order() -> None:
    stubs = Stubs()
    expect_listing(stubs, LISTED)
    lambda_ = stubs.stub("lambda")
    lambda_.add_response("delete_event_source_mapping", {}, {"UUID": "11111111-2222-3333-4444-555555555555"})
    lambda_.add_response("delete_function", {}, {"FunctionName": "s3p-ci-abc123-ingest"})
    url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/s3p-ci-abc123-queue"
    sqs = stubs.stub("sqs")
    sqs.add_response(
        "get_queue_url", {"QueueUrl": url}, {"QueueName": "s3p-ci-abc123-queue", "QueueOwnerAWSAccountId": ACCOUNT}
    )
    sqs.add_response("delete_queue", {}, {"QueueUrl": url})
    stubs.stub("dynamodb").add_response("delete_table", {}, {"TableName": "s3p-ci-abc123-server-logs"})
    s3 = stubs.stub("s3")
    bucket = "s3p-ci-abc123-raw-logs"
    s3.add_response(
        "list_object_versions",
        {
            "Versions": [{"Key": "a.json", "VersionId": "v1"}, {"Key": "a.json", "VersionId": "v2"}],
            "DeleteMarkers": [{"Key": "b.json", "VersionId": "m1"}],
            "IsTruncated": False,
        },
        {"Bucket": bucket},
    )
    s3.add_response(
        "delete_objects",
        {},
        {
            "Bucket": bucket,
            "Delete": {
                "Objects": [
                    {"Key": "a.json", "VersionId": "v1"},
                    {"Key": "a.json", "VersionId": "v2"},
                    {"Key": "b.json", "VersionId": "m1"},
                ],
                "Quiet": True,
            },
        },
    )
    s3.add_response("delete_bucket", {}, {"Bucket": bucket})
    stubs.stub("logs").add_response("delete_log_group", {}, {"logGroupName": "/aws/lambda/s3p-ci-abc123-ingest"})
    iam = stubs.stub("iam")
    role_name = "s3p-ci-abc123-ingest"
    iam.add_response(
        "list_attached_role_policies",
        {"AttachedPolicies": [{"PolicyName": "p", "PolicyArn": "arn:aws:iam::aws:policy/p"}]},
        {"RoleName": role_name},
    )
    iam.add_response("detach_role_policy", {}, {"RoleName": role_name, "PolicyArn": "arn:aws:iam::aws:policy/p"})
    iam.add_response("list_role_policies", {"PolicyNames": ["inline"]}, {"RoleName": role_name})
    iam.add_response("delete_role_policy", {}, {"RoleName": role_name, "PolicyName": "inline"})
    iam.add_response("list_instance_profiles_for_role", {"InstanceProfiles": []}, {"RoleName": role_name})
    iam.add_response("delete_role", {}, {"RoleName": role_name})

    result = Sweeper(stubs, RUN).sweep(delete=True)

    assert result.failed == []
    assert result.deleted[:2] == [OUR_MAPPING, OUR_FUNCTION]  # what uses a resource goes first
    assert result.deleted[-1] == f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
    assert OTHER_RUNS_BUCKET not in result.deleted
    assert UNTAGGED_QUEUE not in result.deleted
    stubs.verify()  # every expected delete happened, and the Stubber refused any other call


def test_a_failed_delete_is_reported_and_the_others_go_on() -> None:
    stubs = Stubs()
    expect_listing(stubs, [(OUR_TABLE, RUN), (OUR_LOGS, RUN)])
    stubs.stub("dynamodb").add_client_error(
        "delete_table", service_error_code="ValidationException", service_message="deletion protection is enabled"
    )
    stubs.stub("logs").add_response("delete_log_group", {}, {"logGroupName": "/aws/lambda/s3p-ci-abc123-ingest"})
    iam = stubs.stub("iam")
    iam.add_response("list_attached_role_policies", {"AttachedPolicies": []}, {"RoleName": ANY})
    iam.add_response("list_role_policies", {"PolicyNames": []}, {"RoleName": ANY})
    iam.add_response("list_instance_profiles_for_role", {"InstanceProfiles": []}, {"RoleName": ANY})
    iam.add_response("delete_role", {}, {"RoleName": "s3p-ci-abc123-ingest"})

    result = Sweeper(stubs, RUN).sweep(delete=True)

    assert [arn for arn, _why in result.failed] == [OUR_TABLE]
    assert "deletion protection is enabled" in result.failed[0][1]
    assert OUR_LOGS in result.deleted
    stubs.verify()


@pytest.mark.parametrize(
    ("arn", "kind", "name"),
    [
        (OUR_QUEUE, "sqs:queue", "s3p-ci-abc123-queue"),
        (OUR_FUNCTION, "lambda:function", "s3p-ci-abc123-ingest"),
        (OUR_MAPPING, "lambda:event-source-mapping", "11111111-2222-3333-4444-555555555555"),
        (OUR_BUCKET, "s3:bucket", "s3p-ci-abc123-raw-logs"),
        (OUR_TABLE, "dynamodb:table", "s3p-ci-abc123-server-logs"),
        (OUR_LOGS + ":*", "logs:log-group", "/aws/lambda/s3p-ci-abc123-ingest"),
        (f"arn:aws:iam::{ACCOUNT}:role/service/s3p-x", "iam:role", "s3p-x"),
        (f"arn:aws:sns:{REGION}:{ACCOUNT}:topic-a", "sns:topic", "topic-a"),
    ],
)
def test_arns_are_read_into_kind_and_name(arn: str, kind: str, name: str) -> None:
    parsed = Arn.parse(arn)
    assert (parsed.kind, parsed.name) == (kind, name)


# ---------------------------------------------------------------------------- the command


class SweepSession(boto3.Session):
    def __init__(self, stubs: Stubs, account: str = ACCOUNT) -> None:
        super().__init__(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x", region_name=REGION)
        self.stubs = stubs
        stubs.stub("sts").add_response(
            "get_caller_identity", {"UserId": "u", "Account": account, "Arn": f"arn:aws:iam::{account}:user/ci"}
        )

    def client(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self.stubs(args[0] if args else kwargs["service_name"])


def sweep_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["aws", "sweep", *argv])


def test_the_command_is_a_dry_run_without_yes(capsys: pytest.CaptureFixture[str]) -> None:
    stubs = Stubs()
    expect_listing(stubs, [(OUR_QUEUE, RUN)])

    code = cmd_sweep(sweep_args("--run", RUN), lambda _region: SweepSession(stubs))

    out = capsys.readouterr().out
    assert code == 0
    assert f"sweep run {RUN} in account {ACCOUNT}, {REGION}: dry run (nothing is deleted; --yes deletes)" in out
    assert f"would delete: {OUR_QUEUE}" in out
    assert "rerun with --yes" in out
    stubs.verify()


def test_the_command_refuses_another_account() -> None:
    stubs = Stubs()
    with pytest.raises(HarnessError, match="credentials for another account"):
        cmd_sweep(
            sweep_args("--run", RUN, "--account-id", "210987654321", "--yes"), lambda _region: SweepSession(stubs)
        )
    stubs.verify()  # nothing listed, nothing deleted


def test_the_command_refuses_what_is_not_a_run_id() -> None:
    with pytest.raises(HarnessError, match="Not a run id"):
        cmd_sweep(sweep_args("--run", "*"), lambda _region: pytest.fail("no AWS call for a bad run id"))
