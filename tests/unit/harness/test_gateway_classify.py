"""Request classification: the IAM action(s) and resource ARN(s) of requests built by botocore itself."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore_requests import (
    ACCOUNT,
    QUEUE_ARN,
    QUEUE_URL,
    REGION,
    TABLE_ARN,
    classify,
    permissions,
    prepared,
)

from s3pipe.gateway.classify import (
    classify_request,
    s3_bucket_and_key,
    sqs_queue_arn,
    virtual_host_bucket,
)

# ---------------------------------------------------------------------------------------------- S3


@pytest.mark.parametrize(
    ("operation", "params", "action", "iam"),
    [
        ("get_object", {}, "GetObject", "s3:GetObject"),
        ("get_object", {"VersionId": "3HL4kqtJlcpXroDTDmJ"}, "GetObject", "s3:GetObjectVersion"),
        ("get_object", {"IfMatch": '"9b2cf535f27731c974343645a3985328"'}, "GetObject", "s3:GetObject"),
        ("get_object", {"Range": "bytes=0-99"}, "GetObject", "s3:GetObject"),
        ("head_object", {}, "HeadObject", "s3:GetObject"),
        ("head_object", {"VersionId": "v2"}, "HeadObject", "s3:GetObjectVersion"),
        ("put_object", {"Body": b"data"}, "PutObject", "s3:PutObject"),
        ("delete_object", {}, "DeleteObject", "s3:DeleteObject"),
        ("delete_object", {"VersionId": "v2"}, "DeleteObject", "s3:DeleteObjectVersion"),
        ("get_object_tagging", {}, "GetObjectTagging", "s3:GetObjectTagging"),
        ("get_object_tagging", {"VersionId": "v2"}, "GetObjectTagging", "s3:GetObjectVersionTagging"),
        ("get_object_acl", {}, "GetObjectAcl", "s3:GetObjectAcl"),
    ],
)
def test_s3_object_calls_are_authorised_as_iam_evaluates_them(
    operation: str, params: dict[str, Any], action: str, iam: str
) -> None:
    call = classify("s3", operation, Bucket="raw-logs", Key="t/a.jsonl", **params)
    assert (call.service, call.action, call.protocol) == ("s3", action, "rest-xml")
    assert permissions(call) == [(iam, "arn:aws:s3:::raw-logs/t/a.jsonl")]
    assert (call.region, call.account) == (REGION, ACCOUNT)


def test_a_version_id_is_a_condition_key_of_the_call() -> None:
    call = classify("s3", "get_object", Bucket="raw-logs", Key="k.json", VersionId="v7")
    assert call.context == {"aws:RequestedRegion": REGION, "s3:VersionId": "v7"}


@pytest.mark.parametrize(
    "key", ["plain.jsonl", "dir/sub dir/ü+x=1&y.json", "a//double.log", "%percent%.json", "trailing/"]
)
@pytest.mark.parametrize("style", ["path", "virtual"])
def test_object_arns_carry_the_decoded_key_in_both_addressing_styles(key: str, style: str) -> None:
    endpoint = "http://127.0.0.1:4566" if style == "path" else None  # virtual: real AWS host names
    call = classify(
        "s3", "get_object", endpoint=endpoint, config={"s3": {"addressing_style": style}}, Bucket="b-1", Key=key
    )
    assert call.resources == [f"arn:aws:s3:::b-1/{key}"]


def test_a_loopback_endpoint_gets_path_style_requests_from_botocore_by_default() -> None:
    request = prepared("s3", "get_object", Bucket="raw-logs", Key="k")
    assert urlsplit(request.url).netloc == "127.0.0.1:4566"
    assert urlsplit(request.url).path == "/raw-logs/k"


@pytest.mark.parametrize(
    ("host", "bucket"),
    [
        ("127.0.0.1:4566", None),
        ("localhost:4566", None),
        ("[::1]:4566", None),
        ("my.bucket.s3.ap-northeast-1.amazonaws.com", "my.bucket"),
        ("bucket.s3.amazonaws.com", "bucket"),
        ("bucket.s3-ap-northeast-1.amazonaws.com", "bucket"),
        ("s3.ap-northeast-1.amazonaws.com", None),
        ("bucket.localhost:4566", "bucket"),
        ("bucket.s3.localhost.localstack.cloud:4566", "bucket"),
        ("s3.localhost.localstack.cloud:4566", None),
    ],
)
def test_virtual_host_buckets(host: str, bucket: str | None) -> None:
    assert virtual_host_bucket(host) == bucket


def test_path_style_bucket_and_key() -> None:
    assert s3_bucket_and_key("127.0.0.1:1", "/b/k/x%20y") == ("b", "k/x y")
    assert s3_bucket_and_key("127.0.0.1:1", "/b") == ("b", None)
    assert s3_bucket_and_key("127.0.0.1:1", "/") == (None, None)


@pytest.mark.parametrize(
    ("operation", "params", "action", "iam"),
    [
        ("list_objects_v2", {"Prefix": "t/"}, "ListObjectsV2", "s3:ListBucket"),
        ("list_objects", {}, "ListObjects", "s3:ListBucket"),
        ("head_bucket", {}, "HeadBucket", "s3:ListBucket"),
        ("list_object_versions", {}, "ListObjectVersions", "s3:ListBucketVersions"),
        ("get_bucket_versioning", {}, "GetBucketVersioning", "s3:GetBucketVersioning"),
        ("get_bucket_notification_configuration", {}, "GetBucketNotificationConfiguration", "s3:GetBucketNotification"),
        ("get_bucket_location", {}, "GetBucketLocation", "s3:GetBucketLocation"),
        ("delete_bucket_policy", {}, "DeleteBucketPolicy", "s3:DeleteBucketPolicy"),
    ],
)
def test_s3_bucket_calls(operation: str, params: dict[str, Any], action: str, iam: str) -> None:
    call = classify("s3", operation, Bucket="raw-logs", **params)
    assert (call.action, permissions(call)) == (action, [(iam, "arn:aws:s3:::raw-logs")])


def test_list_objects_records_its_prefix_as_a_condition_key() -> None:
    call = classify("s3", "list_objects_v2", Bucket="raw-logs", Prefix="t/x/")
    assert call.context["s3:prefix"] == "t/x/"


def test_copy_object_needs_put_on_the_target_and_get_on_the_source() -> None:
    call = classify(
        "s3", "copy_object", Bucket="dst", Key="k2", CopySource={"Bucket": "src", "Key": "k1", "VersionId": "v1"}
    )
    assert call.action == "CopyObject"
    assert permissions(call) == [
        ("s3:PutObject", "arn:aws:s3:::dst/k2"),
        ("s3:GetObjectVersion", "arn:aws:s3:::src/k1"),
    ]


def test_delete_objects_names_every_key() -> None:
    objects = [{"Key": "a.json"}, {"Key": "b&c.json", "VersionId": "v9"}]
    call = classify("s3", "delete_objects", Bucket="b", Delete={"Objects": objects})
    assert permissions(call) == [
        ("s3:DeleteObject", "arn:aws:s3:::b/a.json"),
        ("s3:DeleteObjectVersion", "arn:aws:s3:::b/b&c.json"),
    ]


def test_multipart_upload_is_put_object() -> None:
    assert permissions(classify("s3", "create_multipart_upload", Bucket="b", Key="k")) == [
        ("s3:PutObject", "arn:aws:s3:::b/k")
    ]
    call = classify("s3", "upload_part", Bucket="b", Key="k", UploadId="u", PartNumber=1, Body=b"x")
    assert (call.action, call.iam_actions) == ("UploadPart", ["s3:PutObject"])
    call = classify("s3", "abort_multipart_upload", Bucket="b", Key="k", UploadId="u")
    assert (call.action, call.iam_actions) == ("AbortMultipartUpload", ["s3:AbortMultipartUpload"])


def test_list_buckets_has_no_resource() -> None:
    assert permissions(classify("s3", "list_buckets")) == [("s3:ListAllMyBuckets", "*")]


# ---------------------------------------------------------------------------------------------- DynamoDB


def test_batch_write_item_needs_the_action_on_every_table() -> None:
    put = {"PutRequest": {"Item": {"PK": {"S": "a"}, "SK": {"S": "b"}}}}
    call = classify("dynamodb", "batch_write_item", RequestItems={"logs-table": [put], "other-table": [put]})
    assert (call.service, call.action, call.protocol) == ("dynamodb", "BatchWriteItem", "json")
    assert permissions(call) == [
        ("dynamodb:BatchWriteItem", TABLE_ARN),
        ("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/other-table"),
    ]


@pytest.mark.parametrize(
    ("operation", "params", "action"),
    [
        ("put_item", {"Item": {"PK": {"S": "a"}}}, "PutItem"),
        ("delete_item", {"Key": {"PK": {"S": "a"}}}, "DeleteItem"),
        ("get_item", {"Key": {"PK": {"S": "a"}}}, "GetItem"),
        ("describe_table", {}, "DescribeTable"),
    ],
)
def test_dynamodb_item_calls_name_their_table(operation: str, params: dict[str, Any], action: str) -> None:
    call = classify("dynamodb", operation, TableName="logs-table", **params)
    assert permissions(call) == [(f"dynamodb:{action}", TABLE_ARN)]


def test_a_query_on_an_index_needs_the_index_arn() -> None:
    call = classify(
        "dynamodb",
        "query",
        TableName="logs-table",
        IndexName="by-level",
        KeyConditionExpression="lvl = :l",
        ExpressionAttributeValues={":l": {"S": "ERROR"}},
    )
    assert permissions(call) == [("dynamodb:Query", f"{TABLE_ARN}/index/by-level")]


def test_transactions_need_the_permission_of_each_item() -> None:
    items = [
        {"Put": {"TableName": "logs-table", "Item": {"PK": {"S": "a"}}}},
        {"Delete": {"TableName": "other", "Key": {"PK": {"S": "b"}}}},
    ]
    call = classify("dynamodb", "transact_write_items", TransactItems=items)
    assert permissions(call) == [
        ("dynamodb:PutItem", TABLE_ARN),
        ("dynamodb:DeleteItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/other"),
    ]


def test_list_tables_has_no_resource() -> None:
    assert permissions(classify("dynamodb", "list_tables")) == [("dynamodb:ListTables", "*")]


# ---------------------------------------------------------------------------------------------- SQS, logs, others


@pytest.mark.parametrize(
    ("operation", "params", "action", "iam"),
    [
        ("send_message", {"MessageBody": "x"}, "SendMessage", "sqs:SendMessage"),
        ("send_message_batch", {"Entries": [{"Id": "1", "MessageBody": "x"}]}, "SendMessageBatch", "sqs:SendMessage"),
        ("receive_message", {}, "ReceiveMessage", "sqs:ReceiveMessage"),
        ("delete_message", {"ReceiptHandle": "r"}, "DeleteMessage", "sqs:DeleteMessage"),
        (
            "delete_message_batch",
            {"Entries": [{"Id": "1", "ReceiptHandle": "r"}]},
            "DeleteMessageBatch",
            "sqs:DeleteMessage",
        ),
        (
            "change_message_visibility",
            {"ReceiptHandle": "r", "VisibilityTimeout": 5},
            "ChangeMessageVisibility",
            "sqs:ChangeMessageVisibility",
        ),
        ("get_queue_attributes", {"AttributeNames": ["All"]}, "GetQueueAttributes", "sqs:GetQueueAttributes"),
    ],
)
def test_sqs_calls_name_the_queue_of_their_url(operation: str, params: dict[str, Any], action: str, iam: str) -> None:
    call = classify("sqs", operation, QueueUrl=QUEUE_URL, **params)
    assert (call.service, call.action) == ("sqs", action)
    assert permissions(call) == [(iam, QUEUE_ARN)]


def test_get_queue_url_names_the_queue_and_its_owner() -> None:
    call = classify("sqs", "get_queue_url", QueueName="ingest-queue", QueueOwnerAWSAccountId="123456789012")
    assert permissions(call) == [("sqs:GetQueueUrl", f"arn:aws:sqs:{REGION}:123456789012:ingest-queue")]
    call = classify("sqs", "get_queue_url", QueueName="ingest-queue")
    assert permissions(call) == [("sqs:GetQueueUrl", QUEUE_ARN)]


def test_the_query_protocol_is_classified_too() -> None:
    body = f"Action=SendMessage&Version=2012-11-05&QueueUrl={QUEUE_URL}&MessageBody=hi".encode()
    headers = {
        "authorization": f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20240101/{REGION}/sqs/aws4_request, Signature=x",
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "host": "127.0.0.1:4566",
    }
    call = classify_request("POST", "/", headers, body)
    assert (call.service, call.action, call.protocol) == ("sqs", "SendMessage", "query")
    assert permissions(call) == [("sqs:SendMessage", QUEUE_ARN)]


def test_queue_urls_of_aws_name_their_region() -> None:
    assert sqs_queue_arn("https://sqs.eu-west-1.amazonaws.com/123456789012/q", REGION, ACCOUNT) == (
        "arn:aws:sqs:eu-west-1:123456789012:q"
    )


def test_log_delivery_calls_name_the_stream() -> None:
    call = classify(
        "logs",
        "put_log_events",
        logGroupName="/aws/lambda/f",
        logStreamName="s1",
        logEvents=[{"timestamp": 1, "message": "m"}],
    )
    assert permissions(call) == [
        ("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/f:log-stream:s1")
    ]


def test_other_json_services_get_their_action_on_any_resource() -> None:
    call = classify("kms", "decrypt", CiphertextBlob=b"x")
    assert permissions(call) == [("kms:Decrypt", "*")]


def test_an_access_key_that_is_not_an_account_means_the_emulator_account() -> None:
    request = prepared("sqs", "send_message", QueueUrl=QUEUE_URL, MessageBody="x")
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    headers["authorization"] = headers["authorization"].replace(f"Credential={ACCOUNT}/", "Credential=test/")
    call = classify_request("POST", "/", headers, request.body, default_account="111122223333")
    assert (call.account, call.region) == ("111122223333", REGION)


# ---------------------------------------------------------------------------------------------- plans
