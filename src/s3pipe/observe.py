"""Watching a deployed stack from the outside: the function's log lines, the DLQ, the queue depth.

Everything here reads through the same AWS APIs a person would use (CloudWatch Logs,
SQS), so it works on every backend. Readers are incremental: each poll fetches only what
is new since the last one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from s3pipe.aws.pacing import THROTTLING_CODES
from s3pipe.invocations import EmulatorLogInvocations, FunctionWatch, InvocationReader, LogGroupInvocations

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_sqs import SQSClient

    from s3pipe.stack import Stack


#: How far back each poll re-reads, to catch events delivered after later ones (de-duplicated by identity).
LATE_EVENT_LOOKBACK_MS = 60_000
#: A wait reads the function's invocations from a log group at most this often (an emulator without a log
#: file of its own is spared reads at the wait's 0.1 s pace; on AWS the stack's log reads are paced anyway).
REMOTE_LOG_INTERVAL = 1.0


@dataclass(frozen=True)
class LogLine:
    timestamp: int
    stream: str
    message: str
    fields: Mapping[str, Any] | None = None

    @property
    def event(self) -> str | None:
        if self.fields is None:
            return None
        value = self.fields.get("event")
        return str(value) if value is not None else None


def _parse_json_line(message: str) -> Mapping[str, Any] | None:
    text = message.strip()
    if not text.startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class FunctionLogs:
    """Incremental reader of the function's CloudWatch log group."""

    def __init__(self, client: CloudWatchLogsClient, group: str, min_interval: float = 0.0) -> None:
        self.client = client
        self.group = group
        #: A poll sooner than this after the previous one reads nothing (every reader of the log shares one read).
        self.min_interval = min_interval
        self._lines: list[LogLine] = []
        self._seen: set[tuple[str, int, str]] = set()
        self._cursor = 0
        self._polled: float | None = None
        #: Polls cut short by CloudWatch Logs' quota (the client paces itself and slows down).
        self.throttled = 0

    def poll(self) -> list[LogLine]:
        now = time.monotonic()
        if self._polled is not None and now - self._polled < self.min_interval:
            return []
        self._polled = now
        new: list[LogLine] = []
        # Start a little before the newest event seen: concurrent invocations deliver their lines late
        # (an emulator flushes a worker's log when the invocation ends), with earlier timestamps.
        start = max(0, self._cursor - LATE_EVENT_LOOKBACK_MS)
        pages = self.client.get_paginator("filter_log_events").paginate(logGroupName=self.group, startTime=start)
        try:
            for page in pages:
                for event in page.get("events", []):
                    stream = str(event.get("logStreamName", ""))
                    timestamp = int(event.get("timestamp", 0))
                    message = str(event.get("message", "")).rstrip("\n")
                    identity = (stream, timestamp, str(event.get("eventId") or message))
                    if identity in self._seen:
                        continue
                    self._seen.add(identity)
                    new.append(LogLine(timestamp, stream, message, _parse_json_line(message)))
                    self._cursor = max(self._cursor, timestamp)
        except self.client.exceptions.ResourceNotFoundException:
            pass  # no invocation has logged yet
        except ClientError as error:  # throttled past the SDK's retries: keep what was read, the next poll goes on
            if error.response.get("Error", {}).get("Code") not in THROTTLING_CODES:
                raise
            self.throttled += 1
        new.sort(key=lambda line: line.timestamp)
        self._lines.extend(new)
        return new

    @property
    def lines(self) -> list[LogLine]:
        return list(self._lines)

    def structured(self) -> Iterator[LogLine]:
        return (line for line in self._lines if line.fields is not None)

    def for_object(self, bucket: str, key: str) -> list[LogLine]:
        """Structured lines about this object, plus unstructured lines (tracebacks) of the same invocations."""
        streams: set[str] = set()
        chosen: list[LogLine] = []
        for line in self._lines:
            if line.fields and line.fields.get("bucket") == bucket and line.fields.get("key") == key:
                streams.add(line.stream)
        for line in self._lines:
            if line.stream not in streams:
                continue
            if line.fields is None:
                if not line.message.startswith(("START", "END", "REPORT")):
                    chosen.append(line)
            elif line.fields.get("key") in (None, key):
                chosen.append(line)
        return chosen


