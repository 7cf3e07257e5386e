"""The gateway proxy end to end against a tiny local upstream, and its wiring into the embedded backend.
No emulator, no network beyond 127.0.0.1."""

from __future__ import annotations

import http.client
import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import botocore.endpoint
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore_requests import (
    ACCOUNT,
    QUEUE_URL,
    TABLE_ARN,
    botocore_client,
)

from s3pipe.backends.embedded import SUPERVISOR, emulator_environment
from s3pipe.backends.supervisor import split_commands
from s3pipe.config import HarnessConfig
from s3pipe.gateway import probe_gateway
from s3pipe.gateway.faults import parse_plan
from s3pipe.gateway.journal import Journal
from s3pipe.gateway.server import GatewayServer
from s3pipe.progress import Progress
from s3pipe.session import StackSession


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
    assert answer["dropped"] == 0
    capacity = gateway.journal.capacity
    assert control(gateway, "GET", "calls?since=3")[1] == {"next": 3, "calls": [], "dropped": 0, "capacity": capacity}
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


def test_every_function_gets_the_gateway_from_the_emulator_not_from_a_module_variable(tmp_path: Path) -> None:
    """MiniStack gives a function the host's AWS_ENDPOINT_URL unless the function sets its own: no module
    variable is needed, and a user's own ``extra_environment`` is passed through untouched."""
    gateway_url = "http://127.0.0.1:40001"
    assert emulator_environment(4566, "ap-northeast-1", base={}, function_endpoint=gateway_url)["AWS_ENDPOINT_URL"] == (
        gateway_url
    )
    assert "AWS_ENDPOINT_URL" not in emulator_environment(4566, "ap-northeast-1", base={})

    config = HarnessConfig(root=tmp_path)
    user = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5555", "CHAOS": "1"}
    custom = StackSession(config, Progress(), "dev", {"extra_environment": user})._settings(None)
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


def test_an_error_answer_is_journalled_with_its_code(upstream: Upstream, gateway: GatewayServer) -> None:
    def denied(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        del body
        payload = b'{"__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException", "message": "no"}'
        handler.send_response(400)
        handler.send_header("Content-Type", "application/x-amz-json-1.0")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    upstream.answer = denied
    with pytest.raises(ClientError) as error:
        botocore_client("dynamodb", gateway.url).delete_item(TableName="logs-table", Key={"PK": {"S": "a"}})
    assert error.value.response["Error"]["Code"] == "AccessDeniedException"  # relayed unchanged
    (entry,) = journal(gateway)
    assert (entry["status"], entry["error_code"]) == (400, "AccessDeniedException")
    upstream.answer = Upstream.json_ok
    botocore_client("dynamodb", gateway.url).batch_write_item(
        RequestItems={"logs-table": [{"DeleteRequest": {"Key": {"PK": {"S": "a"}}}}]}
    )
    assert "error_code" not in journal(gateway, 2)[1]
