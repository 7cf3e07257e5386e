"""Replacement semantics: the newest version of an object wins, whatever order its events arrive in.

Every object has a *head* item (``PK = "HEAD#s3://{bucket}/{key}"``, ``SK = "HEAD"``) naming the
version whose records the table holds: its S3 event ``sequencer`` (``seq``, zero-padded so that
DynamoDB's string order is the numeric order), ``version_id``, the raw S3 ``record`` and ``hwm``
(the highest entry ordinal any version may have left items for).

* **Claim** (before a pass writes its first item): ``UpdateItem`` sets the head to this version
  on condition that the head names no newer one. S3 documents the sequencer as a hexadecimal
  string to compare, for one key, after left-padding the shorter one with zeros: an event whose
  sequencer is lower than the head's is *superseded* and writes nothing (``object_ignored``). An
  equal sequencer is a redelivery or a continuation pass: it writes again (idempotent keys). On
  the first claim of a replacement, the previous version's rejection reports are deleted.
* **Complete** (after the last pass wrote everything): the records the previous versions had
  beyond this version's last entry (ordinals ``N+1 .. hwm``) are deleted, then the head records
  ``hwm = N`` -- on condition that it still names this version.
* **Superseded while writing** (a newer version claimed the head in between): this version's
  items may have overwritten the newer one's. It deletes what it wrote, and sends the head's S3
  record back to the queue (a continuation from the start): the newer version is written again
  and the table converges to it.

Partitions: the records of an object are spread round-robin over ``shards`` partition keys
(items.py ``record_pk``; the count comes from the object's size). The head records the layout of
the completed version (``shards``, ``hwm``), so a version with another layout deletes every older
record its own layout does not overwrite.

A version that writes nothing (every record rejected, a malformed or empty object) never claims
the head: bad input does not destroy the good data of the previous version (the DLQ says why).
Records that carry their own ``PK``/``SK`` are upserts and are not replaced.

Removal (``ON_OBJECT_REMOVED=delete``, Terraform ``on_object_removed``): an ``ObjectRemoved`` event
is a version with no records: it claims the head like a creation, every older record and report
is deleted, and the head stays as a tombstone carrying the removal's sequencer.

Events without a sequencer (not sent by S3 for creations) compare as the oldest possible.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from .errors import BudgetExhaustedError, IngestError, TransientError, describe_aws_error, error_code
from .items import Item, head_pk, record_pk, record_sort_key, rejection_pk, shard_of
from .writer import BATCH_SIZE, MIN_CALL_BUDGET_MS, Deadline

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

HEAD_SK: Final = "HEAD"
#: Sequencers are padded to this many hex digits (S3's are 16-20 today).
SEQUENCER_WIDTH: Final = 40


class SupersededError(IngestError):
    """A newer version of the object is stored (or being stored): this one must not be."""


def padded_sequencer(sequencer: str | None) -> str:
    """The sequencer as a fixed-width, upper-case hex string ('' when the event has none)."""
    if not sequencer:
        return ""
    text = sequencer.strip().upper()
    return text.rjust(SEQUENCER_WIDTH, "0") if len(text) <= SEQUENCER_WIDTH else text


@dataclass(frozen=True, slots=True)
class Claim:
    """What claiming the head found: the records older versions left (entries 1..``previous_hwm``,
    spread over ``previous_shards`` partitions) and whether the head named another version."""

    previous_hwm: int
    previous_shards: int
    replacing: bool


class ObjectHead:
    """The head item of one object, for one version (``seq``) of it."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        bucket: str,
        key: str,
        sequencer: str | None,
        version_id: str | None,
        record: Mapping[str, Any],
        deadline: Deadline,
        shards: int = 1,
    ) -> None:
        self._client = client
        self._table = table
        self.bucket = bucket
        self.key = key
        self.seq = padded_sequencer(sequencer)
        self.version_id = version_id or ""
        self._record = record
        self._deadline = deadline
        self.shards = shards
        self._key: Item = {"PK": {"S": head_pk(bucket, key)}, "SK": {"S": HEAD_SK}}
        self.claim: Claim | None = None

    # ----------------------------------------------------------------------------------- calls

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        if self._deadline.remaining_ms() < MIN_CALL_BUDGET_MS:
            raise BudgetExhaustedError(f"time budget exhausted before {what}")
        try:
            return call()
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise
            raise TransientError(f"DynamoDB {what} failed: {describe_aws_error(exc)}") from exc
        except BotoCoreError as exc:
            raise TransientError(f"DynamoDB {what} failed: {describe_aws_error(exc)}") from exc

    def claim_for_writing(self) -> Callable[[int], str | None]:
        """The writer's hook: claim the head; returns where an older version's record of an entry
        is (its partition key, None when no older version reached that entry)."""
        claim = self.claim_head()

        def old_record_pk(ordinal: int) -> str | None:
            if ordinal > claim.previous_hwm:
                return None
            return record_pk(self.bucket, self.key, shard_of(ordinal, claim.previous_shards))

        return old_record_pk

    def claim_head(self) -> Claim:
        """Make this version the head (once per pass, before its first write); SupersededError
        when a newer version holds it."""
        if self.claim is not None:
            return self.claim
        try:
            response = self._call(
                "UpdateItem (claim the object's head)",
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=self._key,
                    UpdateExpression=(
                        "SET seq = :s, version_id = :v, #r = :r, hwm = if_not_exists(hwm, :zero), "
                        "cleaned = if_not_exists(cleaned, :s)"
                    ),
                    ConditionExpression="attribute_not_exists(seq) OR seq <= :s",
                    ExpressionAttributeNames={"#r": "record"},
                    ExpressionAttributeValues={
                        ":s": {"S": self.seq},
                        ":v": {"S": self.version_id},
                        ":r": {"S": json.dumps(self._record, separators=(",", ":"))},
                        ":zero": {"N": "0"},
                    },
                    ReturnValues="ALL_OLD",
                ),
            )
        except ClientError as exc:  # ConditionalCheckFailed: a newer version holds the head
            raise SupersededError(
                f"superseded: a newer version of s3://{self.bucket}/{self.key} is stored "
                f"(its sequencer is greater than {self.seq or 'none'})"
            ) from exc
        old = response.get("Attributes") or {}
        previous_hwm = int(old.get("hwm", {}).get("N", "0"))
        previous_shards = int(old.get("shards", {}).get("N", "1"))
        replacing = bool(old) and old.get("cleaned", {}).get("S") != self.seq
        if replacing:
            self._delete_rejection_reports()
            self._call(
                "UpdateItem (mark the old reports deleted)",
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=self._key,
                    UpdateExpression="SET cleaned = :s",
                    ConditionExpression="seq = :s",
                    ExpressionAttributeValues={":s": {"S": self.seq}},
                ),
            )
        self.claim = Claim(previous_hwm, previous_shards, replacing)
        return self.claim

    def complete(self, last_ordinal: int) -> bool:
        """The version is fully written (entries 1..``last_ordinal``): delete older versions'
        records beyond it and record it; False when a newer version took the head meanwhile."""
        claim = self.claim_head() if self.claim is None else self.claim
        old_shards, shards = claim.previous_shards, self.shards

        def stale() -> Iterator[tuple[str, str]]:  # older records this version does not overwrite
            for o in range(1, claim.previous_hwm + 1):
                old_pk = self._pk(o, old_shards)
                if o > last_ordinal or old_pk != self._pk(o, shards):
                    yield old_pk, record_sort_key(o)

        self._delete(stale())
        try:
            self._call(
                "UpdateItem (complete the object's head)",
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=self._key,
                    UpdateExpression="SET hwm = :n, shards = :shards",
                    ConditionExpression="seq = :s",
                    ExpressionAttributeValues={
                        ":s": {"S": self.seq},
                        ":n": {"N": str(last_ordinal)},
                        ":shards": {"N": str(shards)},
                    },
                ),
            )
        except ClientError:
            return False
        return True

    def _read(self) -> Item | None:
        """The head item as it is now (strongly consistent), or None."""
        response = self._call(
            "GetItem (the object's head)",
            lambda: self._client.get_item(TableName=self._table, Key=self._key, ConsistentRead=True),
        )
        item: Item | None = response.get("Item")
        return item

    def stored_version(self) -> str | None:
        """The version id the head names (None: no head, so nothing of this object is stored)."""
        item = self._read()
        return None if item is None else str(item.get("version_id", {}).get("S", ""))

    def remove(self) -> int:
        """The object was removed (``ON_OBJECT_REMOVED=delete``): claim the head with the removal's
        sequencer, delete every record and rejection report of older versions, and keep the head as
        a tombstone (``hwm = 0``), so a creation older than the removal that arrives later is
        superseded. Returns how many records were deleted; SupersededError when a newer version
        holds the head (that version stays)."""
        claim = self.claim_head()
        if not self.complete(0):
            raise SupersededError(
                f"superseded: a newer version of s3://{self.bucket}/{self.key} claimed it while it was removed"
            )
        return claim.previous_hwm

    def _pk(self, ordinal: int, shards: int) -> str:
        return record_pk(self.bucket, self.key, shard_of(ordinal, shards))

    def superseded_after_writing(self, written_through: int) -> dict[str, Any] | None:
        """This version wrote entries 1..``written_through`` after a newer one claimed the head:
        delete them; returns the head's S3 record (to write the newer version again over them)."""
        self._delete((self._pk(o, self.shards), record_sort_key(o)) for o in range(1, written_through + 1))
        raw = (self._read() or {}).get("record", {}).get("S")
        if not raw:
            return None
        record = json.loads(raw)
        return record if isinstance(record, dict) else None

    # ----------------------------------------------------------------------------------- deletes

    def _delete_rejection_reports(self) -> None:
        pk = rejection_pk(self.bucket, self.key)
        self._delete((key["PK"]["S"], key["SK"]["S"]) for key in self._query_keys(pk))

    def _query_keys(self, pk: str) -> Iterator[Item]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ProjectionExpression": "PK, SK",
            "ConsistentRead": True,
        }
        while True:
            response = self._call("Query (old rejection reports)", lambda: self._client.query(**request))
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _delete(self, keys: Iterator[tuple[str, str]]) -> None:
        batch: list[Any] = []
        for pk, sk in keys:
            batch.append({"DeleteRequest": {"Key": {"PK": {"S": pk}, "SK": {"S": sk}}}})
            if len(batch) == BATCH_SIZE:
                self._delete_batch(batch)
                batch = []
        if batch:
            self._delete_batch(batch)

    def _delete_batch(self, requests: list[Any]) -> None:
        remaining = requests
        while remaining:
            request = {self._table: remaining}
            response = self._call(
                "BatchWriteItem (delete an older version's items)",
                lambda request=request: self._client.batch_write_item(RequestItems=request),  # type: ignore[misc]
            )
            remaining = list(response.get("UnprocessedItems", {}).get(self._table, []))
