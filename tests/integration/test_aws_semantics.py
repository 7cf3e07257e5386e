"""The AWS semantics the pipeline relies on, held against the backend with a probe function.

The probe is a tiny function deployed next to the stack whose answers are dictated by the
messages it receives; each test gets its own queue and mapping. Where the embedded emulator
differs from AWS, the test is marked ``aws_semantics(...)``: it runs as a strict xfail that
names the difference (README, "Emulator differences"), so nothing is papered over.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import pytest

from s3pipe.backends.base import Capability
from s3pipe.observe import FunctionLogs
from s3pipe.pipeline import poll_until
from s3pipe.stack import Stack

pytestmark = pytest.mark.requires(Capability.LAMBDA_EXECUTION)

VISIBILITY = 2  # seconds: redeliveries are observable quickly

PROBE_SOURCE = """
import json, time

def handler(event, context):
    seen = []
    for record in event.get("Records", []):
        seen.append({
            "id": record["messageId"],
            "receive": int(record["attributes"]["ApproximateReceiveCount"]),
            "first_receive": int(record["attributes"].get("ApproximateFirstReceiveTimestamp", "0")) / 1000,
            "body": json.loads(record["body"]),
        })
    print(json.dumps({"probe": "invocation", "at": time.time(), "messages": seen}))
    if not seen:
        return None
    mode = seen[0]["body"]["mode"]
    first = all(m["receive"] == 1 for m in seen)
    if mode == "raise" and first:
        raise RuntimeError("probe: function error")
    if mode == "report_flagged":
        flagged = [m["id"] for m in seen if m["body"].get("fail") and m["receive"] == 1]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in flagged]}
    if mode == "unknown_id" and first:
        return {"batchItemFailures": [{"itemIdentifier": "no-such-message-id"}]}
    if mode == "empty_id" and first:
        return {"batchItemFailures": [{"itemIdentifier": ""}]}
    if mode == "empty_list":
        return {"batchItemFailures": []}
    if mode == "null_list":
        return {"batchItemFailures": None}
    if mode == "always_fail":
        return {"batchItemFailures": [{"itemIdentifier": m["id"]} for m in seen]}
    return None
