"""One S3 object: GetObject -> parse -> shape -> write (records, then rejection reports).

Guarantee: a permanently bad object writes NOTHING (no records, no rejection items). Because
a JSON array can turn out malformed at its very end, and a file can turn out to have no good
record at all, entries are first *held* in memory (up to ``hold_max_entries`` /
``hold_max_chars``). When the hold overflows:

* line-based content (JSON Lines, access logs) with at least one good record so far: the held
  entries are written and the rest of the object streams straight to DynamoDB (a later line can
  only be rejected, never invalidate the object);
* otherwise (a JSON array, or no good record yet): the rest of the object is only *validated*
  (parsed and shaped, nothing kept); if it is good, the object is read a second time (same
  VersionId, or If-Match on the first read's ETag) and streamed to DynamoDB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import BotoCoreError, ClientError

from .config import Dependencies
from .errors import (
    IngestError,
    PermanentError,
    TransientError,
    classify_s3_read_error,
    describe_aws_error,
    error_code,
)
from .events import S3ObjectRef
from .formats import FormatError, FormatSpec, Record, Rejection, parse_stream, spec_for_key
from .items import Item, RecordRejectedError, SourceObject, item_excerpt, record_item
from .logs import EVENT_OBJECT_REREAD, EventLog
from .rejections import RejectionTracker
from .writer import BatchWriter, Deadline, Tag

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3.type_defs import GetObjectRequestTypeDef

Status = Literal["stored", "partially_stored", "ignored", "permanent", "transient"]
_DEADLINE_CHECK_MASK = 255


@dataclass(slots=True)
class ObjectOutcome:
    """What happened to one object. Counts: ``records`` = entries seen (good + bad records),
    ``stored`` = records written, ``rejected`` = rejection items written (or, for a permanent
    failure, rejected entries seen)."""

    status: Status
    reason: str = ""
    records: int = 0
    stored: int = 0
    rejected: int = 0
    formats: list[str] = field(default_factory=list)
    passes: int = 0


Shaped = tuple[Item, Tag] | Rejection


class _ObjectIngest:
    def __init__(
        self, ref: S3ObjectRef, spec: FormatSpec, deps: Dependencies, deadline: Deadline, log: EventLog
    ):
        self.ref = ref
        self.spec = spec
        self.deps = deps
        self.settings = deps.settings
        self.deadline = deadline
        self.log = log
        self.source = SourceObject(ref.bucket, ref.key)
        self.writer = BatchWriter(
            deps.dynamodb,
            deps.settings.table_name,
            deadline,
            concurrency=deps.settings.write_concurrency,
            executor=deps.executor,
            sleep=deps.sleep,
            random=deps.random,
        )
        self._reset_counts()
        self.passes = 0
        self.last_size = 0
        self.etag: str | None = None

    def _reset_counts(self) -> None:
        self.records = 0
        self.good = 0
        self.formats: dict[str, None] = {}
        self.rejections = RejectionTracker(
            self.source,
            self.log,
            max_logged=self.settings.max_logged_rejections,
            reasons_in_summary=self.settings.reasons_in_summary,
        )

    # ------------------------------------------------------------------------------------ reading

    def _open(self) -> StreamingBody:
        request: GetObjectRequestTypeDef = {"Bucket": self.ref.bucket, "Key": self.ref.key}
        if self.ref.version_id:
            request["VersionId"] = self.ref.version_id
        elif self.etag and self.passes > 0:
            request["IfMatch"] = self.etag
        self.passes += 1
        try:
            response = self.deps.s3.get_object(**request)
        except ClientError as exc:
            if self.passes > 1 and error_code(exc) in ("PreconditionFailed", "412"):
                raise TransientError(
                    f"s3://{self.ref.bucket}/{self.ref.key} changed between the validation and the write pass"
                ) from exc
            raise classify_s3_read_error(exc, self.ref.bucket, self.ref.key) from exc
        except BotoCoreError as exc:
            raise classify_s3_read_error(exc, self.ref.bucket, self.ref.key) from exc
        etag = response.get("ETag")
        self.etag = etag if isinstance(etag, str) and etag else None
        return response["Body"]

    def _entries(self, body: StreamingBody) -> Iterator[Shaped]:
        """Parse and shape; ``self.last_size`` is the source length of the entry just yielded."""
        count = 0
        for entry in parse_stream(
            body,
            self.spec.family,
            gzip_suffix=self.spec.gzip_suffix,
            chunk_size=self.settings.chunk_size,
            max_line_bytes=self.settings.max_line_bytes,
        ):
            count += 1
            if not count & _DEADLINE_CHECK_MASK and self.deadline.expired():
                raise TransientError(
                    f"time budget exhausted while reading the object (after {count} entries)"
                )
            if type(entry) is Record:
                self.last_size = entry.size_hint + 64
                self.formats[entry.fmt] = None
                self.records += 1
                try:
                    item = record_item(entry, self.source)
                except RecordRejectedError as exc:
                    yield Rejection(
                        entry.line,
                        entry.ordinal,
                        exc.reason,
                        _record_excerpt(entry),
                        entry.fmt == "json_array",
                    )
                    continue
                self.good += 1
                yield item, Tag(True, entry.line, entry.ordinal, entry.fmt == "json_array")
            else:
                assert isinstance(entry, Rejection)
                self.last_size = len(entry.reason) + len(entry.excerpt) + 64
                if entry.ordinal:
                    self.records += 1
                yield entry

    # ------------------------------------------------------------------------------------ writing

    def _write(self, shaped: Shaped) -> None:
        if type(shaped) is tuple:
            self.writer.add(shaped[0], shaped[1])
        else:
            assert isinstance(shaped, Rejection)
            self.writer.add(self.rejections.item(shaped), Tag(False, shaped.line, shaped.ordinal))

    def _finish_writes(self) -> None:
        self.writer.flush()
        handled = 0
        while handled < len(self.writer.rejections):  # DynamoDB refused some records: report them
            for refused in self.writer.rejections[handled:]:
                handled += 1
                rejection = Rejection(
                    refused.tag.line,
                    refused.tag.ordinal,
                    refused.reason,
                    item_excerpt(refused.item),
                    refused.tag.array_element,
                )
                self.rejections.note(rejection)
                self._write(rejection)
            self.writer.flush()

    # ---------------------------------------------------------------------------------- the passes

    def run(self) -> ObjectOutcome:
        body = self._open()
        try:
            mode = self._first_pass(body)
        except FormatError as exc:
            if self.writer.stored_anything:
                raise PermanentError(
                    f"{exc.reason} (after {self.writer.stored_records} records had already been stored)"
                ) from exc
            raise PermanentError(exc.reason) from exc
        finally:
            _close(body)
        if mode == "empty":
            return self.outcome("ignored", "object contains no records", rejected=0)
        if mode == "all_rejected":
            self.rejections.finish_logging()
            return self.outcome(
                "permanent", self.rejections.summary(self.records), rejected=self.rejections.count
            )
        if mode == "second_pass":
            self.rejections.finish_logging()
            self.log.info(EVENT_OBJECT_REREAD, records=self.records, rejected=self.rejections.count)
            self._reset_counts()
            body = self._open()
            try:
                for shaped in self._entries(body):
                    if type(shaped) is not tuple:
                        assert isinstance(shaped, Rejection)
                        self.rejections.note(shaped, log=False)
                    self._write(shaped)
            except FormatError as exc:
                raise PermanentError(f"{exc.reason} (second pass; the object changed?)") from exc
            finally:
                _close(body)
        self._finish_writes()
        self.rejections.finish_logging()
        stored = self.writer.stored_records
        rejected = self.writer.stored_other
        if stored == 0 and self.rejections.count:
            return self.outcome("permanent", self.rejections.summary(self.records), rejected=rejected)
        status: Status = "partially_stored" if rejected else "stored"
        return self.outcome(status, "", rejected=rejected)

    def _first_pass(self, body: StreamingBody) -> Literal["empty", "all_rejected", "second_pass", "written"]:
        held: list[Shaped] = []
        held_chars = 0
        mode: Literal["hold", "stream", "validate"] = "hold"
        max_entries = self.settings.hold_max_entries
        max_chars = self.settings.hold_max_chars
        for shaped in self._entries(body):
            if type(shaped) is not tuple:
                assert isinstance(shaped, Rejection)
                self.rejections.note(shaped)
            if mode == "hold":
                held.append(shaped)
                held_chars += self.last_size
                if len(held) >= max_entries or held_chars >= max_chars:
                    if self.good and "json_array" not in self.formats:
                        mode = "stream"
                        for entry in held:
                            self._write(entry)
                    else:
                        mode = "validate"
                    held = []
            elif mode == "stream":
                self._write(shaped)
        if self.good == 0:
            return "all_rejected" if self.rejections.count else "empty"
        if mode == "validate":
            return "second_pass"
        for entry in held:
            self._write(entry)
        return "written"

    def outcome(self, status: Status, reason: str, *, rejected: int) -> ObjectOutcome:
        return ObjectOutcome(
            status=status,
            reason=reason,
            records=self.records,
            stored=self.writer.stored_records,
            rejected=rejected,
            formats=list(self.formats),
            passes=self.passes,
        )


def _record_excerpt(record: Record) -> str:
    try:
        text = json.dumps(record.data, default=str, ensure_ascii=False, separators=(",", ":"))
    except (ValueError, TypeError, RecursionError):
        text = repr(record.data)[:400]
    return text[:200]


def _close(body: StreamingBody) -> None:
    try:
        body.close()
    except Exception:  # closing a half-read HTTP body must never mask the real outcome
        return


def process_object(ref: S3ObjectRef, deps: Dependencies, deadline: Deadline, log: EventLog) -> ObjectOutcome:
    """Ingest one object; never raises for expected failures (they become the outcome)."""
    spec = spec_for_key(ref.key, deps.settings.accepted_suffixes)
    if spec is None:
        return ObjectOutcome("ignored", "object key suffix is not in ACCEPTED_SUFFIXES")
    if not ref.is_object_created:
        return ObjectOutcome("ignored", f"event {ref.event_name} is not an object creation")
    ingest = _ObjectIngest(ref, spec, deps, deadline, log)
    try:
        return ingest.run()
    except IngestError as exc:
        status: Status = "permanent" if isinstance(exc, PermanentError) else "transient"
        return ingest.outcome(status, exc.reason, rejected=0)
    except (ClientError, BotoCoreError) as exc:
        return ingest.outcome("transient", f"AWS error: {describe_aws_error(exc)}", rejected=0)
    except OSError as exc:  # a connection reset while streaming the body, not wrapped by botocore
        return ingest.outcome("transient", f"I/O error: {type(exc).__name__}: {exc}", rejected=0)