@dataclass(frozen=True)
class DlqEntry:
    """A message found in the DLQ, with the reason when the handler routed it there itself."""

    message_id: str
    body: str
    attributes: Mapping[str, str]
    system_attributes: Mapping[str, str]
    objects: tuple[tuple[str, str], ...] = field(default=())

    @property
    def reason(self) -> str:
        explicit = self.attributes.get("FailureReason")
        if explicit:
            return explicit
        receives = self.system_attributes.get("ApproximateReceiveCount", "?")
        return f"redriven by SQS after {receives} receives (maxReceiveCount reached; see the function log)"

    @property
    def failure_class(self) -> str:
        return self.attributes.get("FailureClass", "redriven")

    def concerns(self, bucket: str, key: str) -> bool:
        if (bucket, key) in self.objects:
            return True
        return self.attributes.get("ObjectBucket") == bucket and self.attributes.get("ObjectKey") == key


def objects_in_s3_event(body: str) -> tuple[tuple[str, str], ...]:
    """(bucket, decoded key) of every record of an S3 event notification body; empty for anything else."""
    try:
        document = json.loads(body)
    except ValueError:
        return ()
    if not isinstance(document, dict):
        return ()
    records = document.get("Records")
    if isinstance(document.get("record"), dict):  # the handler's continuation message wraps one S3 record
        records = [document["record"]]
    found: list[tuple[str, str]] = []
    for record in records if isinstance(records, list) else []:
        s3 = _mapping(_mapping(record).get("s3"))
        bucket = _mapping(s3.get("bucket")).get("name")
        key = _mapping(s3.get("object")).get("key")
        if isinstance(bucket, str) and isinstance(key, str):
            found.append((bucket, unquote_plus(key)))
    return tuple(found)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


class DlqJournal:
    """Drains the DLQ into a local journal so tests can look entries up by object, any number of times."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url
        self._entries: dict[str, DlqEntry] = {}

    def poll(self) -> list[DlqEntry]:
        new: list[DlqEntry] = []
        while True:
            response = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            if not messages:
                return new
            for message in messages:
                attributes = {
                    name: str(value.get("StringValue", ""))
                    for name, value in (message.get("MessageAttributes") or {}).items()
                }
                body = str(message.get("Body", ""))
                entry = DlqEntry(
                    message_id=str(message["MessageId"]),
                    body=body,
                    attributes=attributes,
                    system_attributes={k: str(v) for k, v in (message.get("Attributes") or {}).items()},
                    objects=objects_in_s3_event(body),
                )
                if entry.message_id not in self._entries:
                    self._entries[entry.message_id] = entry
                    new.append(entry)
                self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    @property
    def entries(self) -> list[DlqEntry]:
        return list(self._entries.values())

    def for_object(self, bucket: str, key: str) -> list[DlqEntry]:
        return [entry for entry in self._entries.values() if entry.concerns(bucket, key)]

    def for_message(self, message_id: str) -> list[DlqEntry]:
        """The message itself (redriven by SQS) or what the handler dead-lettered from it."""
        return [
            entry
            for entry in self._entries.values()
            if entry.message_id == message_id or entry.attributes.get("SourceMessageId") == message_id
        ]


@dataclass(frozen=True)
class QueueDepth:
    visible: int
    in_flight: int
    delayed: int

    @property
    def empty(self) -> bool:
        return self.visible == 0 and self.in_flight == 0 and self.delayed == 0

    def __str__(self) -> str:
        return f"visible={self.visible} in_flight={self.in_flight} delayed={self.delayed}"


def queue_depth(client: SQSClient, queue_url: str) -> QueueDepth:
    attributes = client.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    ).get("Attributes", {})
    return QueueDepth(
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


def wait_until_drained(
    client: SQSClient,
    queue_url: str,
    *,
    timeout: float,
    quiet_polls: int = 3,
    interval: float = 0.1,
    guard: Callable[[], None] | None = None,
) -> tuple[bool, QueueDepth]:
    """Poll until the queue shows nothing visible, in flight or delayed for ``quiet_polls`` polls in a row.

    ``guard`` is called between polls and may end the wait early by raising (a function that cannot start).
    """
    deadline = time.monotonic() + timeout
    quiet = 0
    depth = queue_depth(client, queue_url)
    while True:
        quiet = quiet + 1 if depth.empty else 0
        if quiet >= quiet_polls:
            return True, depth
        if time.monotonic() >= deadline:
            return False, depth
        if guard is not None:
            guard()
        time.sleep(interval)
        depth = queue_depth(client, queue_url)


def table_key_names(client: DynamoDBClient, table: str) -> tuple[str, str | None]:
    """A table's partition and sort key attribute names (DescribeTable)."""
    schema = {
        key["KeyType"]: key["AttributeName"] for key in client.describe_table(TableName=table)["Table"]["KeySchema"]
    }
    return schema["HASH"], schema.get("RANGE")


