"""Small typed fakes of the three AWS clients the handler uses (never a network call).

They implement only the calls the handler makes, with the same request/response shapes, and
check the invariants DynamoDB enforces (at most 25 requests per batch, no key twice in a batch).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.response import StreamingBody

from log_ingest.config import Dependencies, Settings
from log_ingest.items import Item, item_key


def client_error(code: str, operation: str, message: str = "", status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


class FakeClock:
    """Monotonic clock and sleep in one; the Lambda context's remaining time follows it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FakeContext:
    clock: FakeClock
    budget_ms: int = 300_000
    aws_request_id: str = "req-0001"
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock.now

    def get_remaining_time_in_millis(self) -> int:
        return self.budget_ms - int((self.clock.now - self.started) * 1000)


class FakeS3:
    """Objects by (bucket, key); ``errors`` maps (bucket, key) to an exception raised by GetObject."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.errors: dict[tuple[str, str], Exception] = {}
        self.stream_errors: dict[tuple[str, str], Exception] = {}
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.objects[(bucket, key)] = data

    def get_object(self, **request: Any) -> dict[str, Any]:
        assert set(request) <= {"Bucket", "Key", "VersionId", "IfMatch"}, request
        with self.lock:
            self.calls.append(request)
        where = (request["Bucket"], request["Key"])
        if where in self.errors:
            raise self.errors[where]
        if where not in self.objects:
            raise client_error("NoSuchKey", "GetObject", "The specified key does not exist.", 404)
        data = self.objects[where]
        raw: Any = io.BytesIO(data)
        if where in self.stream_errors:
            raw = _FailingStream(data, self.stream_errors[where])
        return {"Body": StreamingBody(raw, len(data)), "ETag": '"0123abcd"', "ContentLength": len(data)}


class _FailingStream:
    """Returns half the data, then raises (a read timeout in the middle of the body)."""

    def __init__(self, data: bytes, error: Exception) -> None:
        self._data = io.BytesIO(data[: len(data) // 2])
        self._error = error

    def read(self, amt: int | None = None) -> bytes:
        chunk = self._data.read(amt)
        if not chunk:
            raise self._error
        return chunk

    def close(self) -> None:
        pass


class FakeDynamoDB:
    """A table keyed by (PK, SK); programmable unprocessed items, errors and validation failures."""

    def __init__(self, table_name: str = "events") -> None:
        self.table_name = table_name
        self.items: dict[tuple[str, str], Item] = {}
        self.batches: list[list[tuple[str, str]]] = []
        self.put_calls = 0
        #: Return this many "all unprocessed" responses before accepting writes.
        self.unprocessed_responses = 0
        #: Leave every second item unprocessed this many times (partial progress).
        self.half_unprocessed_responses = 0
        #: Raised by the next batch_write_item calls (one per call, popped).
        self.batch_errors: list[Exception] = []
        #: Raised by every call when set (a persistent outage).
        self.always_error: Exception | None = None
        #: Items for which DynamoDB answers ValidationException.
        self.invalid: Callable[[Item], bool] = lambda item: False
        #: Called with each batch (e.g. to raise for the items of one object).
        self.on_batch: Callable[[list[Item]], None] | None = None
        self.lock = threading.Lock()

    def batch_write_item(self, **request: Any) -> dict[str, Any]:
        assert set(request) == {"RequestItems"}, request
        ((table, requests),) = request["RequestItems"].items()
        assert table == self.table_name
        assert 1 <= len(requests) <= 25, f"batch of {len(requests)} requests"
        items = [r["PutRequest"]["Item"] for r in requests]
        keys = [item_key(i) for i in items]
        assert len(set(keys)) == len(keys), "a batch holds the same key twice"
        with self.lock:
            self.batches.append(keys)
            if self.always_error is not None:
                raise self.always_error
            if self.batch_errors:
                raise self.batch_errors.pop(0)
            if self.on_batch is not None:
                self.on_batch(items)
            if any(self.invalid(i) for i in items):
                raise client_error(
                    "ValidationException", "BatchWriteItem", "One or more parameter values were invalid"
                )
            if self.unprocessed_responses > 0:
                self.unprocessed_responses -= 1
                return {"UnprocessedItems": {table: requests}}
            unprocessed = []
            if self.half_unprocessed_responses > 0 and len(requests) > 1:
                self.half_unprocessed_responses -= 1
                unprocessed = requests[1::2]
                requests = requests[0::2]
            for r in requests:
                item = r["PutRequest"]["Item"]
                self.items[item_key(item)] = item
            return {"UnprocessedItems": {table: unprocessed} if unprocessed else {}}

    def put_item(self, **request: Any) -> dict[str, Any]:
        assert set(request) == {"TableName", "Item"}
        with self.lock:
            self.put_calls += 1
            if self.always_error is not None:
                raise self.always_error
            item = request["Item"]
            if self.invalid(item):
                raise client_error(
                    "ValidationException", "PutItem", "One or more parameter values were invalid"
                )
            self.items[item_key(item)] = item
            return {}

    def partition(self, pk: str) -> dict[str, Item]:
        return {sk: item for (p, sk), item in self.items.items() if p == pk}


@dataclass
class SentMessage:
    queue_url: str
    body: str
    attributes: dict[str, str]


class FakeSQS:
    def __init__(self) -> None:
        self.sent: list[SentMessage] = []
        self.fail: Exception | None = None

    def send_message(self, **request: Any) -> dict[str, Any]:
        assert set(request) <= {"QueueUrl", "MessageBody", "MessageAttributes"}
        if self.fail is not None:
            raise self.fail
        body = request["MessageBody"]
        assert isinstance(body, str)
        assert body, "SQS refuses empty bodies"
        attributes = {}
        for name, value in request.get("MessageAttributes", {}).items():
            assert value["DataType"] == "String"
            assert value["StringValue"], f"empty attribute {name}"
            attributes[name] = value["StringValue"]
        self.sent.append(SentMessage(request["QueueUrl"], body, attributes))
        return {"MessageId": f"dlq-{len(self.sent)}"}


@dataclass
class World:
    """The fakes wired into the handler's Dependencies."""

    s3: FakeS3
    dynamodb: FakeDynamoDB
    sqs: FakeSQS
    clock: FakeClock
    settings: Settings

    @property
    def deps(self) -> Dependencies:
        return Dependencies(
            settings=self.settings,
            s3=self.s3,  # type: ignore[arg-type]
            dynamodb=self.dynamodb,  # type: ignore[arg-type]
            sqs=self.sqs,  # type: ignore[arg-type]
            sleep=self.clock.sleep,
            random=lambda: 0.5,
            clock=self.clock,
        )

    def context(self, budget_ms: int = 300_000) -> FakeContext:
        return FakeContext(self.clock, budget_ms)


DLQ_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/ingest-dlq"


def make_world(**settings: Any) -> World:
    base: dict[str, Any] = {"table_name": "events", "dlq_url": DLQ_URL, "write_concurrency": 1}
    base.update(settings)
    return World(FakeS3(), FakeDynamoDB("events"), FakeSQS(), FakeClock(), Settings(**base))


def read_timeout() -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url="https://s3.example")


def all_keys(items: Iterable[Item]) -> set[tuple[str, str]]:
    return {item_key(i) for i in items}
