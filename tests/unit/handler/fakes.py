"""Small typed fakes of the three AWS clients the handler uses (never a network call).

They implement only the calls the handler makes, with the same request/response shapes, and
check the invariants DynamoDB enforces (at most 25 requests per batch, no key twice in a batch).
"""

from __future__ import annotations

import io
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.response import StreamingBody

from log_ingest.config import Dependencies, Settings
from log_ingest.items import Item, item_key, record_pk


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


DEFAULT_ETAG = '"0123abcd"'


class FakeS3:
    """Objects by (bucket, key); ``errors`` maps (bucket, key) to an exception raised by GetObject.

    ``IfMatch`` is checked against the object's ETag (412 PreconditionFailed); with ``clock`` set,
    every read of a body advances it by ``read_seconds`` (a slow download).
    """

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.etags: dict[tuple[str, str], str] = {}
        self.errors: dict[tuple[str, str], Exception] = {}
        self.stream_errors: dict[tuple[str, str], Exception] = {}
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.clock: FakeClock | None = None
        self.read_seconds = 0.0

    def put(self, bucket: str, key: str, data: bytes, etag: str = DEFAULT_ETAG) -> None:
        self.objects[(bucket, key)] = data
        self.etags[(bucket, key)] = etag

    def get_object(self, **request: Any) -> dict[str, Any]:
        assert set(request) <= {"Bucket", "Key", "VersionId", "IfMatch"}, request
        with self.lock:
            self.calls.append(request)
        where = (request["Bucket"], request["Key"])
        if where in self.errors:
            raise self.errors[where]
        if where not in self.objects:
            raise client_error("NoSuchKey", "GetObject", "The specified key does not exist.", 404)
        etag = self.etags[where]
        if "IfMatch" in request and request["IfMatch"] != etag:
            raise client_error(
                "PreconditionFailed", "GetObject", "At least one of the pre-conditions you specified did not hold", 412
            )
        data = self.objects[where]
        raw: Any = io.BytesIO(data)
        if where in self.stream_errors:
            raw = _FailingStream(data, self.stream_errors[where])
        elif self.clock is not None and self.read_seconds:
            raw = _SlowStream(data, self.clock, self.read_seconds)
        return {"Body": StreamingBody(raw, len(data)), "ETag": etag, "ContentLength": len(data)}


class _SlowStream:
    """Every read takes ``seconds`` of the fake clock."""

    def __init__(self, data: bytes, clock: FakeClock, seconds: float) -> None:
        self._data = io.BytesIO(data)
        self._clock = clock
        self._seconds = seconds

    def read(self, amt: int | None = None) -> bytes:
        self._clock.now += self._seconds
        return self._data.read(amt)

    def close(self) -> None:
        pass


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
        #: The objects' head items (versions.py), kept apart so ``items`` holds the data only.
        self.heads: dict[tuple[str, str], Item] = {}
        #: How many times each key was stored (a re-write after a retry counts again).
        self.writes: Counter[tuple[str, str]] = Counter()
        self.batches: list[list[tuple[str, str]]] = []
        self.put_calls = 0
        self.update_calls = 0
        self.delete_calls = 0
        self.deleted: list[tuple[str, str]] = []
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
        deletes = [r["DeleteRequest"]["Key"] for r in requests if "DeleteRequest" in r]
        requests = [r for r in requests if "PutRequest" in r]
        if deletes:  # older versions' items (versions.py)
            with self.lock:
                self.delete_calls += 1
                self.deleted.extend(item_key(key) for key in deletes)
                if self.always_error is not None:
                    raise self.always_error
                for key in deletes:
                    self.items.pop(item_key(key), None)
            if not requests:
                return {"UnprocessedItems": {}}
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
                raise client_error("ValidationException", "BatchWriteItem", "One or more parameter values were invalid")
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
                self.writes[item_key(item)] += 1
            return {"UnprocessedItems": {table: unprocessed} if unprocessed else {}}

    def put_item(self, **request: Any) -> dict[str, Any]:
        assert set(request) == {"TableName", "Item"}
        with self.lock:
            self.put_calls += 1
            if self.always_error is not None:
                raise self.always_error
            item = request["Item"]
            if self.invalid(item):
                raise client_error("ValidationException", "PutItem", "One or more parameter values were invalid")
            self.items[item_key(item)] = item
            self.writes[item_key(item)] += 1
            return {}

    def update_item(self, **request: Any) -> dict[str, Any]:
        """The head-item updates of versions.py (SET clauses, simple conditions)."""
        key = item_key(request["Key"])
        values = request.get("ExpressionAttributeValues", {})
        names = request.get("ExpressionAttributeNames", {})
        with self.lock:
            self.update_calls += 1
            if self.always_error is not None:
                raise self.always_error
            old = self.heads.get(key)
            condition = request.get("ConditionExpression")
            if condition and not any(_holds(term, old, values) for term in condition.split(" OR ")):
                raise client_error("ConditionalCheckFailedException", "UpdateItem", "The conditional request failed")
            new = dict(old or request["Key"])
            assignments = request["UpdateExpression"].removeprefix("SET ")
            for clause in re.split(r",\s*(?![^()]*\))", assignments):
                name, value = (part.strip() for part in clause.split("=", 1))
                name = names.get(name, name)
                default = re.fullmatch(r"if_not_exists\((\w+), (:\w+)\)", value)
                if default is not None:
                    new[name] = new.get(default.group(1)) or values[default.group(2)]
                else:
                    new[name] = values[value]
            self.heads[key] = new
            return {"Attributes": old} if old and request.get("ReturnValues") == "ALL_OLD" else {}

    def get_item(self, **request: Any) -> dict[str, Any]:
        item = self.heads.get(item_key(request["Key"]))
        return {"Item": item} if item is not None else {}

    def query(self, **request: Any) -> dict[str, Any]:
        assert request["KeyConditionExpression"] == "PK = :pk"
        pk = request["ExpressionAttributeValues"][":pk"]["S"]
        return {"Items": [{"PK": {"S": p}, "SK": {"S": sk}} for (p, sk) in sorted(self.items) if p == pk]}

    def partition(self, pk: str) -> dict[str, Item]:
        return {sk: item for (p, sk), item in self.items.items() if p == pk}

    def object_records(self, bucket: str, key: str) -> dict[str, Item]:
        """The generated records of an object, from every partition they are spread over, by SK."""
        pks = {record_pk(bucket, key, shard) for shard in range(1024)}
        return {sk: item for (p, sk), item in sorted(self.items.items(), key=lambda kv: kv[0][1]) if p in pks}


