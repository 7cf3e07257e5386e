"""Policies as deployed: every document form IAM returns, inline and attached policies of a role."""

from __future__ import annotations

import json
import urllib.parse

import boto3
from botocore.stub import Stubber
from iam_calls import (
    REFERENCE_POLICY,
)

from s3pipe.iam.policy import load_role_policies, parse_policy

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
