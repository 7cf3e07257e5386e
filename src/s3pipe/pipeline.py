"""Test-facing helpers: upload into the test's own prefix, then wait for what the pipeline did.

Two kinds. Generic helpers work with any handler: ``upload``, ``send_message``, ``settle``,
``eventually``, ``query``/``scan``/``get_item``, ``dlq_messages``/``dlq_entries_for``, ``purge``.
Helpers that read the shipped handler's structured log events (``wait_for``, ``wait_for_all``,
``items_for``, ``rejections_for``, ``trace``, the message waits) say so, and fail with
:class:`~s3pipe.errors.HandlerEventsMissing` when the function runs without writing any.

Every wait polls with a deadline and, when the deadline passes, fails with what was seen (for our
handler: S3 event -> SQS message -> invocations with receive counts -> items or DLQ, and the
function's log lines for that object), and, whatever the handler, what the function did since the
wait began: its invocations with their outcome (init error, exception and traceback, timeout,
success), the queue and the DLQ (:mod:`s3pipe.invocations`). When every invocation since the wait
began failed with the same init error, the wait stops at once with that error. No sleeps as
synchronisation.
"""

from __future__ import annotations

import gzip as gzip_module
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer

from s3pipe.contract import (  # noqa: F401 -- RETRY_EVENTS, TERMINAL_EVENTS, rejection_pk: re-exported
    EVENT_OBJECT_DEAD_LETTERED,
    HEAD_SK,
    RETRY_EVENTS,
    TERMINAL_EVENTS,
    head_pk,
    record_pk,
    rejection_pk,
    source_pk,
)
from s3pipe.errors import HandlerEventsMissing, SettleTimeout
from s3pipe.observe import DlqEntry, LogLine, QueueDepth, wait_until_drained
from s3pipe.observe import StackObserver as StackObserver  # noqa: PLC0414 - re-exported from its old home
from s3pipe.stack import Stack

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

DEFAULT_TIMEOUT = 60.0
#: How long a message the handler dead-lettered may wait for its ``object_dead_lettered`` log line. The line
#: usually follows within milliseconds, but an emulator can drop the tail of an invocation's log output:
#: after this the DLQ message itself (FailureClass, FailureReason) is the outcome.
DEAD_LETTER_LOG_GRACE = 5.0
_POLL_INTERVAL = 0.1

T = TypeVar("T")
_deserializer = TypeDeserializer()


def plain_item(item: Mapping[str, AttributeValueTypeDef]) -> dict[str, Any]:
    """DynamoDB wire format -> Python values (numbers as Decimal)."""
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    version_id: str | None
    etag: str
    size: int
    ordinal: int
    uploaded_at: float

    def __str__(self) -> str:
        version = f" version {self.version_id}" if self.version_id else ""
        return f"s3://{self.bucket}/{self.key}{version} ({self.size} bytes, upload #{self.ordinal} of this key)"


@dataclass(frozen=True)
class ObjectOutcome:
    upload: Upload
    event: str
    fields: Mapping[str, Any]
    lines: Sequence[LogLine] = field(default=())


def poll_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    describe: Callable[[], str],
    what: str,
    interval: float = _POLL_INTERVAL,
    guard: Callable[[], None] | None = None,
) -> T:
    """Call ``check`` until it returns a value or the deadline passes; then fail with ``describe()``.

    ``guard`` runs between polls and may end the wait early by raising (a function that cannot start).
    """
    __tracebackhide__ = True  # pytest shows the test's line, not the harness's
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise SettleTimeout(f"{what} not seen within {timeout:.0f} s\n{describe()}")
        if guard is not None:
            guard()
        time.sleep(interval)


def eventually(
    check: Callable[[], T],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = _POLL_INTERVAL,
    what: str = "the condition",
    guard: Callable[[], None] | None = None,
    report: Callable[[], str] | None = None,
) -> T:
    """Call ``check`` until it returns without an ``AssertionError``; return what it returned.

    Works with any handler: put the assertions about the pipeline's effects in ``check``. When the
    deadline passes, fails with the last assertion's message (and ``report()``, when given). ``guard``
    runs between attempts and may end the wait early by raising.
    """
    __tracebackhide__ = True  # pytest shows the test's line, not the harness's
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            return check()
        except AssertionError as error:
            if time.monotonic() >= deadline:
                extra = f"\n{report()}" if report is not None else ""
                raise SettleTimeout(
                    f"{what} did not hold within {timeout:.0f} s ({attempts} attempts); last failure:\n{error}{extra}"
                ) from error
        if guard is not None:
            guard()
        time.sleep(interval)