# ---------------------------------------------------------------------------- a whole stack


class StackObserver:
    """Session-wide readers of the stack's function log and DLQ (shared by all tests of a worker)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.logs = FunctionLogs(stack.logs, stack.outputs.log_group_name, stack.log_read_interval)
        self.dlq = DlqJournal(stack.sqs, stack.outputs.dlq_url)
        self._table_keys: tuple[str, str | None] | None = None
        self._handler_events = False

    def table_keys(self) -> tuple[str, str | None]:
        """The table's partition and sort key attribute names (one DescribeTable per session)."""
        if self._table_keys is None:
            self._table_keys = table_key_names(self.stack.dynamodb, self.stack.outputs.table_name)
        return self._table_keys

    def handler_events_seen(self) -> bool:
        """Whether the function wrote any structured event line (``{"event": ...}``) so far."""
        if not self._handler_events:
            self._handler_events = any(line.event is not None for line in self.logs.structured())
        return self._handler_events

    def invocations_seen(self) -> int:
        """Finished invocations in the log (the runtime's ``REPORT RequestId`` lines), whatever the handler."""
        return sum(1 for line in self.logs.lines if line.message.startswith("REPORT RequestId"))

    def refresh(self) -> None:
        self.logs.poll()
        self.dlq.poll()

    def object_lines(self, bucket: str, key: str) -> list[LogLine]:
        return self.lines_by_object().get((bucket, key), [])

    def lines_by_object(self) -> dict[tuple[str, str], list[LogLine]]:
        """Structured lines grouped by the object they concern, in log order (one pass over the log)."""
        grouped: dict[tuple[str, str], list[LogLine]] = {}
        for line in self.logs.structured():
            fields = line.fields or {}
            if "bucket" in fields and "key" in fields:
                grouped.setdefault((str(fields["bucket"]), str(fields["key"])), []).append(line)
        return grouped

    def depth(self) -> QueueDepth:
        return queue_depth(self.stack.sqs, self.stack.outputs.queue_url)

    def watch(self) -> FunctionWatch:
        """What the function does from now on, whatever the handler (for one wait): see :mod:`s3pipe.invocations`."""
        function = self.stack.outputs.function_name
        if self.stack.emulator_log:
            reader: InvocationReader = EmulatorLogInvocations(Path(self.stack.emulator_log), function)
            return FunctionWatch(function, reader, self.surroundings)
        reader = LogGroupInvocations(self.logs, since_ms=int(time.time() * 1000))
        return FunctionWatch(function, reader, self.surroundings, min_interval=REMOTE_LOG_INTERVAL)

    def surroundings(self) -> list[str]:
        """The queue and the DLQ now, for a failure report."""
        outputs = self.stack.outputs
        self.dlq.poll()
        entries = self.dlq.entries
        counts = [entry.system_attributes.get("ApproximateReceiveCount", "?") for entry in entries[-5:]]
        received = f" (receive counts of the newest: {', '.join(counts)})" if counts else ""
        return [
            f"queue {outputs.queue_name} now: {self.depth()}",
            f"DLQ {outputs.dlq_name}: {len(entries)} message(s) this session{received}",
        ]