@dataclass
class SentMessage:
    queue_url: str
    body: str
    attributes: dict[str, str]
    message_id: str = ""


class FakeSQS:
    """``send_message`` to the DLQ or the main queue (continuations); ``get_queue_url``."""

    def __init__(self) -> None:
        self.sent: list[SentMessage] = []
        self.fail: Exception | None = None
        #: Raised by sends to any queue but the DLQ (continuation messages).
        self.fail_continuations: Exception | None = None
        self.fail_lookup: Exception | None = None
        self.lookups: list[dict[str, Any]] = []
        self.visibility_calls: list[dict[str, Any]] = []
        self.visibility_error: Exception | None = None

    def get_queue_url(self, **request: Any) -> dict[str, Any]:
        assert set(request) == {"QueueName", "QueueOwnerAWSAccountId"}, request
        self.lookups.append(request)
        if self.fail_lookup is not None:
            raise self.fail_lookup
        return {
            "QueueUrl": f"https://sqs.us-east-1.amazonaws.com/{request['QueueOwnerAWSAccountId']}/{request['QueueName']}"
        }

    @property
    def dead_letters(self) -> list[SentMessage]:
        return [m for m in self.sent if m.queue_url == DLQ_URL]

    @property
    def continuations(self) -> list[SentMessage]:
        return [m for m in self.sent if m.queue_url != DLQ_URL]

    def change_message_visibility(self, **request: Any) -> dict[str, Any]:
        assert set(request) == {"QueueUrl", "ReceiptHandle", "VisibilityTimeout"}, request
        if self.visibility_error is not None:
            raise self.visibility_error
        self.visibility_calls.append(request)
        return {}

    def send_message(self, **request: Any) -> dict[str, Any]:
        assert set(request) <= {"QueueUrl", "MessageBody", "MessageAttributes"}
        if self.fail is not None:
            raise self.fail
        if self.fail_continuations is not None and request["QueueUrl"] != DLQ_URL:
            raise self.fail_continuations
        body = request["MessageBody"]
        assert isinstance(body, str)
        assert body, "SQS refuses empty bodies"
        attributes = {}
        for name, value in request.get("MessageAttributes", {}).items():
            assert value["DataType"] == "String"
            assert value["StringValue"], f"empty attribute {name}"
            attributes[name] = value["StringValue"]
        prefix = "dlq" if request["QueueUrl"] == DLQ_URL else "cont"
        message_id = f"{prefix}-{len(self.sent) + 1}"
        self.sent.append(SentMessage(request["QueueUrl"], body, attributes, message_id))
        return {"MessageId": message_id}


@dataclass
class World:
    """The fakes wired into the handler's Dependencies."""

    s3: FakeS3
    dynamodb: FakeDynamoDB
    sqs: FakeSQS
    clock: FakeClock
    settings: Settings
    _deps: Dependencies | None = field(default=None, repr=False)

    @property
    def deps(self) -> Dependencies:
        """Built once, like the handler's per-container dependencies (its queue URL cache too)."""
        if self._deps is None or self._deps.settings is not self.settings:
            self._deps = Dependencies(
                settings=self.settings,
                s3=self.s3,  # type: ignore[arg-type]
                dynamodb=self.dynamodb,  # type: ignore[arg-type]
                sqs=self.sqs,  # type: ignore[arg-type]
                sleep=self.clock.sleep,
                random=lambda: 0.5,
                clock=self.clock,
            )
        return self._deps

    def context(self, budget_ms: int = 300_000) -> FakeContext:
        return FakeContext(self.clock, budget_ms)


DLQ_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/ingest-dlq"
#: The main queue (``s3pipe.strategies.DEFAULT_QUEUE_ARN``, the ``eventSourceARN`` of ``sqs_record``) and its URL.
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/ingest"


def make_world(**settings: Any) -> World:
    base: dict[str, Any] = {"table_name": "events", "dlq_url": DLQ_URL, "write_concurrency": 1}
    base.update(settings)
    world = World(FakeS3(), FakeDynamoDB("events"), FakeSQS(), FakeClock(), Settings(**base))
    world.s3.clock = world.clock
    return world


def read_timeout() -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url="https://s3.example")


def all_keys(items: Iterable[Item]) -> set[tuple[str, str]]:
    return {item_key(i) for i in items}


def _holds(term: str, item: Item | None, values: dict[str, Any]) -> bool:
    """One term of a ConditionExpression: ``attribute_not_exists(a)`` or ``a <op> :v``."""
    missing = re.fullmatch(r"attribute_not_exists\((\w+)\)", term.strip())
    if missing is not None:
        return item is None or missing.group(1) not in item
    name, op, placeholder = term.split()
    if item is None or name not in item:
        return False
    ((kind, mine),) = item[name].items()
    theirs = values[placeholder][kind]
    left, right = (int(mine), int(theirs)) if kind == "N" else (mine, theirs)
    return {"=": left == right, "<": left < right, "<=": left <= right}[op]