"""


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("probe.py", date_time=(1980, 1, 1, 0, 0, 0))
        archive.writestr(info, source)
    return buffer.getvalue()


@dataclass
class Invocation:
    at: float
    messages: list[dict[str, Any]]

    @property
    def ids(self) -> set[str]:
        return {m["id"] for m in self.messages}

    def receive_of(self, message_id: str) -> int:
        return next(m["receive"] for m in self.messages if m["id"] == message_id)


@dataclass
class ProbeRun:
    stack: Stack
    logs: FunctionLogs
    queue_url: str
    dlq_url: str
    message_ids: list[str]
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def invocations(self) -> list[Invocation]:
        self.logs.poll()
        found = []
        for line in self.logs.structured():
            fields = line.fields or {}
            if fields.get("probe") != "invocation":
                continue
            messages = [m for m in fields["messages"] if m["id"] in self.message_ids]
            if messages:
                found.append(Invocation(float(fields["at"]), messages))
        return sorted(found, key=lambda invocation: invocation.at)

    def wait_for(
        self, predicate: Callable[[list[Invocation]], bool], what: str, timeout: float = 30
    ) -> list[Invocation]:
        def check() -> list[Invocation] | None:
            invocations = self.invocations()
            return invocations if predicate(invocations) else None

        return poll_until(check, timeout=timeout, describe=lambda: f"invocations seen: {self.invocations()}", what=what)

    def depth(self, url: str | None = None) -> tuple[int, int]:
        attributes = self.stack.sqs.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def wait_until_drained(self, timeout: float = 30) -> None:
        poll_until(
            lambda: True if self.depth() == (0, 0) else None,
            timeout=timeout,
            describe=lambda: f"queue depth (visible, in flight) = {self.depth()}",
            what="probe queue drained",
        )


class Probe:
    """Deploys the probe function once; ``run`` gives each test its own queue, DLQ and mapping.

    The probe functions run under a role of their own (the stack's role may only read the stack's queue
    and write the stack's log group, which AWS enforces for the mapping's poller and the function's logs):
    its probe queues, its log groups. Everything it creates carries the run's tags (on AWS).
    """

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.name = f"{stack.outputs.name_prefix}-probe-{secrets.token_hex(2)}"
        self.iam = stack.client("iam")
        self.role_arn = self._create_role()
        self.function_arn = self._create_function(self.name, timeout=1)
        self.logs = FunctionLogs(stack.logs, f"/aws/lambda/{self.name}")
        self.runs: list[ProbeRun] = []

    def _create_role(self) -> str:
        partition = self.stack.outputs.role_arn.split(":")[1]
        trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        logs = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
        poll = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
        policy = [
            {
                "Effect": "Allow",
                "Action": logs,
                "Resource": f"arn:{partition}:logs:*:*:log-group:/aws/lambda/{self.name}*",
            },
            {"Effect": "Allow", "Action": poll, "Resource": f"arn:{partition}:sqs:*:*:{self.name}-*"},
        ]
        tags = [{"Key": key, "Value": value} for key, value in self.stack.resource_tags.items()]
        arn = self.iam.create_role(
            RoleName=f"{self.name}-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
            **({"Tags": tags} if tags else {}),
        )["Role"]["Arn"]
        self.iam.put_role_policy(
            RoleName=f"{self.name}-role",
            PolicyName="probe",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": policy}),
        )
        return str(arn)

    def _create_function(
        self,
        name: str,
        timeout: int,
        source: str = PROBE_SOURCE,
        environment: dict[str, str] | None = None,
        role: str | None = None,
    ) -> str:
        def create() -> str | None:
            try:
                return self.stack.lambda_.create_function(
                    FunctionName=name,
                    Runtime="python3.12",
                    Role=role or self.role_arn,
                    Handler="probe.handler",
                    Code={"ZipFile": _zip(source)},
                    Timeout=timeout,
                    Environment={"Variables": environment or {}},
                    **({"Tags": dict(self.stack.resource_tags)} if self.stack.resource_tags else {}),  # AWS: the run's
                )["FunctionArn"]
            except self.stack.lambda_.exceptions.InvalidParameterValueException as error:
                if "cannot be assumed" in str(error):  # a new role reaches Lambda within seconds (IAM is eventual)
                    return None
                raise

        arn = poll_until(create, timeout=60, describe=lambda: f"role {role or self.role_arn}", what=f"function {name}")
        self.stack.lambda_.get_waiter("function_active_v2").wait(FunctionName=name)
        return arn

    def queue(self, suffix: str, max_receive_count: int) -> tuple[str, str, str]:
        sqs = self.stack.sqs
        tags = {"tags": dict(self.stack.resource_tags)} if self.stack.resource_tags else {}  # the run's, on AWS
        dlq_url = sqs.create_queue(QueueName=f"{self.name}-{suffix}-dlq", **tags)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
        url = sqs.create_queue(
            QueueName=f"{self.name}-{suffix}",
            Attributes={"VisibilityTimeout": str(VISIBILITY), "RedrivePolicy": redrive},
            **tags,
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn, dlq_url

    def run(self, bodies: list[dict[str, Any]], max_receive_count: int = 5) -> ProbeRun:
        """Send ``bodies`` while the mapping is disabled, then enable it: they arrive as one batch."""
        suffix = secrets.token_hex(3)
        url, arn, dlq_url = self.queue(suffix, max_receive_count)
        mapping = self.stack.lambda_.create_event_source_mapping(
            EventSourceArn=arn,
            FunctionName=self.function_arn,
            BatchSize=10,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            Enabled=False,
        )["UUID"]
        ids = [self.stack.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))["MessageId"] for body in bodies]
        run = ProbeRun(self.stack, self.logs, url, dlq_url, ids)
        poll_until(
            lambda: True if run.depth()[0] >= len(ids) else None,
            timeout=10,
            describe=lambda: f"depth {run.depth()}",
            what="messages queued",
        )
        self.stack.lambda_.update_event_source_mapping(UUID=mapping, Enabled=True)
        run.cleanup += [
            lambda: self.stack.lambda_.delete_event_source_mapping(UUID=mapping),
            lambda: self.stack.sqs.delete_queue(QueueUrl=url),
            lambda: self.stack.sqs.delete_queue(QueueUrl=dlq_url),
        ]
        self.runs.append(run)
        return run

    def close(self) -> None:
        for run in self.runs:
            for step in run.cleanup:
                step()
        self.stack.lambda_.delete_function(FunctionName=self.name)
        with contextlib.suppress(self.stack.logs.exceptions.ResourceNotFoundException):
            self.stack.logs.delete_log_group(logGroupName=f"/aws/lambda/{self.name}")
        self.iam.delete_role_policy(RoleName=f"{self.name}-role", PolicyName="probe")
        self.iam.delete_role(RoleName=f"{self.name}-role")


@pytest.fixture(scope="module")
def probe(s3pipe_stack: Stack) -> Iterator[Probe]:
    instance = Probe(s3pipe_stack)
    yield instance
    instance.close()


def test_function_error_returns_the_whole_batch_after_the_visibility_timeout(probe: Probe) -> None:
    run = probe.run([{"mode": "raise", "n": i} for i in range(3)])

    invocations = run.wait_for(
        lambda seen: any(
            inv.ids == set(run.message_ids) and min(m["receive"] for m in inv.messages) == 2 for inv in seen
        ),
        "all three messages redelivered together",
    )

    first, second = invocations[0], next(inv for inv in invocations if inv.receive_of(run.message_ids[0]) == 2)
    assert first.ids == set(run.message_ids)
    assert second.at > first.at
    # the visibility timeout runs from the receive, which precedes the invocation's start (by a cold worker's start-up
    # under load): measured from the first receive SQS reports, not from when the first invocation began
    received = max(m["first_receive"] for m in first.messages)
    assert second.at - received >= VISIBILITY * 0.9, "redelivered before the visibility timeout expired"
    run.wait_until_drained()


def test_only_the_listed_messages_return(probe: Probe) -> None:
    run = probe.run([{"mode": "report_flagged", "fail": i == 1} for i in range(3)])
    flagged = run.message_ids[1]

    run.wait_for(lambda seen: any(inv.ids == {flagged} for inv in seen), "the flagged message redelivered alone")
    run.wait_until_drained()

    invocations = run.invocations()
    assert invocations[0].ids == set(run.message_ids)
    assert [inv.ids for inv in invocations[1:]] == [{flagged}]
    assert invocations[1].receive_of(flagged) == 2


@pytest.mark.parametrize(
    "mode",
    [
        "empty_list",
        pytest.param("null_list", marks=pytest.mark.aws_semantics(Capability.NULL_FAILURE_LIST_IS_SUCCESS)),
        "no_response",
    ],
)
def test_an_empty_or_null_failure_list_is_full_success(probe: Probe, mode: str) -> None:
    run = probe.run([{"mode": mode, "n": i} for i in range(3)])

    run.wait_for(lambda seen: len(seen) >= 1, "the first invocation")
    run.wait_until_drained()

    assert [inv.ids for inv in run.invocations()] == [set(run.message_ids)]


@pytest.mark.aws_semantics(Capability.STRICT_BATCH_ITEM_IDENTIFIERS)
@pytest.mark.parametrize("mode", ["unknown_id", "empty_id"])
def test_an_unknown_or_empty_item_identifier_fails_the_whole_batch(probe: Probe, mode: str) -> None:
    run = probe.run([{"mode": mode, "n": i} for i in range(3)])

    run.wait_for(lambda seen: len(seen) >= 1, "the first invocation")
    invocations = run.wait_for(
        lambda seen: any(inv.ids == set(run.message_ids) and inv.receive_of(run.message_ids[0]) == 2 for inv in seen),
        "the whole batch redelivered",
        timeout=VISIBILITY * 4,
    )
    assert invocations[0].ids == set(run.message_ids)


def test_a_message_moves_to_the_dlq_after_max_receive_count(probe: Probe) -> None:
    run = probe.run([{"mode": "always_fail"}], max_receive_count=2)
    (message_id,) = run.message_ids

    def dlq_message() -> dict[str, Any] | None:
        messages = probe.stack.sqs.receive_message(QueueUrl=run.dlq_url, AttributeNames=["All"], WaitTimeSeconds=0).get(
            "Messages", []
        )
        return dict(messages[0]) if messages else None

    moved = poll_until(
        dlq_message, timeout=30, describe=lambda: f"invocations: {run.invocations()}", what="DLQ message"
    )

    assert moved["MessageId"] == message_id
    receives = sorted(inv.receive_of(message_id) for inv in run.invocations())
    assert receives == [1, 2], f"the function must see exactly maxReceiveCount=2 receives, saw {receives}"


@pytest.mark.aws_semantics(Capability.MAPPING_TIMEOUT_VALIDATION)
def test_a_mapping_is_refused_when_the_function_timeout_exceeds_the_visibility_timeout(probe: Probe) -> None:
    slow_name = f"{probe.name}-slow"
    slow_arn = probe._create_function(slow_name, timeout=VISIBILITY + 3)
    url, arn, dlq_url = probe.queue(secrets.token_hex(3), 5)
    created: list[str] = []
    try:
        with pytest.raises(probe.stack.lambda_.exceptions.InvalidParameterValueException):
            created.append(
                probe.stack.lambda_.create_event_source_mapping(EventSourceArn=arn, FunctionName=slow_arn)["UUID"]
            )
    finally:
        for uuid in created:
            probe.stack.lambda_.delete_event_source_mapping(UUID=uuid)
        probe.stack.lambda_.delete_function(FunctionName=slow_name)
        probe.stack.sqs.delete_queue(QueueUrl=url)
        probe.stack.sqs.delete_queue(QueueUrl=dlq_url)


@pytest.mark.aws_semantics(Capability.S3_EVENT_KEY_PLUS_ENCODING)
def test_s3_keys_arrive_url_encoded_with_plus_for_space(probe: Probe) -> None:
    stack = probe.stack
    bucket = f"{probe.name}-keys"
    stack.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": stack.endpoint.region})
    url = stack.sqs.create_queue(QueueName=f"{probe.name}-keys")["QueueUrl"]
    arn = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # as on AWS (and MiniStack enforcing IAM), S3 validates the destination: the queue must let the bucket send
    allow_bucket = {
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [allow_bucket]})
    stack.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    stack.s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    key = "dir with space/a+b%c=d ログ.json"
    try:
        stack.s3.put_object(Bucket=bucket, Key=key, Body=b"{}")

        def object_created_key() -> str | None:
            for message in stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                for record in json.loads(message["Body"]).get("Records", []):
                    return str(record["s3"]["object"]["key"])
            return None

        raw_key = poll_until(object_created_key, timeout=10, describe=lambda: "no notification", what="S3 event")
        assert raw_key == quote_plus(key, safe="/")
    finally:
        stack.s3.delete_object(Bucket=bucket, Key=key)
        stack.s3.delete_bucket(Bucket=bucket)
        stack.sqs.delete_queue(QueueUrl=url)


IAM_PROBE_SOURCE = """
import os
import boto3
from botocore.exceptions import ClientError

def outcome(call):
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"]
    return "ok"

def handler(event, context):
    dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    key = {"PK": {"S": "SRC#iam-probe"}, "SK": {"S": "REC#0"}}
    return {
        "outside": outcome(lambda: dynamodb.delete_item(TableName=event["table"], Key=key)),
        "inside": outcome(lambda: sqs.get_queue_url(QueueName=event["queue"])),
    }
"""


@pytest.mark.aws_semantics(Capability.IAM_ENFORCEMENT)
@pytest.mark.iam_expected_denial(
    "dynamodb:DeleteItem", "arn:aws:dynamodb:*:*:table/*", reason="test_aws_semantics proves the role is enforced"
)
def test_a_call_outside_the_function_role_is_denied(probe: Probe) -> None:
    """The function's own credentials are its execution role's: DeleteItem (not granted) is refused, while
    GetQueueUrl (granted) on the same run succeeds, so the refusal is the policy's, not broken credentials."""
    stack, outputs = probe.stack, probe.stack.outputs
    name = f"{probe.name}-iam"
    through_gateway = {"AWS_ENDPOINT_URL": stack.gateway_url} if stack.gateway_url else {}
    probe._create_function(
        name, timeout=10, source=IAM_PROBE_SOURCE, environment=through_gateway, role=outputs.role_arn
    )
    try:
        event = {"table": outputs.table_name, "queue": outputs.queue_url.rsplit("/", 1)[-1]}
        answer = stack.lambda_.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        result = json.loads(answer["Payload"].read())
        assert "FunctionError" not in answer, result
        assert result == {"outside": "AccessDeniedException", "inside": "ok"}
    finally:
        stack.lambda_.delete_function(FunctionName=name)
