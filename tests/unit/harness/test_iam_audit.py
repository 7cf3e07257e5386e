"""The IAM least-privilege audit: policy evaluation as IAM does it, reports, and the session glue."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from s3pipe.config import HarnessConfig
from s3pipe.gateway.classify import Classified, RequiredPermission
from s3pipe.gateway.journal import GatewayCall, journal_entry
from s3pipe.iam.audit import AuditResult, audit_session, failed, summary_lines, write_report
from s3pipe.iam.evaluate import action_matches, evaluate, evaluate_condition, resource_matches
from s3pipe.iam.policy import Statement, load_role_policies, parse_policy
from s3pipe.iam.report import PLATFORM_NOTE, ExpectedDenial, audit_calls, resource_pattern

REGION = "ap-northeast-1"
ACCOUNT = "000000000000"
BUCKET = "arn:aws:s3:::p-raw-logs"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:p-queue"
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:p-dlq"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/p-server-logs"
LOG_GROUP = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/p-ingest"

#: The function role's policy as infra/iam.tf renders it (tracing and KMS off).
REFERENCE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "WriteOwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:PutLogEvents", "logs:CreateLogStream"],
            "Resource": f"{LOG_GROUP}:*",
        },
        {
            "Sid": "ReadRawLogObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObjectVersion", "s3:GetObject"],
            "Resource": f"{BUCKET}/*",
        },
        {"Sid": "ListRawLogBucket", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET},
        {
            "Sid": "ConsumeMainQueue",
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:GetQueueAttributes", "sqs:DeleteMessage"],
            "Resource": QUEUE,
        },
        {
            "Sid": "ContinueLargeObjects",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
            "Resource": QUEUE,
        },
        {"Sid": "SendPermanentFailuresToDlq", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": DLQ},
        {
            "Sid": "WriteServerLogsTable",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:BatchWriteItem"],
            "Resource": TABLE,
        },
    ],
}


def statements(*raw: dict[str, Any]) -> list[Statement]:
    return list(parse_policy({"Statement": list(raw)}, "test").statements)


def call(action: str, resource: str, *, operation: str = "", fault: str | None = None, **context: str) -> GatewayCall:
    service = action.split(":", maxsplit=1)[0]
    classified = Classified(
        service,
        operation or action.split(":")[1],
        "json",
        REGION,
        ACCOUNT,
        (RequiredPermission(action, resource),),
        context,
    )
    entry = journal_entry(classified, "POST", "/")
    return GatewayCall.from_json({"seq": 0, **entry, "status": 200, "fault": fault})


# ---------------------------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("s3:GetObject", "s3:GetObject", True),
        ("s3:getobject", "s3:GetObject", True),  # action names are case-insensitive
        ("S3:GETOBJECT", "s3:GetObject", True),
        ("s3:GetObject", "s3:GetObjectVersion", False),
        ("s3:Get*", "s3:GetObjectVersion", True),
        ("s3:*", "s3:PutObject", True),
        ("*", "dynamodb:DeleteItem", True),
        ("sqs:?eceiveMessage", "sqs:ReceiveMessage", True),
        ("sqs:?eceiveMessage", "sqs:eceiveMessage", False),
        ("dynamodb:Put*", "dynamodb:BatchWriteItem", False),
    ],
)
def test_action_matching(pattern: str, action: str, matches: bool) -> None:
    assert action_matches(pattern, action) is matches


@pytest.mark.parametrize(
    ("pattern", "arn", "matches"),
    [
        ("*", "arn:aws:s3:::anything/at/all", True),
        (f"{BUCKET}/*", f"{BUCKET}/t/deep/key.json", True),
        (f"{BUCKET}/*", BUCKET, False),  # the bucket is not one of its objects
        (f"{BUCKET}/*", "arn:aws:s3:::p-raw-logs-other/k", False),
        (f"{BUCKET}/T/*", f"{BUCKET}/t/k", False),  # ARNs are case-sensitive
        (f"arn:aws:sqs:*:{ACCOUNT}:p-queue", QUEUE, True),
        (f"arn:aws:sqs:ap-*:{ACCOUNT}:p-queue", QUEUE, True),
        ("arn:aws:sqs:*:p-queue", QUEUE, False),  # a wildcard does not reach across ARN segments
        (f"arn:aws:sqs:{REGION}:{ACCOUNT}:p-?ueue", QUEUE, True),
        (f"{LOG_GROUP}:*", f"{LOG_GROUP}:log-stream:2024/01/01/[$LATEST]abc", True),
        (f"{BUCKET}/${{*}}", f"{BUCKET}/*", True),  # ${*} is a literal asterisk
        (f"{BUCKET}/${{*}}", f"{BUCKET}/x", False),
    ],
)
def test_resource_matching(pattern: str, arn: str, matches: bool) -> None:
    assert resource_matches(pattern, arn) is matches


def test_a_policy_variable_cannot_be_matched_here() -> None:
    assert resource_matches(f"{BUCKET}/${{aws:username}}/*", f"{BUCKET}/alice/k") is None


# ---------------------------------------------------------------------------------------------- decisions


def test_allowed_by_the_statement_that_names_it() -> None:
    decision = evaluate(list(parse_policy(REFERENCE_POLICY, "p").statements), "sqs:SendMessage", DLQ)
    assert (decision.outcome, decision.statements) == ("allowed", ("SendPermanentFailuresToDlq",))


def test_nothing_allows_it_is_an_implicit_deny() -> None:
    decision = evaluate(list(parse_policy(REFERENCE_POLICY, "p").statements), "dynamodb:DeleteItem", TABLE)
    assert (decision.outcome, decision.statements) == ("implicit_deny", ())


def test_an_explicit_deny_wins_over_any_allow() -> None:
    policy = statements(
        {"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:GetObject*", "Resource": f"{BUCKET}/secret/*"},
    )
    assert evaluate(policy, "s3:GetObject", f"{BUCKET}/secret/a").outcome == "explicit_deny"
    assert evaluate(policy, "s3:GetObject", f"{BUCKET}/secret/a").statements == ("NoSecrets",)
    assert evaluate(policy, "s3:GetObject", f"{BUCKET}/public/a").outcome == "allowed"


def test_not_action_allows_everything_but_what_it_names() -> None:
    policy = statements({"Sid": "AllButIam", "Effect": "Allow", "NotAction": ["iam:*", "sts:*"], "Resource": "*"})
    assert evaluate(policy, "dynamodb:DeleteItem", TABLE).outcome == "allowed"
    assert evaluate(policy, "iam:CreateUser", "*").outcome == "implicit_deny"


def test_not_resource_allows_everywhere_but_where_it_names() -> None:
    policy = statements({"Sid": "NotTheDlq", "Effect": "Allow", "Action": "sqs:SendMessage", "NotResource": DLQ})
    assert evaluate(policy, "sqs:SendMessage", QUEUE).outcome == "allowed"
    assert evaluate(policy, "sqs:SendMessage", DLQ).outcome == "implicit_deny"


def test_a_get_object_with_a_version_id_needs_get_object_version() -> None:
    policy = statements(
        {"Sid": "ReadOnlyLatest", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"}
    )
    versioned = call("s3:GetObjectVersion", f"{BUCKET}/k.json", operation="GetObject", **{"s3:VersionId": "v1"})

    report = audit_calls([parse_policy({"Statement": [s.to_json() for s in policy]}, "p")], [versioned])

    (violation,) = report.violations
    assert violation.operations == ("GetObject",)
    assert dict(violation.suggestion) == {
        "Sid": "AllowS3GetObjectVersion",
        "Effect": "Allow",
        "Action": "s3:GetObjectVersion",
        "Resource": f"{BUCKET}/*",
    }


def test_conditions_are_evaluated_from_what_the_call_carries() -> None:
    policy = statements(
        {
            "Sid": "OnlyHere",
            "Effect": "Allow",
            "Action": "dynamodb:PutItem",
            "Resource": TABLE,
            "Condition": {"StringEquals": {"aws:RequestedRegion": REGION}},
        }
    )
    assert evaluate(policy, "dynamodb:PutItem", TABLE, {"aws:RequestedRegion": REGION}).outcome == "allowed"
    assert evaluate(policy, "dynamodb:PutItem", TABLE, {"aws:RequestedRegion": "us-east-1"}).outcome == "implicit_deny"


def test_conditions_on_keys_the_call_does_not_carry_are_not_guessed() -> None:
    policy = statements(
        {
            "Sid": "OnlyFromVpc",
            "Effect": "Allow",
            "Action": "dynamodb:PutItem",
            "Resource": TABLE,
            "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}},
        }
    )
    decision = evaluate(policy, "dynamodb:PutItem", TABLE, {"aws:RequestedRegion": REGION})
    assert (decision.outcome, decision.statements) == ("not_evaluated", ("OnlyFromVpc",))
    assert decision.unevaluated == ("StringEquals aws:SourceVpce",)
    report = audit_calls(
        [parse_policy({"Statement": [s.to_json() for s in policy]}, "p")], [call("dynamodb:PutItem", TABLE)]
    )
    assert report.ok  # not a violation, but reported
    assert [kind.outcome for kind in report.not_evaluated] == ["not_evaluated"]
    assert "not evaluated (StringEquals aws:SourceVpce)" in report.render_text()


def test_a_deny_whose_condition_cannot_be_evaluated_makes_the_allow_uncertain() -> None:
    policy = statements(
        {"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {
            "Sid": "DenyOutsideOrg",
            "Effect": "Deny",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:ResourceOrgID": "o-123"}},
        },
    )
    decision = evaluate(policy, "s3:GetObject", f"{BUCKET}/k")
    assert decision.outcome == "not_evaluated"
    assert set(decision.statements) == {"All", "DenyOutsideOrg"}


@pytest.mark.parametrize(
    ("conditions", "context", "result"),
    [
        ({"StringLike": {"s3:prefix": ["t/*"]}}, {"s3:prefix": "t/x"}, True),
        ({"StringLike": {"s3:prefix": ["t/*"]}}, {"s3:prefix": "u/x"}, False),
        ({"StringNotEquals": {"aws:RequestedRegion": ["us-east-1"]}}, {"aws:RequestedRegion": REGION}, True),
        (
            {"StringEqualsIgnoreCase": {"aws:RequestedRegion": ["AP-NORTHEAST-1"]}},
            {"aws:RequestedRegion": REGION},
            True,
        ),
        ({"Null": {"s3:VersionId": ["false"]}}, {"s3:VersionId": "v"}, True),
        ({"NumericLessThan": {"s3:max-keys": ["10"]}}, {"s3:max-keys": "5"}, None),  # operator not evaluated here
    ],
)
def test_condition_operators(conditions: dict[str, Any], context: dict[str, str], result: bool | None) -> None:
    assert evaluate_condition(conditions, context)[0] is result


# ---------------------------------------------------------------------------------------------- policies


def test_policy_documents_in_every_form_iam_returns() -> None:
    as_json = json.dumps(REFERENCE_POLICY)
    for document in (REFERENCE_POLICY, as_json, urllib.parse.quote(as_json)):
        policy = parse_policy(document, "inline-policy")
        assert [s.sid for s in policy.statements][:2] == ["WriteOwnLogGroup", "ReadRawLogObjects"]
    single = parse_policy({"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}, "one")
    assert single.statements[0].actions == ("s3:GetObject",)
    assert single.statements[0].label == "one#0"  # no Sid: named by policy and position


def test_the_roles_inline_and_attached_policies_are_read_through_iam() -> None:
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    managed_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
    managed_document = {"Statement": [{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*"}]}
    with Stubber(iam) as stub:
        stub.add_response("list_role_policies", {"PolicyNames": ["least-privilege"]}, {"RoleName": "r"})
        stub.add_response(
            "get_role_policy",
            {
                "RoleName": "r",
                "PolicyName": "least-privilege",
                "PolicyDocument": urllib.parse.quote(json.dumps(REFERENCE_POLICY)),
            },
            {"RoleName": "r", "PolicyName": "least-privilege"},
        )
        stub.add_response(
            "list_attached_role_policies",
            {"AttachedPolicies": [{"PolicyName": "AWSLambdaSQSQueueExecutionRole", "PolicyArn": managed_arn}]},
            {"RoleName": "r"},
        )
        stub.add_response("get_policy", {"Policy": {"DefaultVersionId": "v3"}}, {"PolicyArn": managed_arn})
        stub.add_response(
            "get_policy_version",
            {"PolicyVersion": {"Document": json.dumps(managed_document), "VersionId": "v3"}},
            {"PolicyArn": managed_arn, "VersionId": "v3"},
        )
        policies = load_role_policies(iam, "r")
    assert [(p.name, p.kind, p.arn) for p in policies] == [
        ("least-privilege", "inline", None),
        ("AWSLambdaSQSQueueExecutionRole", "managed", managed_arn),
    ]
    assert len(policies[0].statements) == 7


# ---------------------------------------------------------------------------------------------- reports


def handler_calls() -> list[GatewayCall]:
    """What the reference handler does in a run with good, bad and large objects."""
    return [
        call("s3:GetObjectVersion", f"{BUCKET}/t/a.jsonl", operation="GetObject"),
        call("s3:GetObjectVersion", f"{BUCKET}/t/b.jsonl", operation="GetObject"),
        call("dynamodb:BatchWriteItem", TABLE, operation="BatchWriteItem"),
        call("dynamodb:BatchWriteItem", TABLE, operation="BatchWriteItem", fault="throttle"),
        call("sqs:SendMessage", DLQ, operation="SendMessage"),
        call("sqs:GetQueueUrl", QUEUE, operation="GetQueueUrl"),
        call("sqs:SendMessage", QUEUE, operation="SendMessage"),
    ]


def reference() -> list[Any]:
    return [parse_policy(REFERENCE_POLICY, "p-ingest-least-privilege")]


def test_the_reference_handlers_calls_are_all_allowed() -> None:
    report = audit_calls(reference(), handler_calls(), stack="pytest", role="p-ingest")

    assert report.ok
    kinds = {(k.action, k.resource): (k.calls, k.statements, k.faulted) for k in report.kinds}
    assert kinds == {
        ("s3:GetObjectVersion", f"{BUCKET}/*"): (2, ("ReadRawLogObjects",), 0),
        ("dynamodb:BatchWriteItem", TABLE): (2, ("WriteServerLogsTable",), 1),
        ("sqs:SendMessage", DLQ): (1, ("SendPermanentFailuresToDlq",), 0),
        ("sqs:GetQueueUrl", QUEUE): (1, ("ContinueLargeObjects",), 0),
        ("sqs:SendMessage", QUEUE): (1, ("ContinueLargeObjects",), 0),
    }
    assert {(p.statement, p.action) for p in report.unused} == {
        ("ReadRawLogObjects", "s3:GetObject"),
        ("WriteServerLogsTable", "dynamodb:PutItem"),
    }
    assert {(p.statement, p.action) for p in report.platform} == {
        ("WriteOwnLogGroup", "logs:PutLogEvents"),
        ("WriteOwnLogGroup", "logs:CreateLogStream"),
        ("ListRawLogBucket", "s3:ListBucket"),
        ("ConsumeMainQueue", "sqs:ReceiveMessage"),
        ("ConsumeMainQueue", "sqs:GetQueueAttributes"),
        ("ConsumeMainQueue", "sqs:DeleteMessage"),
    }


def test_a_call_outside_the_policy_is_a_violation_with_the_missing_statement() -> None:
    calls = [*handler_calls(), call("dynamodb:DeleteItem", TABLE, operation="DeleteItem")]
    calls.append(call("s3:GetObject", "arn:aws:s3:::other-bucket/secret.json", operation="GetObject"))

    report = audit_calls(reference(), calls, stack="pytest", role="p-ingest")

    assert not report.ok
    assert [dict(v.suggestion) for v in report.violations] == [
        {"Sid": "AllowDynamodbDeleteItem", "Effect": "Allow", "Action": "dynamodb:DeleteItem", "Resource": TABLE},
        {
            "Sid": "AllowS3GetObject",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::other-bucket/*",
        },
    ]
    text = report.render_text()
    assert "violations: 2" in text
    assert '"Sid": "AllowDynamodbDeleteItem"' in text
    data = report.to_json()
    assert data["ok"] is False
    assert data["violations"][0]["missing_statement"]["Action"] == "dynamodb:DeleteItem"


def test_a_denial_a_test_expects_is_reported_but_does_not_fail() -> None:
    foreign = call("s3:GetObject", "arn:aws:s3:::s3p-corpus-no-such-bucket-7f3a/t/x.jsonl", operation="GetObject")
    expected = ExpectedDenial(
        "s3:GetObject",
        "arn:aws:s3:::s3p-corpus-no-such-bucket-*/*",
        "the event names a bucket that is not ours",
        "t::c",
    )
    other = call("dynamodb:DeleteItem", TABLE)

    report = audit_calls(reference(), [*handler_calls(), foreign, other], expected=[expected])

    assert [v.action for v in report.violations] == ["dynamodb:DeleteItem"]  # not covered: still a violation
    assert [(v.action, e.test) for v, e in report.expected] == [("s3:GetObject", "t::c")]
    assert "t::c -- the event names a bucket that is not ours" in report.render_text()
    assert report.to_json()["expected_denials"][0]["reason"] == "the event names a bucket that is not ours"
    assert audit_calls(reference(), [*handler_calls(), foreign], expected=[expected]).ok


def test_suggested_sids_never_collide_with_existing_ones() -> None:
    policy = parse_policy(
        {
            "Statement": [
                {"Sid": "AllowDynamodbDeleteItem", "Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"}
            ]
        },
        "p",
    )
    report = audit_calls([policy], [call("dynamodb:DeleteItem", TABLE)])
    (violation,) = report.violations
    assert violation.outcome == "explicit_deny"
    assert violation.denied_by == ("AllowDynamodbDeleteItem",)
    assert violation.suggestion["Sid"] == "AllowDynamodbDeleteItem2"
    assert "denied explicitly by statement AllowDynamodbDeleteItem" in violation.describe()


def test_resource_patterns_group_objects_by_bucket() -> None:
    assert resource_pattern(f"{BUCKET}/a/b.json") == f"{BUCKET}/*"
    assert resource_pattern(f"{LOG_GROUP}:log-stream:s") == f"{LOG_GROUP}:*"
    assert resource_pattern(TABLE) == TABLE


def test_the_report_is_written_as_json_and_text(tmp_path: Path) -> None:
    report = audit_calls(reference(), handler_calls(), stack="pytest-gw0", role="p-ingest")
    json_path, text_path = write_report(report, tmp_path)
    assert json_path == tmp_path / "reports" / "iam-audit-pytest-gw0.json"
    data = json.loads(json_path.read_text())
    assert (data["ok"], data["calls_seen"], data["violations"]) == (True, 7, [])
    assert {u["action"] for u in data["used_by_lambda_service"]} >= {"sqs:ReceiveMessage"}
    assert PLATFORM_NOTE in text_path.read_text()


# ---------------------------------------------------------------------------------------------- session glue


GATEWAY = "http://127.0.0.1:9"


def fake_session(**changes: Any) -> Any:
    values: dict[str, Any] = {"stack": SimpleNamespace(name="pytest", gateway_url=GATEWAY)}
    values.update(changes)
    return SimpleNamespace(**values)


@pytest.mark.parametrize(
    ("config_changes", "session_changes"),
    [
        ({"iam_audit": False}, {}),
        ({}, {"stack": None}),  # a unit-only session never opened a stack
        ({}, {"stack": SimpleNamespace(name="pytest", gateway_url=None)}),  # a backend without a gateway
    ],
)
def test_nothing_to_audit(tmp_path: Path, config_changes: dict[str, Any], session_changes: dict[str, Any]) -> None:
    config = HarnessConfig(root=tmp_path).with_overrides(**config_changes)
    assert audit_session(config, fake_session(**session_changes)) is None


def test_an_audit_that_cannot_run_is_reported_not_raised(tmp_path: Path) -> None:
    config = HarnessConfig(root=tmp_path)
    stack = SimpleNamespace(
        name="pytest", gateway_url=GATEWAY, client=lambda service: None, outputs=SimpleNamespace(role_name="r")
    )
    result = audit_session(config, fake_session(stack=stack))
    assert result is not None
    assert result.ok is False
    assert result.error is not None
    assert "AttributeError" in result.error
    assert failed([result])
    assert summary_lines([result]) == [f"stack 'pytest': the IAM audit could not run: {result.error}"]


def test_summary_of_a_clean_audit() -> None:
    report = audit_calls(reference(), handler_calls(), stack="pytest", role="p-ingest")
    result = AuditResult("pytest", ok=True, text=report.render_text(), paths=("/x.json",))
    lines = summary_lines([result])
    assert lines[0].startswith("IAM least-privilege audit of stack 'pytest', role p-ingest")
    assert lines[-1] == "report: /x.json"
    assert not failed([result])


def test_an_audit_result_crosses_to_the_xdist_controller_unchanged() -> None:
    result = AuditResult("pytest-gw0", ok=False, violations=("dynamodb:DeleteItem ...",), text="t", paths=("/r.json",))
    assert AuditResult.from_json(json.loads(json.dumps(result.to_json()))) == result
