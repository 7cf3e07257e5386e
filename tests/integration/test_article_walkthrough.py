"""The seed article's verification steps as written, with its own ``aws configure`` values.

The article configures ``aws configure --profile localstack`` with ``DUMMY``/``DUMMY`` and region
ap-northeast-1, then checks the pipeline with ``aws --profile localstack --endpoint-url=http://localhost:4566``:
``s3 ls``, ``s3api put-object``/``list-objects-v2``, ``dynamodb scan``, ``logs tail`` and
``sqs receive-message``. Here the same calls are made through boto3 with that profile, written to a
config and credentials file exactly as ``aws configure`` writes them, against the session's stack;
then again with a random key nobody configured. The function's own role stays enforced: its
execution-role credentials, used from outside, are refused a call outside the role's policy.
"""

from __future__ import annotations

import io
import json
import secrets
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.exceptions
import pytest

from s3pipe.backends.base import Capability
from s3pipe.pipeline import eventually
from s3pipe.stack import Stack

pytestmark = pytest.mark.requires(Capability.ANY_CALLER_CREDENTIALS)

ARTICLE_ITEM = {"PK": {"S": "USER#12345"}, "SK": {"S": "LOG#2025-10-20T10:30:00Z"}}


def localhost(url: str) -> str:
    """``url`` with its host spelled ``localhost``, as the article writes ``--endpoint-url``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"localhost:{parts.port}"))


def configured_profile(home: Path, region: str, key: str, secret: str) -> boto3.Session:
    """What ``aws configure --profile localstack`` leaves behind, and a session that reads only that."""
    (home / "config").write_text(f"[profile localstack]\nregion = {region}\noutput = json\n")
    (home / "credentials").write_text(f"[localstack]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
    session = boto3.Session(profile_name="localstack")  # reads the files named by the environment below
    assert session.get_credentials().access_key == key
    return session


@pytest.fixture
def article_profile(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3pipe_stack: Stack
) -> boto3.Session:
    key, secret = request.param
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    return configured_profile(tmp_path, s3pipe_stack.endpoint.region, key, secret)


@pytest.mark.parametrize(
    "article_profile",
    [("DUMMY", "DUMMY"), (secrets.token_hex(10), secrets.token_urlsafe(30))],
    ids=["article-DUMMY", "random-key"],
    indirect=True,
)
def test_the_articles_checks_work_with_any_credentials(
    article_profile: boto3.Session, s3pipe_stack: Stack, key_prefix: str, samples: Path
) -> None:
    assert s3pipe_stack.endpoint.url is not None
    endpoint = localhost(s3pipe_stack.endpoint.url)
    outputs = s3pipe_stack.outputs

    def client(service: str) -> Any:
        return article_profile.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]

    s3, dynamodb, logs, sqs = client("s3"), client("dynamodb"), client("logs"), client("sqs")

    # aws s3 ls
    assert outputs.bucket_name in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
    # aws s3api put-object --bucket ... --key server-log.json --body ./log/server-log.json
    key = f"{key_prefix}server-log.json"
    assert s3.put_object(Bucket=outputs.bucket_name, Key=key, Body=(samples / "server-log.json").read_bytes())["ETag"]
    # aws s3api list-objects-v2 --bucket ... --query "Contents[0].{Key: Key}"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=outputs.bucket_name, Prefix=key_prefix)["Contents"]] == [key]

    # aws logs tail /aws/lambda/<function>: the function's log events name this object once it is stored
    since = int(time.time() * 1000) - 5_000

    def logged() -> list[str]:
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=outputs.log_group_name, startTime=since)
        naming = [event["message"] for page in pages for event in page["events"] if key in event["message"]]
        stored = [message for message in naming if "object_stored" in message]
        assert stored, f"no object_stored log event for {key} yet (events naming it: {naming[-3:]})"
        return stored

    eventually(logged, timeout=60, what=f"the function's log events for {key}, read with the profile's key")

    # aws dynamodb scan --table-name ...: the article's item, exactly as printed there
    def scanned() -> dict[str, Any]:
        items = dynamodb.scan(
            TableName=outputs.table_name,
            FilterExpression="PK = :pk AND SK = :sk",
            ExpressionAttributeValues={":pk": ARTICLE_ITEM["PK"], ":sk": ARTICLE_ITEM["SK"]},
        )["Items"]
        assert items, "the article's item is not in the table"
        return dict(items[0])

    item = eventually(scanned, timeout=10, what="the article's item in a scan with the profile's key")
    assert item["action"] == {"S": "login"}
    assert item["ipAddress"] == {"S": "192.168.1.100"}

    # aws sqs receive-message --queue-url http://localhost:4566/000000000000/<dlq>: answers (without hiding anything)
    answer = sqs.receive_message(QueueUrl=localhost(outputs.dlq_url), VisibilityTimeout=0, WaitTimeSeconds=0)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


CREDENTIALS_PROBE = """
import os
NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
def handler(event, context):
    return {name: os.environ.get(name, "") for name in NAMES}
"""


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("probe.py", source)
    return buffer.getvalue()


@pytest.mark.requires(Capability.IAM_ENFORCEMENT)
def test_the_function_roles_credentials_stay_enforced_from_outside(s3pipe_stack: Stack) -> None:
    """The execution role's own key is one the emulator issued: it keeps the role's identity, so a call outside
    the role's policy is denied even when it comes from outside, while a granted one on the same key succeeds."""
    assert s3pipe_stack.endpoint.url is not None
    outputs = s3pipe_stack.outputs
    name = f"{outputs.name_prefix}-creds-{secrets.token_hex(2)}"
    s3pipe_stack.lambda_.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=outputs.role_arn,
        Handler="probe.handler",
        Code={"ZipFile": _zip(CREDENTIALS_PROBE)},
        Timeout=10,
    )
    try:
        s3pipe_stack.lambda_.get_waiter("function_active_v2").wait(FunctionName=name)
        answer = s3pipe_stack.lambda_.invoke(FunctionName=name, Payload=b"{}")
        role = json.loads(answer["Payload"].read())
        assert "FunctionError" not in answer, role
        assert role["AWS_ACCESS_KEY_ID"] not in ("", "test"), role  # an execution-role session, not the root
        as_role = boto3.Session(
            aws_access_key_id=role["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=role["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=role["AWS_SESSION_TOKEN"] or None,
            region_name=s3pipe_stack.endpoint.region,
        )
        endpoint = s3pipe_stack.endpoint.url
        with pytest.raises(botocore.exceptions.ClientError) as denied:
            as_role.client("dynamodb", endpoint_url=endpoint).delete_item(
                TableName=outputs.table_name, Key={"PK": {"S": "nothing"}, "SK": {"S": "nothing"}}
            )
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException", denied.value.response
        queue_name = outputs.queue_url.rsplit("/", 1)[-1]
        granted = as_role.client("sqs", endpoint_url=endpoint).get_queue_url(QueueName=queue_name)
        assert granted["QueueUrl"].endswith(f"/{queue_name}")
    finally:
        s3pipe_stack.lambda_.delete_function(FunctionName=name)
