"""IAM's evaluation as the audit does it: wildcards, Deny over Allow, NotAction/NotResource, conditions."""

from __future__ import annotations

from typing import Any

import pytest
from iam_calls import (
    ACCOUNT,
    BUCKET,
    DLQ,
    LOG_GROUP,
    QUEUE,
    REFERENCE_POLICY,
    REGION,
    TABLE,
    call,
    statements,
)

from s3pipe.iam.evaluate import action_matches, evaluate, evaluate_condition, resource_matches
from s3pipe.iam.policy import parse_policy
from s3pipe.iam.report import audit_calls

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
