"""The function gateway: request classification (requests built by botocore itself), fault plans,
and the proxy end to end against a tiny local upstream. No emulator, no network beyond 127.0.0.1."""

from __future__ import annotations

import dataclasses
import functools
import http.client
import http.server
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import botocore.endpoint
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from s3pipe.backends.embedded import SUPERVISOR, function_gateway_environment
from s3pipe.backends.supervisor import split_commands
from s3pipe.config import HarnessConfig
from s3pipe.gateway import probe_gateway
from s3pipe.gateway.classify import (
    Classified,
    RequiredPermission,
    classify_request,
    s3_bucket_and_key,
    sqs_queue_arn,
    virtual_host_bucket,
)
from s3pipe.gateway.faults import FaultEngine, PlanError, fault_response, parse_plan, split_batch_write
from s3pipe.gateway.journal import Journal
from s3pipe.gateway.server import GatewayServer
from s3pipe.progress import Progress
from s3pipe.session import StackSession

REGION = "ap-northeast-1"
ACCOUNT = "000000000000"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/logs-table"
QUEUE_URL = f"http://127.0.0.1:4566/{ACCOUNT}/ingest-queue"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:ingest-queue"


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()  # one session: loading the service models once is what takes time


def botocore_client(service: str, endpoint: str | None = "http://127.0.0.1:4566", **config: Any) -> Any:
    config.setdefault("retries", {"total_max_attempts": 1})
    return _session().create_client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=ACCOUNT,
        aws_secret_access_key="test",
        config=Config(**config),
    )


