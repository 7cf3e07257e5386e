"""Batched writes to DynamoDB with BatchWriteItem.

* Items are collected in a *window* of ``25 x concurrency`` items, de-duplicated by (PK, SK)
  within the window (the last one wins: DynamoDB rejects a batch holding the same key twice),
  then split into batches of at most 25 and written (concurrently when ``concurrency`` > 1;
  keys are unique within a window, so the order of concurrent batches does not matter).
* ``UnprocessedItems`` are retried with exponential backoff and full jitter, bounded by the
  invocation's remaining time: when the budget runs out the write is a transient failure.
* A ``ValidationException`` from BatchWriteItem (something the item guards missed) falls back to
  PutItem one by one, to isolate the bad item(s): those become write rejections, the rest are stored.
* Throttling, 5xx and timeouts that survive botocore's own retries are transient failures.
* Progress is tracked by *ordinal* (the entry's 1-based position in its file, see
  :class:`Tag`): :meth:`BatchWriter.durable_through` is the highest ordinal N such that every
  entry added with an ordinal <= N has been written or refused -- entries still pending and
  entries of batches a failed flush could not write (UnprocessedItems included) hold it back.
  The ingest relies on this to continue an object in a later invocation (continuation.py).
  Late reports (:attr:`Tag.late`) are left out of it: ``late_written`` lists the ordinals of those
  that are durable, and the ingest carries the others into the continuation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from .errors import BudgetExhaustedError, TransientError, describe_aws_error, error_code, error_message
from .items import Item, item_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

BATCH_SIZE: Final = 25
DEFAULT_BACKOFF_BASE_S: Final = 0.05
DEFAULT_BACKOFF_CAP_S: Final = 5.0
#: Do not start a DynamoDB call with less than this much of the budget left.
MIN_CALL_BUDGET_MS: Final = 500


class Deadline:
    """The invocation's time budget: the Lambda context's remaining time minus a safety margin."""

    def __init__(self, remaining_ms: Callable[[], int], margin_ms: int) -> None:
        self._remaining_ms = remaining_ms
        self.margin_ms = margin_ms

    def remaining_ms(self) -> int:
        return self._remaining_ms() - self.margin_ms

    def expired(self) -> bool:
        return self.remaining_ms() <= 0


class Tag(NamedTuple):
    """What an item stands for, to report it when DynamoDB rejects it.

    ``ordinal`` is the entry's 1-based position in its file (0: not tracked for progress).
    """

    is_record: bool
    line: int
    ordinal: int
    array_element: bool = False
    #: A *late* report (of a record DynamoDB refused, added after later entries): it does not hold
    #: :meth:`BatchWriter.durable_through` back; the caller tracks it through ``late_written``.
    late: bool = False
    #: A *delete* of an older version's record at this ordinal (the entry is not a generated
    #: record in this version: rejected, or stored under its own keys). Dropped when the object's
    #: previous versions never reached this ordinal (see ``before_first_write``).
    delete: bool = False


@dataclass(frozen=True, slots=True)
class WriteRejection:
    """An item DynamoDB refused (ValidationException on PutItem)."""

    tag: Tag
    item: Item
    reason: str


@dataclass(frozen=True, slots=True)
class _BatchResult:
    stored_records: int
    stored_other: int
    rejected: list[WriteRejection]
    late_written: list[int]


class BatchWriter:
    """Accumulates items and writes them; counts what was stored and what DynamoDB refused."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        deadline: Deadline,
        *,
        concurrency: int = 1,
        executor: ThreadPoolExecutor | None = None,
        sleep: Callable[[float], None],
        random: Callable[[], float],
        backoff_base_s: float = DEFAULT_BACKOFF_BASE_S,
        backoff_cap_s: float = DEFAULT_BACKOFF_CAP_S,
        before_first_write: Callable[[], Callable[[int], str | None]] | None = None,
    ) -> None:
        self._client = client
        self._table = table_name
        self._deadline = deadline
        self._concurrency = max(1, concurrency) if executor is not None else 1
        self._executor = executor
        self._sleep = sleep
        self._random = random
        self._base = backoff_base_s
        self._cap = backoff_cap_s
        #: Called once, before the first write (the object's head claim: versions.py); returns
        #: where an older version's record of an entry is (None: nowhere, the delete is dropped).
        self._before_first_write = before_first_write
        self._old_record_pk: Callable[[int], str | None] = _nowhere
        self._window = BATCH_SIZE * self._concurrency
        self._pending: dict[tuple[str, str], tuple[Item, Tag]] = {}
        self._pending_deletes = 0
        self._lock = threading.Lock()
        self.stored_records = 0
        self.stored_other = 0
        self.superseded_records = 0
        self.calls = 0
        self.rejections: list[WriteRejection] = []
        #: Ordinals of the late reports (:attr:`Tag.late`) that are written.
        self.late_written: set[int] = set()
        #: Highest ordinal added so far.
        self.max_ordinal = 0
        #: Lowest ordinal among the entries a failed flush could not write (None: nothing lost).
        self._lost_min: int | None = None

    @property
    def stored_anything(self) -> bool:
        return self.stored_records > 0 or self.stored_other > 0

    def durable_through(self) -> int:
        """Highest ordinal N such that every entry added with an ordinal in 1..N is written (or
        refused, see ``rejections``); 0 when nothing is. Entries must be added in ordinal order
        (a refused record's report, added later with the record's ordinal, is the exception)."""
        low = self._lost_min
        for _, tag in self._pending.values():
            if tag.ordinal and not tag.late and (low is None or tag.ordinal < low):
                low = tag.ordinal
        return self.max_ordinal if low is None else low - 1

    def add(self, item: Item, tag: Tag) -> None:
        if tag.delete:
            if self._before_first_write is None and self._old_record_pk(tag.ordinal) is None:
                return  # older versions never reached this ordinal: nothing to delete
            self._pending_deletes += 1  # not counted in the window: batches stay as without them
        self.max_ordinal = max(self.max_ordinal, tag.ordinal)
        key = item_key(item)
        previous = self._pending.get(key)
        if previous is not None and previous[1].is_record:
            # The earlier record is superseded by this one: it counts as stored (its key holds
            # the last value), exactly as if it had been written and then overwritten.
            self.superseded_records += 1
        self._pending[key] = (item, tag)
        if len(self._pending) - self._pending_deletes >= self._window:
            self.flush()

    def flush(self) -> None:
        """Write everything pending; raises TransientError when that cannot be done now."""
        if not self._pending:
            return
        self._first_write()
        entries = self._take_pending()
        if not entries:
            return
        batches = [entries[i : i + BATCH_SIZE] for i in range(0, len(entries), BATCH_SIZE)]
        results: list[_BatchResult] = []
        failure: TransientError | None = None
        lost: list[list[tuple[Item, Tag]]] = []
        if self._executor is None or len(batches) == 1:
            for index, batch in enumerate(batches):
                try:
                    results.append(self._write_batch(batch))
                except TransientError as exc:  # the later batches are not attempted
                    failure = exc
                    lost = batches[index:]
                    break
        else:
            futures: list[Future[_BatchResult]] = [self._executor.submit(self._write_batch, b) for b in batches]
            for batch, future in zip(batches, futures, strict=True):
                try:
                    results.append(future.result())
                except TransientError as exc:
                    failure = failure or exc
                    lost.append(batch)
        for result in results:
            self.stored_records += result.stored_records
            self.stored_other += result.stored_other
            self.rejections.extend(result.rejected)
            self.late_written.update(result.late_written)
        if failure is not None:
            self._note_lost(lost)
            raise failure
        self.stored_records += self.superseded_records
        self.superseded_records = 0

    def _note_lost(self, lost: list[list[tuple[Item, Tag]]]) -> None:
        for batch in lost:
            for _, tag in batch:
                if tag.ordinal and not tag.late and (self._lost_min is None or tag.ordinal < self._lost_min):
                    self._lost_min = tag.ordinal

    def _take_pending(self) -> list[tuple[Item, Tag]]:
        """Empty the window; deletes beyond what older versions reached are dropped."""
        entries = list(self._pending.values())
        self._pending = {}
        if self._pending_deletes:
            entries = [resolved for entry in entries if (resolved := self._resolve(entry)) is not None]
        self._pending_deletes = 0
        return entries

    def _resolve(self, entry: tuple[Item, Tag]) -> tuple[Item, Tag] | None:
        """A delete's key (its partition is the older version's layout), or None to drop it."""
        item, tag = entry
        if not tag.delete:
            return entry
        pk = self._old_record_pk(tag.ordinal)
        return None if pk is None else ({"PK": {"S": pk}, "SK": item["SK"]}, tag)

    def _first_write(self) -> None:
        if self._before_first_write is not None:
            self._old_record_pk = self._before_first_write()  # may raise: nothing is written then
            self._before_first_write = None

    # ------------------------------------------------------------------------------------ batches

    def _check_budget(self, what: str) -> None:
        if self._deadline.remaining_ms() < MIN_CALL_BUDGET_MS:
            raise BudgetExhaustedError(f"time budget exhausted before {what}")

    def _write_batch(self, batch: list[tuple[Item, Tag]]) -> _BatchResult:
        by_key = {item_key(item): (item, tag) for item, tag in batch}
        remaining: list[Any] = [_request(item, tag) for item, tag in batch]
        attempt = 0
        rejected: list[WriteRejection] = []
        while True:
            self._check_budget(f"BatchWriteItem ({len(remaining)} items)")
            try:
                with self._lock:
                    self.calls += 1
                response = self._client.batch_write_item(RequestItems={self._table: remaining})
            except ClientError as exc:
                if error_code(exc) == "ValidationException":
                    pending_keys = [_request_key(req) for req in remaining]
                    rejected = self._isolate([by_key[k] for k in pending_keys])
                    break
                raise TransientError(f"DynamoDB BatchWriteItem failed: {describe_aws_error(exc)}") from exc
            except BotoCoreError as exc:
                raise TransientError(f"DynamoDB BatchWriteItem failed: {describe_aws_error(exc)}") from exc
            unprocessed = response.get("UnprocessedItems", {}).get(self._table, [])
            if not unprocessed:
                break
            attempt += 1
            delay = self._random() * min(self._cap, self._base * (2**attempt))
            if self._deadline.remaining_ms() < delay * 1000 + MIN_CALL_BUDGET_MS:
                raise BudgetExhaustedError(
                    f"time budget exhausted with {len(unprocessed)} unprocessed items "
                    f"after {attempt} BatchWriteItem attempts"
                )
            self._sleep(delay)
            remaining = list(unprocessed)
        rejected_keys = {item_key(r.item) for r in rejected}
        stored = [tag for key, (_, tag) in by_key.items() if key not in rejected_keys and not tag.delete]
        records = sum(1 for tag in stored if tag.is_record)
        return _BatchResult(records, len(stored) - records, rejected, [tag.ordinal for tag in stored if tag.late])

    def _isolate(self, entries: list[tuple[Item, Tag]]) -> list[WriteRejection]:
        """PutItem one by one: ValidationException -> rejection; anything else -> transient."""
        rejected: list[WriteRejection] = []
        for item, tag in entries:
            self._check_budget("PutItem")
            try:
                with self._lock:
                    self.calls += 1
                if tag.delete:  # no validation problem possible: delete it on its own
                    self._client.batch_write_item(RequestItems={self._table: [_request(item, tag)]})
                    continue
                self._client.put_item(TableName=self._table, Item=item)
            except ClientError as exc:
                if error_code(exc) != "ValidationException":
                    raise TransientError(f"DynamoDB PutItem failed: {describe_aws_error(exc)}") from exc
                if not tag.is_record:
                    raise TransientError(f"DynamoDB refused a rejection report item: {error_message(exc)}") from exc
                rejected.append(WriteRejection(tag, item, f"DynamoDB refused the item: {error_message(exc)}"))
            except BotoCoreError as exc:
                raise TransientError(f"DynamoDB PutItem failed: {describe_aws_error(exc)}") from exc
        return rejected


def _request(item: Item, tag: Tag) -> Any:
    if tag.delete:
        return {"DeleteRequest": {"Key": {"PK": item["PK"], "SK": item["SK"]}}}
    return {"PutRequest": {"Item": item}}


def _request_key(request: Any) -> tuple[str, str]:
    if "DeleteRequest" in request:
        key = request["DeleteRequest"]["Key"]
        return key["PK"]["S"], key["SK"]["S"]
    return item_key(request["PutRequest"]["Item"])


def _nowhere(ordinal: int) -> str | None:
    return None
