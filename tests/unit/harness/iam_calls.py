"""Shared material of the IAM tests: the reference policy and journalled calls of the handler."""

from __future__ import annotations

from typing import Any

from s3pipe.gateway.classify import Classified, RequiredPermission
from s3pipe.gateway.journal import GatewayCall, journal_entry
from s3pipe.iam.policy import Statement, parse_policy

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
