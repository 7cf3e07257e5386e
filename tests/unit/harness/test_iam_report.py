"""The audit report: violations with the missing statement, expected denials, unused grants, files."""

from __future__ import annotations

import json
from pathlib import Path

from iam_calls import (
    BUCKET,
    DLQ,
    LOG_GROUP,
    QUEUE,
    TABLE,
    call,
    handler_calls,
    reference,
)

from s3pipe.iam.audit import write_report
from s3pipe.iam.policy import parse_policy
from s3pipe.iam.report import PLATFORM_NOTE, ExpectedDenial, audit_calls, resource_pattern

# ---------------------------------------------------------------------------------------------- reports


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


def test_with_no_call_observed_no_grant_is_called_unused() -> None:
    """A run whose function made no observed call says so, instead of listing every grant as "never used"."""
    report = audit_calls(reference(), [], stack="pytest", role="p-ingest", unobserved="the function sets its own X")

    assert report.ok
    assert report.unused == []
    text = report.render_text()
    assert "0 call(s) of the function" in text
    assert "permissions never used by the function in this run: NOT OBSERVED" in text
    assert "the function sets its own X" in text
    assert "ReadRawLogObjects: s3:GetObject" not in text
    assert report.to_json()["not_observed"] == "the function sets its own X"


def test_with_calls_observed_unused_grants_are_listed_and_nothing_is_unobserved() -> None:
    report = audit_calls(reference(), handler_calls(), stack="pytest", role="p-ingest", unobserved="never shown")
    assert report.unobserved == ""
    assert "NOT OBSERVED" not in report.render_text()
    assert report.to_json()["not_observed"] is None