class Pipeline:
    """Per-test helper: a key prefix of its own, uploads, waits, lookups and traces."""

    def __init__(self, stack: Stack, observer: StackObserver, prefix: str) -> None:
        self.stack = stack
        self.observer = observer
        self.prefix = prefix
        self._ordinals: dict[str, int] = {}
        #: DLQ message id -> when it was first seen without the handler's log line for it.
        self._dead_letters_seen: dict[str, float] = {}

    @property
    def bucket(self) -> str:
        return self.stack.outputs.bucket_name

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    # ------------------------------------------------------------------ inputs
    def upload(self, name: str, body: bytes | str, *, gzip: bool = False) -> Upload:
        """Put an object under the test's prefix (``name`` may contain '/', spaces, Unicode...)."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        if gzip:
            data = gzip_module.compress(data, mtime=0)
        key = self.key(name)
        response = self.stack.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        self._ordinals[key] = self._ordinals.get(key, 0) + 1
        return Upload(
            bucket=self.bucket,
            key=key,
            version_id=response.get("VersionId") or None,
            etag=str(response.get("ETag", "")).strip('"'),
            size=len(data),
            ordinal=self._ordinals[key],
            uploaded_at=time.time(),
        )

    def send_message(self, body: str) -> str:
        """Send a raw message to the pipeline's queue (bodies S3 would never send)."""
        return self.stack.sqs.send_message(QueueUrl=self.stack.outputs.queue_url, MessageBody=body)["MessageId"]

    # ------------------------------------------------------------------ waits
    def eventually(self, check: Callable[[], T], *, timeout: float = DEFAULT_TIMEOUT, what: str = "the condition") -> T:
        """Retry ``check`` until its assertions hold (any handler); see :func:`eventually`. A failure adds what
        the function did meanwhile; a function that cannot start ends the wait at once."""
        __tracebackhide__ = True  # pytest shows the test's line, not the harness's
        watch = self.observer.watch()
        return eventually(check, timeout=timeout, what=what, guard=watch.raise_if_broken, report=watch.report)

    def _poll_until(
        self, check: Callable[[], T | None], *, timeout: float, describe: Callable[[], str], what: str
    ) -> T:
        """:func:`poll_until` watching the function: the failure says what it did, a broken one ends the wait."""
        __tracebackhide__ = True  # pytest shows the test's line, not the harness's
        watch = self.observer.watch()
        return poll_until(
            check,
            timeout=timeout,
            describe=lambda: f"{describe()}\n{watch.report()}",
            what=what,
            guard=watch.raise_if_broken,
        )

    def _require_handler_events(self, helper: str) -> None:
        """Fail at once when invocations finished without any of the shipped handler's events."""
        if not self.observer.handler_events_seen() and (invocations := self.observer.invocations_seen()):
            raise HandlerEventsMissing.for_helper(helper, invocations, self.stack.outputs.log_group_name)

    def _outcome(self, upload: Upload) -> ObjectOutcome | None:
        self.observer.refresh()
        self._require_handler_events("wait_for")
        return self._outcome_in(upload, self.observer.object_lines(upload.bucket, upload.key))

    def _outcome_in(self, upload: Upload, lines: list[LogLine]) -> ObjectOutcome | None:
        """The upload's final outcome in these lines (its object's) and the DLQ journal, if it has one yet."""
        terminal = [line for line in lines if line.event in TERMINAL_EVENTS]
        # Match by version id when the events carry one; otherwise by upload order (the n-th upload of a key
        # ends with the n-th final line for it).
        by_version = upload.version_id is not None and any(
            line.fields and line.fields.get("version_id") for line in terminal
        )
        if by_version:
            terminal = [line for line in terminal if line.fields and line.fields.get("version_id") == upload.version_id]
        needed = 1 if by_version else upload.ordinal
        if len(terminal) < needed:
            return self._outcome_from_dlq(upload, lines, needed - len(terminal))
        chosen = terminal[needed - 1]
        return ObjectOutcome(upload, str(chosen.event), dict(chosen.fields or {}), lines)

    def _outcome_from_dlq(self, upload: Upload, lines: list[LogLine], missing: int) -> ObjectOutcome | None:
        """An outcome the DLQ shows while the log does not (yet): an SQS redrive, or a message the handler
        dead-lettered itself whose log line has not come within :data:`DEAD_LETTER_LOG_GRACE`."""
        entries = self.observer.dlq.for_object(upload.bucket, upload.key)
        if len(entries) < missing:  # >= 1: terminal is short
            return None
        entry = entries[-1]
        if entry.failure_class == "redriven":
            return ObjectOutcome(upload, "redriven", {"reason": entry.reason}, lines)
        first_seen = self._dead_letters_seen.setdefault(entry.message_id, time.monotonic())
        if time.monotonic() - first_seen < DEAD_LETTER_LOG_GRACE:
            return None  # its log line normally follows: the invocation's output is flushed when it ends
        fields = {"reason": entry.reason, "failure_class": entry.failure_class, "dlq_message_id": entry.message_id}
        return ObjectOutcome(upload, EVENT_OBJECT_DEAD_LETTERED, fields, lines)

    def wait_for(self, upload: Upload, timeout: float = DEFAULT_TIMEOUT) -> ObjectOutcome:
        """Wait until the function has finished with this upload (stored, partly stored, DLQ or ignored).

        Reads the shipped handler's log events (``object_stored``...); with another handler use
        :meth:`eventually` or :meth:`settle`.
        """
        return self._poll_until(
            lambda: self._outcome(upload),
            timeout=timeout,
            describe=lambda: self.trace(upload),
            what=f"a final outcome for {upload}",
        )

    def wait_for_all(self, uploads: Sequence[Upload], timeout: float = DEFAULT_TIMEOUT) -> list[ObjectOutcome]:
        """:meth:`wait_for` for many uploads at once: one log read per poll (the shipped handler's events)."""
        outcomes: dict[int, ObjectOutcome] = {}

        def check() -> list[ObjectOutcome] | None:
            self.observer.refresh()
            self._require_handler_events("wait_for_all")
            by_object = self.observer.lines_by_object()
            for index, upload in enumerate(uploads):
                if index not in outcomes:
                    outcome = self._outcome_in(upload, by_object.get((upload.bucket, upload.key), []))
                    if outcome is not None:
                        outcomes[index] = outcome
            return [outcomes[i] for i in range(len(uploads))] if len(outcomes) == len(uploads) else None

        def describe() -> str:
            waiting = [upload for index, upload in enumerate(uploads) if index not in outcomes]
            return f"{len(waiting)} of {len(uploads)} uploads still without an outcome; the first:\n" + self.trace(
                waiting[0]
            )

        return self._poll_until(
            check, timeout=timeout, describe=describe, what=f"final outcomes for {len(uploads)} uploads"
        )

    def settle(self, timeout: float = DEFAULT_TIMEOUT) -> QueueDepth:
        """Wait until the queue is drained and nothing is in flight (any handler)."""
        watch = self.observer.watch()
        drained, depth = wait_until_drained(
            self.stack.sqs, self.stack.outputs.queue_url, timeout=timeout, guard=watch.raise_if_broken
        )
        if not drained:
            raise SettleTimeout(f"queue not drained within {timeout:.0f} s: {depth}\n{watch.report()}")
        self.observer.refresh()
        return depth

    def wait_for_queue_depth(self, visible: int, timeout: float = DEFAULT_TIMEOUT) -> QueueDepth:
        """Wait until at least ``visible`` messages wait in the queue (e.g. while the mapping is paused)."""

        def check() -> QueueDepth | None:
            depth = self.observer.depth()
            return depth if depth.visible >= visible else None

        return self._poll_until(
            check,
            timeout=timeout,
            describe=lambda: f"queue now: {self.observer.depth()}",
            what=f"{visible} visible messages in {self.stack.outputs.queue_name}",
        )

    # ------------------------------------------------------------------ lookups
    def items_for(self, upload: Upload, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        """The items the shipped handler generated from this object (after it settled), in entry order."""
        self.wait_for(upload, timeout)
        return self.object_items(upload.bucket, upload.key)

    def object_items(self, bucket: str, key: str) -> list[dict[str, Any]]:
        """The generated records of ``s3://bucket/key`` in entry order: the one documented way to read
        them. They are spread over the partitions the object's head names (``shards``), round-robin by
        ordinal, so the merge of one Query per partition by SK (``REC#<ordinal>``) is the file's order."""
        head = self.get_item(head_pk(bucket, key), HEAD_SK)
        shards = int(head.get("shards", 1)) if head else 1
        parts = [self.query(record_pk(bucket, key, shard)) for shard in range(shards)]
        return sorted((item for part in parts for item in part), key=lambda item: str(item["SK"]))

    def rejections_for(self, upload: Upload, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        """The shipped handler's rejected-line report items of this object, ordered by line."""
        self.wait_for(upload, timeout)
        return self.query(rejection_pk(upload.bucket, upload.key))

    def dlq_entries_for(self, upload: Upload, timeout: float = DEFAULT_TIMEOUT) -> list[DlqEntry]:
        """DLQ entries whose S3 event names this object; waits until at least one arrived (any handler)."""

        def check() -> list[DlqEntry] | None:
            self.observer.dlq.poll()  # the DLQ only: no log read (CloudWatch Logs has a quota on AWS)
            return self.observer.dlq.for_object(upload.bucket, upload.key) or None

        return self._poll_until(
            check, timeout=timeout, describe=lambda: self._trace_any(upload), what=f"a DLQ entry for {upload}"
        )

    def dlq_messages(self, at_least: int = 0, timeout: float = DEFAULT_TIMEOUT) -> list[DlqEntry]:
        """Every message the DLQ received so far (any handler); waits until there are ``at_least``.

        The messages are read (and deleted) once and kept for the session: the list is not limited
        to this test's uploads; filter with :meth:`DlqEntry.concerns` or use :meth:`dlq_entries_for`.
        """

        def check() -> list[DlqEntry] | None:
            self.observer.dlq.poll()
            entries = self.observer.dlq.entries
            return entries if len(entries) >= at_least else None

        return self._poll_until(
            check,
            timeout=timeout,
            describe=lambda: f"DLQ messages seen: {len(self.observer.dlq.entries)}; queue now: {self.observer.depth()}",
            what=f"{at_least} DLQ messages",
        )

    def dlq_entries_for_message(self, message_id: str, timeout: float = DEFAULT_TIMEOUT) -> list[DlqEntry]:
        def check() -> list[DlqEntry] | None:
            self.observer.dlq.poll()
            return self.observer.dlq.for_message(message_id) or None

        return self._poll_until(
            check,
            timeout=timeout,
            describe=lambda: self.describe_message(message_id),
            what=f"DLQ entry for {message_id}",
        )

    def message_lines(self, message_id: str) -> list[LogLine]:
        self.observer.refresh()
        return [
            line
            for line in self.observer.logs.structured()
            if line.fields and line.fields.get("message_id") == message_id
        ]

    def wait_for_message_event(self, message_id: str, events: set[str], timeout: float = DEFAULT_TIMEOUT) -> LogLine:
        def check() -> LogLine | None:
            return next((line for line in self.message_lines(message_id) if line.event in events), None)

        return self._poll_until(
            check,
            timeout=timeout,
            describe=lambda: self.describe_message(message_id),
            what=f"one of {sorted(events)} for message {message_id}",
        )

    def _pages(self, operation: str, **kwargs: Any) -> Iterator[list[dict[str, AttributeValueTypeDef]]]:
        """Every page of a consistent Query or Scan of the stack's table (wire-format items)."""
        request: dict[str, Any] = {"TableName": self.stack.outputs.table_name, "ConsistentRead": True, **kwargs}
        call = getattr(self.stack.dynamodb, operation)
        while True:
            response = call(**request)
            yield response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def query(self, pk: str) -> list[dict[str, Any]]:
        """Every item under partition key value ``pk`` (a string key, any attribute name), ordered by sort key."""
        partition, _sort = self.observer.table_keys()
        pages = self._pages(
            "query",
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": partition},
            ExpressionAttributeValues={":pk": {"S": pk}},
        )
        return [plain_item(item) for page in pages for item in page]

    def scan(self, source_prefix: str | None = None) -> list[dict[str, Any]]:
        """Every item of the table; ``source_prefix``: only the shipped handler's items whose source key starts so."""
        kwargs: dict[str, Any] = {}
        if source_prefix is not None:
            kwargs = {
                "FilterExpression": "begins_with(src_key, :p)",
                "ExpressionAttributeValues": {":p": {"S": source_prefix}},
            }
        return [plain_item(item) for page in self._pages("scan", **kwargs) for item in page]

    def get_item(self, pk: str, sk: str | None = None) -> dict[str, Any] | None:
        """One item by its (string) key values, or None; ``sk`` for tables with a sort key."""
        partition, sort = self.observer.table_keys()
        key: dict[str, Any] = {partition: {"S": pk}}
        if sort is not None:
            if sk is None:
                raise TypeError(f"the table's key has a sort key {sort!r}: pass sk=")
            key[sort] = {"S": sk}
        response = self.stack.dynamodb.get_item(TableName=self.stack.outputs.table_name, Key=key, ConsistentRead=True)
        item = response.get("Item")
        return plain_item(item) if item else None

    # ------------------------------------------------------------------ housekeeping
    def purge(self) -> None:
        """Empty both queues and the table (for tests that need a clean slate)."""
        for url in (self.stack.outputs.queue_url, self.stack.outputs.dlq_url):
            self.stack.sqs.purge_queue(QueueUrl=url)
        table = self.stack.outputs.table_name
        names = [name for name in self.observer.table_keys() if name is not None]
        projection = {"ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(names)))}
        projection_names = {f"#k{i}": name for i, name in enumerate(names)}
        for keys in self._pages("scan", **projection, ExpressionAttributeNames=projection_names):
            for start in range(0, len(keys), 25):
                requests = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]
                self.stack.dynamodb.batch_write_item(RequestItems={table: requests})  # type: ignore[dict-item]
        self.observer.refresh()

    # ------------------------------------------------------------------ traces
    def _trace_any(self, upload: Upload) -> str:
        """The shipped handler's trace of the upload when it runs; otherwise what is known whatever the handler."""
        self.observer.refresh()
        if self.observer.handler_events_seen():
            return self.trace(upload)
        return f"no DLQ entry names {upload} yet ({len(self.observer.dlq.entries)} DLQ message(s) this session)"

    def trace(self, upload: Upload) -> str:
        """What was seen for this object, step by step, with its log lines (the shipped handler's events)."""
        self.observer.refresh()
        lines = self.observer.logs.for_object(upload.bucket, upload.key)
        uploaded = datetime.fromtimestamp(upload.uploaded_at, UTC).strftime("%H:%M:%S.%f")[:-3]
        out = [f"trace of {upload}, uploaded {uploaded} UTC"]
        structured = [line for line in lines if line.fields is not None]
        if not structured:
            out.append("  S3 event -> SQS -> function: the function never logged this object")
        for line in structured:
            fields = dict(line.fields or {})
            summary = ", ".join(
                f"{name}={fields[name]}"
                for name in ("stored", "rejected", "records", "reason", "error")
                if name in fields
            )
            out.append(
                f"  SQS message {fields.get('message_id', '?')} (receive {fields.get('receive_count', '?')}) -> "
                f"invocation {fields.get('aws_request_id', '?')}: {line.event}" + (f" ({summary})" if summary else "")
            )
        items = self.query(source_pk(upload.bucket, upload.key))
        rejections = self.query(rejection_pk(upload.bucket, upload.key))
        out.append(
            f"  items under {source_pk(upload.bucket, upload.key)}: {len(items)}; rejection reports: {len(rejections)}"
        )
        dlq = self.observer.dlq.for_object(upload.bucket, upload.key)
        out.append("  DLQ: " + ("; ".join(f"{e.message_id}: {e.reason}" for e in dlq) if dlq else "nothing"))
        out.append(f"  queue now: {self.observer.depth()}")
        out.append("  function log lines for this object:")
        out.extend(f"    {line.message}" for line in lines[-40:]) if lines else out.append("    (none)")
        return "\n".join(out)

    def describe_message(self, message_id: str) -> str:
        lines = self.message_lines(message_id)
        out = [f"trace of SQS message {message_id}"]
        out.extend(f"    {line.message}" for line in lines[-40:]) if lines else out.append("    (no log lines)")
        out.append(f"  DLQ entries seen: {len(self.observer.dlq.entries)}; queue now: {self.observer.depth()}")
        return "\n".join(out)