def prepared(service: str, operation: str, *, endpoint: str | None = "http://127.0.0.1:4566", **params: Any) -> Any:
    """The request botocore would send (captured before sending)."""
    config = params.pop("config", {})
    client = botocore_client(service, endpoint, **config)

    def capture(request: Any, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send", capture)
    with pytest.raises(_Captured) as captured:
        getattr(client, operation)(**params)
    return captured.value.request


def classify(service: str, operation: str, **params: Any) -> Classified:
    request = prepared(service, operation, **params)
    split = urlsplit(request.url)
    target = split.path + (f"?{split.query}" if split.query else "")
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    headers["host"] = split.netloc  # added on the wire, signed by SigV4
    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    body = body.encode() if isinstance(body, str) else (body or b"")
    return classify_request(request.method, target, headers, body)


def permissions(call: Classified) -> list[tuple[str, str]]:
    return [(p.action, p.resource) for p in call.permissions]


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


def test_plans_are_validated() -> None:
    plan = parse_plan(
        {"seed": 3, "rules": [{"service": "dynamodb", "action": "BatchWriteItem", "fault": "delay", "delay_ms": 5}]}
    )
    assert plan.seed == 3
    rules = plan.rules
    assert (rules[0].fault, rules[0].delay_ms, rules[0].probability) == ("delay", 5, 1.0)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "JSON object"),
        ({"rules": [], "extra": 1}, "unknown plan field"),
        ({"seed": "x"}, "seed must be an integer"),
        ({"rules": [{"service": "s3", "fault": "explode"}]}, "fault must be one of"),
        ({"rules": [{"service": "s3", "fault": "throttle", "probability": 2}]}, "probability"),
        ({"rules": [{"service": "s3", "fault": "throttle", "max_count": -1}]}, "max_count"),
        ({"rules": [{"service": "sqs", "action": "SendMessage", "fault": "unprocessed"}]}, "BatchWriteItem only"),
        ({"rules": [{"service": "s3", "fault": "throttle", "colour": "red"}]}, "unknown field"),
    ],
)
def test_bad_plans_are_refused_with_the_reason(document: Any, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse_plan(document)


def call_of(service: str, action: str, resource: str = "*") -> Classified:
    return Classified(service, action, "json", REGION, ACCOUNT, (RequiredPermission(f"{service}:{action}", resource),))


def decisions(seed: int, count: int, probability: float = 0.3) -> list[bool]:
    engine = FaultEngine()
    plan = parse_plan(
        {
            "rules": [
                {"service": "dynamodb", "action": "BatchWriteItem", "fault": "throttle", "probability": probability}
            ]
        }
    )
    engine.set_plan(dataclasses.replace(plan, seed=seed))
    return [engine.pick(call_of("dynamodb", "BatchWriteItem")) is not None for _ in range(count)]


def test_a_seeded_plan_makes_the_same_decisions_every_run() -> None:
    first = decisions(seed=42, count=200)
    assert first == decisions(seed=42, count=200)
    assert first != decisions(seed=43, count=200)
    assert 30 <= sum(first) <= 90  # about 30 % of 200


def test_only_calls_a_rule_matches_draw_from_the_rng() -> None:
    engine = FaultEngine()
    plan = parse_plan(
        {"rules": [{"service": "dynamodb", "action": "BatchWriteItem", "fault": "throttle", "probability": 0.5}]}
    )
    engine.set_plan(dataclasses.replace(plan, seed=7))
    picked = []
    for index in range(100):
        engine.pick(call_of("sqs", "SendMessage"))  # other traffic must not shift the sequence
        picked.append(engine.pick(call_of("dynamodb", "BatchWriteItem")) is not None)
        del index
    assert picked == decisions(seed=7, count=100, probability=0.5)


def test_rule_matching_service_action_resource_and_max_count() -> None:
    engine = FaultEngine()
    plan = parse_plan(
        {
            "rules": [
                {
                    "service": "s3",
                    "action": "Get*",
                    "fault": "throttle",
                    "resource": "arn:aws:s3:::b/slow/*",
                    "max_count": 2,
                },
                {"service": "*", "action": "*", "fault": "delay", "delay_ms": 1},
            ]
        }
    )
    engine.set_plan(dataclasses.replace(plan, seed=0))
    slow = call_of("s3", "GetObject", "arn:aws:s3:::b/slow/x")
    fast = call_of("s3", "GetObject", "arn:aws:s3:::b/fast/x")
    kinds = [rule.fault if (rule := engine.pick(c)) else None for c in (slow, fast, slow, slow)]
    assert kinds == ["throttle", "delay", "throttle", "delay"]  # the throttle rule fired twice, then stopped
    assert [rule["fired"] for rule in engine.state()["rules"]] == [2, 2]
    engine.clear()
    assert engine.pick(slow) is None


def test_unprocessed_holds_back_a_fraction_of_the_items() -> None:
    requests = [{"PutRequest": {"Item": {"PK": {"S": str(i)}}}} for i in range(10)]
    body = json.dumps({"RequestItems": {"t": requests}, "ReturnConsumedCapacity": "NONE"}).encode()
    rng = random.Random(1)

    forward, held, count = split_batch_write(body, 0.3, lambda n, k: sorted(rng.sample(range(n), k)))

    assert count == 3
    assert forward is not None
    sent = json.loads(forward)
    assert sent["ReturnConsumedCapacity"] == "NONE"
    assert len(sent["RequestItems"]["t"]) == 7
    assert (
        sorted(sent["RequestItems"]["t"] + held["t"], key=lambda r: int(r["PutRequest"]["Item"]["PK"]["S"])) == requests
    )


def test_unprocessed_of_everything_forwards_nothing() -> None:
    body = json.dumps({"RequestItems": {"t": [{"PutRequest": {"Item": {"PK": {"S": "1"}}}}]}}).encode()
    forward, held, count = split_batch_write(body, 0.1, lambda n, k: list(range(k)))
    assert (forward, count, len(held["t"])) == (None, 1, 1)


@pytest.mark.parametrize(
    ("service", "protocol", "kind", "status", "code"),
    [
        ("dynamodb", "json", "throttle", 400, "ProvisionedThroughputExceededException"),
        ("dynamodb", "json", "server_error", 500, "InternalServerError"),
        ("sqs", "json", "throttle", 400, "ThrottlingException"),
        ("sqs", "query", "throttle", 400, "RequestThrottled"),
        ("s3", "rest-xml", "throttle", 503, "SlowDown"),
        ("s3", "rest-xml", "server_error", 500, "InternalError"),
    ],
)
def test_fault_responses_have_the_services_own_shape(
    service: str, protocol: str, kind: str, status: int, code: str
) -> None:
    call = Classified(service, "X", protocol, REGION, ACCOUNT, ())
    got_status, headers, body = fault_response(kind, call, "GET")
    assert got_status == status
    assert code in body.decode()
    assert dict(headers)["Content-Type"]


def test_a_head_request_gets_an_error_without_a_body() -> None:
    _, _, body = fault_response("throttle", Classified("s3", "HeadObject", "rest-xml", REGION, ACCOUNT, ()), "HEAD")
    assert body == b""


# ---------------------------------------------------------------------------------------------- end to end


class Upstream:
    """A stand-in emulator on 127.0.0.1: records what reaches it and answers as the test says."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: Callable[[http.server.BaseHTTPRequestHandler, bytes], None] = self.json_ok
        self.close_after_response = False
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one_request(self) -> None:
                super().handle_one_request()
                if upstream.close_after_response:
                    self.close_connection = True  # like an idle keep-alive timeout: no Connection: close

            def _any(self) -> None:
                body = self._body()
                upstream.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
                )
                upstream.answer(self, body)

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", ""):
                    data = b""
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return data
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _any  # noqa: N815

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def json_ok(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        del body
        payload = b'{"UnprocessedItems": {}}'
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-amz-json-1.0")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture
def gateway(upstream: Upstream, tmp_path: Path) -> Iterator[GatewayServer]:
    server = GatewayServer(("127.0.0.1", 0), upstream.url, Journal(tmp_path / "journal.jsonl")).start_background()
    yield server
    server.stop()


def journal(gateway: GatewayServer, at_least: int = 1) -> list[dict[str, Any]]:
    """The journal, once it has ``at_least`` entries (a line is written when the answer has gone out)."""
    deadline = time.monotonic() + 5
    while len(gateway.journal) < at_least and time.monotonic() < deadline:
        time.sleep(0.01)
    return gateway.journal.read(0)[0]


def test_requests_are_forwarded_verbatim_and_journalled(
    upstream: Upstream, gateway: GatewayServer, tmp_path: Path
) -> None:
    ddb = botocore_client("dynamodb", gateway.url)
    items = {"logs-table": [{"PutRequest": {"Item": {"PK": {"S": "a"}, "SK": {"S": "b"}}}}]}

    assert ddb.batch_write_item(RequestItems=items)["UnprocessedItems"] == {}

    (seen,) = upstream.requests
    assert seen["method"] == "POST"
    assert seen["headers"]["X-Amz-Target"] == "DynamoDB_20120810.BatchWriteItem"
    assert seen["headers"]["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/")
    assert seen["headers"]["Host"] == gateway.url.removeprefix("http://")  # signed: never rewritten
    assert seen["headers"]["X-Forwarded-Proto"] == "https"  # as over TLS: aws:SecureTransport holds
    assert json.loads(seen["body"]) == {"RequestItems": items}
    (entry,) = journal(gateway)
    assert entry["seq"] == 0
    assert (entry["service"], entry["action"], entry["status"], entry["fault"]) == (
        "dynamodb",
        "BatchWriteItem",
        200,
        None,
    )
    assert entry["iam_actions"] == ["dynamodb:BatchWriteItem"]
    assert entry["resources"] == [TABLE_ARN]
    assert entry["sdk"]["attempt"] == 1
    assert entry["duration_ms"] >= 0
    lines = (tmp_path / "journal.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [0]


def test_a_large_object_is_streamed_through_not_buffered(upstream: Upstream, gateway: GatewayServer) -> None:
    first_chunk_seen = threading.Event()
    size = 8 * 1024 * 1024

    def stream(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        del body
        handler.send_response(200)
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        handler.wfile.write(b"a" * 65536)
        handler.wfile.flush()
        # the rest only once the client has the first chunk: a gateway that buffers the body deadlocks here
        assert first_chunk_seen.wait(10), "the first chunk never reached the client"
        handler.wfile.write(b"b" * (size - 65536))

    upstream.answer = stream
    conn = http.client.HTTPConnection("127.0.0.1", gateway.server_address[1], timeout=20)
    conn.request("GET", "/raw-logs/big.jsonl")
    response = conn.getresponse()
    head = response.read(65536)
    first_chunk_seen.set()
    rest = response.read()

    assert head == b"a" * 65536
    assert len(rest) == size - 65536
    assert set(rest) == {ord("b")}
    assert journal(gateway)[0]["response_bytes"] == size


def test_chunked_bodies_are_relayed_both_ways(upstream: Upstream, gateway: GatewayServer) -> None:
    def chunked(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for part in (body[:3], body[3:]):
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        handler.wfile.write(b"0\r\n\r\n")

    upstream.answer = chunked
    conn = http.client.HTTPConnection("127.0.0.1", gateway.server_address[1], timeout=10)
    conn.request("PUT", "/b/k", body=iter([b"hello ", b"world"]), encode_chunked=True)
    response = conn.getresponse()
    assert response.read() == b"hello world"
    assert upstream.requests[0]["body"] == b"hello world"


def test_a_large_upload_is_streamed_to_the_upstream(upstream: Upstream, gateway: GatewayServer) -> None:
    s3 = botocore_client("s3", gateway.url)
    upstream.answer = lambda handler, body: (
        handler.send_response(200),
        handler.send_header("ETag", '"x"'),
        handler.send_header("Content-Length", "0"),
        handler.end_headers(),
    )
    data = bytes(range(256)) * (3 * 1024 * 16)  # 12 MiB: above what the gateway buffers for S3
    s3.put_object(Bucket="raw-logs", Key="big.bin", Body=data)
    assert upstream.requests[-1]["body"] == data
    assert journal(gateway)[-1]["action"] == "PutObject"


def test_a_keep_alive_connection_the_upstream_dropped_is_replayed(upstream: Upstream, gateway: GatewayServer) -> None:
    upstream.close_after_response = True
    sqs = botocore_client("sqs", gateway.url)
    upstream.answer = Upstream.json_ok
    for _ in range(3):
        sqs.get_queue_url(QueueName="ingest-queue")
    assert [entry["status"] for entry in journal(gateway, 3)] == [200, 200, 200]


def test_an_unreachable_upstream_is_a_502_in_the_journal(tmp_path: Path) -> None:
    server = GatewayServer(("127.0.0.1", 0), "http://127.0.0.1:9", Journal(None)).start_background()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        conn.request("GET", "/b/k")
        assert conn.getresponse().status == 502
        (entry,) = journal(server)
        assert entry["status"] == 502
        assert "Connection" in entry["error"] or "refused" in entry["error"].lower()
    finally:
        server.stop()


def set_plan(gateway: GatewayServer, *rules: dict[str, Any], seed: int = 1) -> None:
    gateway.faults.set_plan(parse_plan({"seed": seed, "rules": list(rules)}))


def test_throttling_answers_with_dynamodbs_own_error_without_forwarding(
    upstream: Upstream, gateway: GatewayServer
) -> None:
    set_plan(gateway, {"service": "dynamodb", "action": "BatchWriteItem", "fault": "throttle"})
    ddb = botocore_client("dynamodb", gateway.url)

    with pytest.raises(ClientError) as error:
        ddb.batch_write_item(RequestItems={"logs-table": [{"PutRequest": {"Item": {"PK": {"S": "a"}}}}]})

    assert error.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert upstream.requests == []
    assert [(e["fault"], e["status"]) for e in journal(gateway)] == [("throttle", 400)]


def test_sdk_retries_see_the_throttle_as_throttling(
    upstream: Upstream, gateway: GatewayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_plan(gateway, {"service": "dynamodb", "fault": "throttle", "max_count": 2})
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda seconds: None))  # no backoff waits
    ddb = botocore_client("dynamodb", gateway.url, retries={"mode": "standard", "total_max_attempts": 3})

    ddb.put_item(TableName="logs-table", Item={"PK": {"S": "a"}})

    entries = journal(gateway, 3)
    assert [(e["fault"], e["sdk"]["attempt"], e["sdk"]["max_attempts"]) for e in entries] == [
        ("throttle", 1, 3),
        ("throttle", 2, 3),
        (None, 3, 3),
    ]
    assert len({e["sdk"]["invocation"] for e in entries}) == 1  # one SDK call, three attempts
    assert len(upstream.requests) == 1


THROTTLED = {
    "sqs": (
        "send_message",
        {"QueueUrl": QUEUE_URL, "MessageBody": "x"},
        {"ThrottlingException", "RequestThrottled"},
        400,
    ),
    "s3": ("get_object", {"Bucket": "b", "Key": "k"}, {"SlowDown"}, 503),
}


@pytest.mark.parametrize("service", sorted(THROTTLED))
def test_throttling_of_sqs_and_s3(upstream: Upstream, gateway: GatewayServer, service: str) -> None:
    operation, params, codes, status = THROTTLED[service]
    set_plan(gateway, {"service": service, "fault": "throttle"})
    with pytest.raises(ClientError) as error:
        getattr(botocore_client(service, gateway.url), operation)(**params)
    assert error.value.response["Error"]["Code"] in codes
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert upstream.requests == []


def test_server_errors(upstream: Upstream, gateway: GatewayServer) -> None:
    set_plan(gateway, {"service": "dynamodb", "action": "PutItem", "fault": "server_error"})
    with pytest.raises(ClientError) as error:
        botocore_client("dynamodb", gateway.url).put_item(TableName="logs-table", Item={"PK": {"S": "a"}})
    assert error.value.response["Error"]["Code"] == "InternalServerError"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert journal(gateway)[0]["fault"] == "server_error"


def test_unprocessed_items_are_never_written_and_returned_to_the_caller(
    upstream: Upstream, gateway: GatewayServer
) -> None:
    set_plan(
        gateway,
        {"service": "dynamodb", "action": "BatchWriteItem", "fault": "unprocessed", "unprocessed_fraction": 0.4},
        seed=5,
    )
    requests = [{"PutRequest": {"Item": {"PK": {"S": str(i)}}}} for i in range(10)]

    response = botocore_client("dynamodb", gateway.url).batch_write_item(RequestItems={"logs-table": requests})

    written = json.loads(upstream.requests[0]["body"])["RequestItems"]["logs-table"]
    returned = response["UnprocessedItems"]["logs-table"]
    assert (len(written), len(returned)) == (6, 4)
    assert sorted(written + returned, key=lambda r: int(r["PutRequest"]["Item"]["PK"]["S"])) == requests
    assert int(upstream.requests[0]["headers"]["Content-Length"]) == len(upstream.requests[0]["body"])
    # the function's signature no longer covers the trimmed body: signed again with the root test key
    assert "Credential=test/" in upstream.requests[0]["headers"]["Authorization"]
    entry = journal(gateway)[0]
    assert (entry["fault"], entry["unprocessed"], entry["status"]) == ("unprocessed", 4, 200)


def test_delay_sleeps_then_forwards(upstream: Upstream, gateway: GatewayServer) -> None:
    set_plan(gateway, {"service": "sqs", "fault": "delay", "delay_ms": 150})
    started = time.monotonic()
    botocore_client("sqs", gateway.url).get_queue_url(QueueName="q")
    assert "Credential=000000000000/" in upstream.requests[0]["headers"]["Authorization"]  # untouched: as signed
    assert time.monotonic() - started >= 0.15
    assert len(upstream.requests) == 1
    entry = journal(gateway)[0]
    assert (entry["fault"], entry["delay_ms"], entry["status"]) == ("delay", 150, 200)
    assert entry["duration_ms"] >= 150


def control(gateway: GatewayServer, method: str, route: str, document: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.server_address[1], timeout=10)
    conn.request(method, f"/_s3pipe/{route}", body=json.dumps(document) if document is not None else None)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_the_control_api_is_never_forwarded(upstream: Upstream, gateway: GatewayServer) -> None:
    plan = {"seed": 9, "rules": [{"service": "s3", "action": "GetObject", "fault": "throttle", "probability": 0.5}]}
    assert control(gateway, "PUT", "faults", plan)[1]["seed"] == 9
    assert control(gateway, "GET", "faults")[1]["rules"][0]["probability"] == 0.5
    status, answer = control(gateway, "PUT", "faults", {"rules": [{"service": "s3", "fault": "nope"}]})
    assert status == 400
    assert "fault must be one of" in answer["error"]
    assert control(gateway, "DELETE", "faults")[1] == {"seed": 0, "rules": []}
    assert control(gateway, "GET", "health")[1]["status"] == "ok"
    assert control(gateway, "GET", "nothing")[0] == 404
    assert upstream.requests == []
    assert gateway.journal.read(0) == ([], 0)


def test_calls_since_a_mark(upstream: Upstream, gateway: GatewayServer) -> None:
    sqs = botocore_client("sqs", gateway.url)
    for name in ("a", "b", "c"):
        sqs.get_queue_url(QueueName=name)
    status, answer = control(gateway, "GET", "calls?since=1")
    assert status == 200
    assert answer["next"] == 3
    assert [call["resources"][0].rsplit(":", 1)[1] for call in answer["calls"]] == ["b", "c"]
    assert control(gateway, "GET", "calls?since=3")[1] == {"next": 3, "calls": []}
    assert control(gateway, "GET", "calls?since=x")[0] == 400


def test_the_gateway_runs_standalone_as_a_module(upstream: Upstream, tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "s3pipe.gateway",
            "--upstream",
            upstream.url,
            "--port-file",
            str(port_file),
            "--journal",
            str(tmp_path / "j.jsonl"),
        ],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        port = int(port_file.read_text())
        botocore_client("sqs", f"http://127.0.0.1:{port}").get_queue_url(QueueName="q")
        journal_file = tmp_path / "j.jsonl"
        while not journal_file.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)  # the line is written once the answer is on its way
        assert json.loads(journal_file.read_text())["action"] == "GetQueueUrl"
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------- wiring


def test_the_gateway_answers_the_health_probe_of_the_backend(gateway: GatewayServer) -> None:
    assert probe_gateway(gateway.url).healthy
    assert not probe_gateway("http://127.0.0.1:9", timeout=1).healthy


def test_the_function_gets_the_gateway_as_its_endpoint_and_user_variables_win(tmp_path: Path) -> None:
    config = HarnessConfig(root=tmp_path)
    gateway_url = "http://127.0.0.1:40001"
    assert function_gateway_environment(gateway_url) == {"AWS_ENDPOINT_URL": gateway_url}

    plain = StackSession(config, Progress(), "dev")._settings(None, gateway_url)
    assert plain.extra_environment == {"AWS_ENDPOINT_URL": gateway_url}
    user = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5555", "CHAOS": "1"}
    custom = StackSession(config, Progress(), "dev", {"extra_environment": user})._settings(None, gateway_url)
    assert custom.extra_environment == user
    assert StackSession(config, Progress(), "dev")._settings(None).extra_environment == {}


def test_the_supervisor_runs_the_gateway_in_the_emulators_group_and_ends_both(tmp_path: Path) -> None:
    marker = tmp_path / "helper-started"
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            str(SUPERVISOR),
            "--",
            "sleep",
            "30",
            "--",
            sys.executable,
            "-c",
            f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(0.3); raise SystemExit(3)",
        ],
        timeout=20,
        check=False,
    )
    assert marker.exists()
    assert done.returncode == 3  # the command that ended first, and it ended the emulator with it
    assert time.monotonic() - started < 10
    assert split_commands(["--watch-stdin", "--", "a", "1", "--", "b", "--", "--"]) == [["a", "1"], ["b"]]
