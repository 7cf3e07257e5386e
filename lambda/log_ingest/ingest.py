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

Objects too large for one invocation (continuation.py): when the time budget runs out
(:class:`BudgetExhaustedError`, while reading or writing) after entries have been written, the
writer is flushed as far as the budget allows and the outcome is ``continued`` with
``resume_after`` = N, the highest ordinal such that every entry <= N is durably handled (record
written, or its rejection report written); the handler then sends a continuation message. While
entries are still held back or validated nothing has been written, so N is 0 and the failure
stays transient: the guarantee above is untouched. A *continuation pass* (``resume_after`` > 0)
reads the same object (VersionId, or If-Match on the ETag of pass 1 -- a changed object is a
permanent failure), parses but neither writes nor reports entries <= N (line formats skip them
without decoding), and streams the rest to DynamoDB with no hold-back (the object is already
known to be good: it was validated, or is line-based with a stored record). A pass that cannot
get past N is a plain transient failure, never another continuation, so it cannot loop.

Counts of a continued pass are exact by ordinal: ``records`` = N - ``resume_after``,
``rejected`` = rejection reports written for ordinals in that range, ``stored`` = the rest.
"""

from __future__ import annotations

import contextlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from botocore.exceptions import BotoCoreError, ClientError

from .config import Dependencies
from .continuation import MAX_CARRIED_REPORTS
from .errors import (
    BudgetExhaustedError,
    IngestError,
    PermanentError,
    TransientError,
    classify_s3_read_error,
    describe_aws_error,
    error_code,
)
from .events import Continuation, S3ObjectRef, Totals
from .formats import EXCERPT_CHARS, FormatError, FormatSpec, Record, Rejection, parse_stream, spec_for_key
from .items import (
    Item,
    RecordRejectedError,
    SourceObject,
    item_excerpt,
    json_excerpt,
    record_item,
    record_sort_key,
    shard_count,
)
from .logs import EVENT_OBJECT_REREAD, EventLog
from .rejections import RejectionTracker
from .versions import ObjectHead, SupersededError
from .writer import MIN_CALL_BUDGET_MS, BatchWriter, Deadline, Tag

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3.type_defs import GetObjectRequestTypeDef

Status = Literal["stored", "partially_stored", "ignored", "permanent", "transient", "continued", "removed"]
_DEADLINE_CHECK_MASK: Final = 255
#: Reading stops with this much of the budget left, so the last window can still be written.
READ_RESERVE_MS: Final = 2 * MIN_CALL_BUDGET_MS
#: Rejection ordinals kept before the ones known to be durable are folded into a count.
_FOLD_AT: Final = 4096


@dataclass(slots=True)
class ObjectOutcome:
    """What happened to one object in this pass. Counts: ``records`` = entries seen (good + bad
    records), ``stored`` = records written, ``rejected`` = rejection items written (or, for a
    permanent failure, rejected entries seen); for ``continued``, entries 1..``resume_after``.
    ``totals`` adds the earlier passes of a continued object; ``reads`` = GetObject calls."""

    status: Status
    reason: str = ""
    records: int = 0
    stored: int = 0
    rejected: int = 0
    formats: list[str] = field(default_factory=list)
    reads: int = 0
    pass_number: int = 1
    totals: Totals = field(default_factory=Totals)
    resume_after: int = 0
    etag: str | None = None
    #: For ``continued``: rejection reports of entries <= ``resume_after`` not durable yet (the
    #: continuation message carries them; counted in ``totals`` already).
    reports: tuple[Rejection, ...] = ()
    #: For an ``ignored`` version that wrote items after a newer version claimed the object (see
    #: versions.py): the newer version's S3 record, to be sent back to the queue and written again.
    redo: dict[str, object] | None = None
    #: For ``continued``: > 0 when every entry is written and only the head is left to complete.
    complete_through: int = 0


Shaped = tuple[Item, Tag] | Rejection


class _BudgetedStream:
    """The object's body, refusing to read on once the budget is (nearly) spent."""

    def __init__(self, body: StreamingBody, deadline: Deadline) -> None:
        self._body = body
        self._deadline = deadline

    def read(self, amt: int | None = None, /) -> bytes:
        if self._deadline.remaining_ms() < READ_RESERVE_MS:
            raise BudgetExhaustedError("time budget exhausted while reading the object")
        return self._body.read(amt)


class _ObjectIngest:
    def __init__(
        self,
        ref: S3ObjectRef,
        spec: FormatSpec,
        deps: Dependencies,
        deadline: Deadline,
        log: EventLog,
        *,
        resume: Continuation | None = None,
    ):
        self.ref = ref
        self.spec = spec
        self.deps = deps
        self.settings = deps.settings
        self.deadline = deadline
        self.log = log
        shards = shard_count(ref.size, deps.settings.record_shard_bytes, deps.settings.max_record_shards)
        self.source = SourceObject(ref.bucket, ref.key, shards)
        self.head = object_head(ref, deps, deadline, shards)
        self.writer = BatchWriter(
            deps.dynamodb,
            deps.settings.table_name,
            deadline,
            concurrency=deps.settings.write_concurrency,
            executor=deps.executor,
            sleep=deps.sleep,
            random=deps.random,
            before_first_write=self.head.claim_for_writing,
        )
        self.resume_after = resume.resume_after if resume is not None else 0
        self.pass_number = resume.pass_number if resume is not None else 1
        self.carried = resume.totals if resume is not None else Totals()
        self.etag: str | None = None
        self.complete_through = resume.complete_through if resume is not None else 0
        #: Reports inherited from the earlier pass (written first, counted there).
        self.inherited: tuple[Rejection, ...] = resume.reports if resume is not None else ()
        #: Late reports (of records DynamoDB refused) of this pass and inherited ones, by ordinal.
        self._late: dict[int, Rejection] = {r.ordinal: r for r in self.inherited}
        if self.resume_after:  # If-Match on what pass 1 read (the event's ETag when unknown)
            self.etag = (resume.etag if resume is not None else None) or _quoted(ref.etag)
        self.reads = 0
        self.last_size = 0
        self._refusals_handled = 0
        self._rejection_ordinals = array("q")
        self._folded_rejections = 0
        self._fold_at = _FOLD_AT
        self._reset_counts()

    def _reset_counts(self) -> None:
        self.records = 0
        self.good = 0
        self._last_ordinal = self.resume_after
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
        elif self.etag and (self.reads > 0 or self.resume_after > 0):
            request["IfMatch"] = self.etag
        self.reads += 1
        try:
            response = self.deps.s3.get_object(**request)
        except ClientError as exc:
            if "IfMatch" in request and error_code(exc) in ("PreconditionFailed", "412"):
                where = f"s3://{self.ref.bucket}/{self.ref.key}"
                if self.resume_after:
                    raise PermanentError(
                        f"object changed between passes: {where} no longer has the ETag "
                        f"{request['IfMatch']} read by pass 1; entries 1..{self.resume_after} were "
                        f"stored from the earlier content, the rest cannot be read any more"
                    ) from exc
                raise TransientError(f"{where} changed between the validation and the write pass") from exc
            raise classify_s3_read_error(exc, self.ref.bucket, self.ref.key) from exc
        except BotoCoreError as exc:
            raise classify_s3_read_error(exc, self.ref.bucket, self.ref.key) from exc
        etag = response.get("ETag")
        self.etag = etag if isinstance(etag, str) and etag else self.etag
        return response["Body"]

    def _entries(self, body: StreamingBody) -> Iterator[Shaped]:
        """Parse and shape the entries after ``resume_after``; ``self.last_size`` is the source
        length of the entry just yielded."""
        count = 0
        skip = self.resume_after
        for entry in parse_stream(
            _BudgetedStream(body, self.deadline),
            self.spec.family,
            gzip_suffix=self.spec.gzip_suffix,
            chunk_size=self.settings.chunk_size,
            max_line_bytes=self.settings.max_line_bytes,
            skip_through=skip,
        ):
            count += 1
            if not count & _DEADLINE_CHECK_MASK and self.deadline.remaining_ms() < READ_RESERVE_MS:
                raise BudgetExhaustedError(f"time budget exhausted while reading the object (after {count} entries)")
            if entry.ordinal:
                if entry.ordinal <= skip:  # done by an earlier pass (JSON array elements)
                    continue
                self._last_ordinal = entry.ordinal
            if type(entry) is Record:
                self.last_size = entry.size_hint + 64
                self.formats[entry.fmt] = None
                self.records += 1
                try:
                    item = record_item(entry, self.source)
                except RecordRejectedError as exc:
                    rejection = Rejection(
                        entry.line,
                        entry.ordinal,
                        exc.reason,
                        _record_excerpt(entry),
                        entry.fmt == "json_array",
                    )
                    # Only the report is held, not the record: a rejected 10 MB record must not
                    # overflow the hold (and cost a second read of the object).
                    self.last_size = len(rejection.reason) + len(rejection.excerpt) + 64
                    yield rejection
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
            item, tag = shaped
            self.writer.add(item, tag)
            if item["PK"]["S"] != self.source.pk_for(tag.ordinal):  # stored under its own keys: no REC# item
                self._delete_old_record(tag.line, tag.ordinal)
        else:
            assert isinstance(shaped, Rejection)
            # A stream-level rejection (ordinal 0, e.g. gzip truncation) comes after every entry.
            ordinal = shaped.ordinal or self._last_ordinal + 1
            if ordinal <= self.resume_after:  # reported by an earlier pass
                return
            self._track_rejection(ordinal)
            self.writer.add(self.rejections.item(shaped), Tag(False, shaped.line, ordinal))
            if shaped.ordinal:
                self._delete_old_record(shaped.line, ordinal)
        if len(self.writer.rejections) > self._refusals_handled:
            self._report_refusals()

    def _report_refusals(self) -> None:
        """DynamoDB refused some records: write their rejection reports (as soon as possible; a
        pass that ends before they are durable carries them in its continuation)."""
        while self._refusals_handled < len(self.writer.rejections):
            self._write_late(self._note_refusal())

    def _note_refusal(self) -> Rejection:
        """Count, log and remember the next refused record's rejection (not written yet)."""
        refused = self.writer.rejections[self._refusals_handled]
        self._refusals_handled += 1
        rejection = Rejection(
            refused.tag.line,
            refused.tag.ordinal,
            refused.reason,
            item_excerpt(refused.item),
            refused.tag.array_element,
        )
        self.rejections.note(rejection)
        self._track_rejection(refused.tag.ordinal)
        self._late[rejection.ordinal] = rejection
        return rejection

    def _write_late(self, rejection: Rejection) -> None:
        self.writer.add(self.rejections.item(rejection), Tag(False, rejection.line, rejection.ordinal, late=True))
        self._delete_old_record(rejection.line, rejection.ordinal, late=True)

    def _delete_old_record(self, line: int, ordinal: int, *, late: bool = False) -> None:
        """This version has no generated record at ``ordinal``: an older version's goes (versions.py)."""
        key = {"PK": {"S": "\x00older version"}, "SK": {"S": record_sort_key(ordinal)}}  # PK: the writer's
        self.writer.add(key, Tag(False, line, ordinal, late=late, delete=True))

    def _finish_writes(self) -> None:
        self.writer.flush()
        while self._refusals_handled < len(self.writer.rejections):
            self._report_refusals()
            self.writer.flush()

    # ------------------------------------------------------------------------------ continuation

    def _durable_through(self) -> int:
        """Highest ordinal N such that every entry <= N is written, or has its report written or
        carried (at most MAX_CARRIED_REPORTS late reports that are not durable yet)."""
        done = self.writer.durable_through()
        pending = sorted(o for o in self._late if o not in self.writer.late_written)
        pending.extend(r.tag.ordinal for r in self.writer.rejections[self._refusals_handled :])  # not noted yet
        pending = sorted(o for o in pending if 0 < o <= done)
        if len(pending) > MAX_CARRIED_REPORTS:
            done = pending[MAX_CARRIED_REPORTS] - 1
        return max(done, self.resume_after)

    def _carried_reports(self, done: int) -> tuple[Rejection, ...]:
        """The late reports of entries <= ``done`` that are not durable: the continuation carries them."""
        written = self.writer.late_written
        return tuple(r for o, r in sorted(self._late.items()) if o <= done and o not in written)

    def _track_rejection(self, ordinal: int) -> None:
        """Remember the ordinal of a rejection report handed to the writer (for exact counts)."""
        ordinals = self._rejection_ordinals
        ordinals.append(ordinal)
        if len(ordinals) >= self._fold_at:  # fold the ones that are durable already into a count
            bound = self._durable_through()
            kept = array("q", (o for o in ordinals if o > bound))
            self._folded_rejections += len(ordinals) - len(kept)
            self._rejection_ordinals = kept
            self._fold_at = max(_FOLD_AT, 2 * len(kept))

    def cut(self, exc: BudgetExhaustedError) -> ObjectOutcome:
        """The budget ran out: ``continued`` after the last durable entry, or ``transient``."""
        with contextlib.suppress(TransientError):  # flush first, as far as the budget allows
            self.writer.flush()
        while self._refusals_handled < len(self.writer.rejections):  # refused by that flush: carried
            self._note_refusal()
        done = self._durable_through()
        if done <= self.resume_after:
            reason = exc.reason
            if self.resume_after:
                reason += (
                    f" (no progress: nothing after entry {self.resume_after} could be stored "
                    f"in pass {self.pass_number})"
                )
            return self.outcome("transient", reason, rejected=0)
        records = done - self.resume_after
        rejected = self._folded_rejections + sum(1 for o in self._rejection_ordinals if o <= done)
        return self.outcome(
            "continued",
            exc.reason,
            records=records,
            stored=records - rejected,
            rejected=rejected,
            resume_after=done,
            reports=self._carried_reports(done),
        )

    # ---------------------------------------------------------------------------------- the passes

    def run(self) -> ObjectOutcome:
        if self.complete_through:  # everything is written: only the head is left to complete
            return self._complete(self.complete_through, self._carried_status(), rejected=0)
        if self.resume_after:
            self._resume()
            return self._finish()
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
            return self.outcome("permanent", self.rejections.summary(self.records), rejected=self.rejections.count)
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
        return self._finish()

    def _resume(self) -> None:
        """A continuation pass: the carried reports first, then entries after ``resume_after``
        stream straight to DynamoDB."""
        for rejection in self.inherited:
            self._write_late(rejection)
        body = self._open()
        try:
            for shaped in self._entries(body):
                if type(shaped) is not tuple:
                    assert isinstance(shaped, Rejection)
                    self.rejections.note(shaped)
                self._write(shaped)
        except FormatError as exc:
            raise PermanentError(
                f"{exc.reason} (pass {self.pass_number}, after entries 1..{self.resume_after} "
                "had been handled by earlier passes; the object changed?)"
            ) from exc
        finally:
            _close(body)

    def _finish(self) -> ObjectOutcome:
        self._finish_writes()
        self.rejections.finish_logging()
        stored = self.writer.stored_records
        rejected = self.writer.stored_other - len(self.inherited)  # those were counted by the earlier pass
        if stored + self.carried.stored == 0 and self.rejections.count + self.carried.rejected:
            return self.outcome("permanent", self.rejections.summary(self.records), rejected=rejected)
        status: Status = "partially_stored" if rejected + self.carried.rejected else "stored"
        try:
            return self._complete(self._last_ordinal, status, rejected=rejected)
        except BudgetExhaustedError as exc:  # everything is written: the next pass only completes the head
            done = max(self._durable_through(), self.resume_after + 1)
            outcome = self.outcome("continued", exc.reason, rejected=rejected, resume_after=done)
            outcome.complete_through = self._last_ordinal
            return outcome

    def _carried_status(self) -> Status:
        return "partially_stored" if self.carried.rejected else "stored"

    def _complete(self, last_ordinal: int, status: Status, *, rejected: int) -> ObjectOutcome:
        if not self.head.complete(last_ordinal):
            return self.superseded(last_ordinal)
        return self.outcome(status, "", rejected=rejected)

    def superseded(self, written_through: int) -> ObjectOutcome:
        """A newer version claimed the object after this one wrote entries 1..``written_through``."""
        redo = self.head.superseded_after_writing(written_through) if written_through else None
        reason = f"superseded: a newer version of s3://{self.ref.bucket}/{self.ref.key} is stored"
        if redo is not None:
            reason += " (this version wrote over it: the newer version is written again)"
        outcome = self.outcome("ignored", reason, rejected=0)
        outcome.redo = redo
        return outcome

    def _may_stream(self) -> bool:
        """Whether held entries may be written: a good record seen, and nothing later can void the object."""
        return bool(self.good) and "json_array" not in self.formats

    def _release(self, held: list[Shaped]) -> bool:
        """Write the held entries if that is safe (see :meth:`_may_stream`); True if they were written."""
        if not self._may_stream():
            return False
        for entry in held:
            self._write(entry)
        return True

    def _first_pass(self, body: StreamingBody) -> Literal["empty", "all_rejected", "second_pass", "written"]:
        held: list[Shaped] = []
        held_chars = 0
        mode: Literal["hold", "stream", "validate"] = "hold"
        max_entries = self.settings.hold_max_entries
        max_chars = self.settings.hold_max_chars
        try:
            for shaped in self._entries(body):
                if type(shaped) is not tuple:
                    assert isinstance(shaped, Rejection)
                    self.rejections.note(shaped)
                if mode == "hold":
                    held.append(shaped)
                    held_chars += self.last_size
                    if len(held) >= max_entries or held_chars >= max_chars:
                        mode = "stream" if self._release(held) else "validate"
                        held = []
                elif mode == "stream":
                    self._write(shaped)
        except BudgetExhaustedError:
            # The budget ran out before the hold filled. Line-based content with a good record cannot be
            # invalidated by what follows, so write what is held: the pass then ends with a continuation
            # instead of a transient failure that would start over, and hit the same wall, forever.
            if mode == "hold":
                self._release(held)
            raise
        if self.good == 0:
            return "all_rejected" if self.rejections.count else "empty"
        if mode == "validate":
            return "second_pass"
        for entry in held:
            self._write(entry)
        return "written"

    def outcome(
        self,
        status: Status,
        reason: str,
        *,
        rejected: int,
        records: int | None = None,
        stored: int | None = None,
        resume_after: int = 0,
        reports: tuple[Rejection, ...] = (),
    ) -> ObjectOutcome:
        records = self.records if records is None else records
        stored = self.writer.stored_records if stored is None else stored
        return ObjectOutcome(
            status=status,
            reason=reason,
            records=records,
            stored=stored,
            rejected=rejected,
            formats=list(self.formats),
            reads=self.reads,
            pass_number=self.pass_number,
            totals=self.carried.plus(records, stored, rejected, self.formats),
            resume_after=resume_after,
            etag=self.etag,
            reports=reports,
        )


def _record_excerpt(record: Record) -> str:
    return json_excerpt(record.data, EXCERPT_CHARS)


def _quoted(etag: str | None) -> str | None:
    """The S3 event's ``eTag`` is unquoted; an HTTP If-Match wants the quoted entity tag."""
    if not etag:
        return None
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


def _close(body: StreamingBody) -> None:
    try:
        body.close()
    except Exception:  # closing a half-read HTTP body must never mask the real outcome
        return


def ignore_reason(ref: S3ObjectRef, deps: Dependencies) -> str | None:
    """Why the object is not ingested at all (its suffix, its event), or None."""
    if spec_for_key(ref.key, deps.settings.accepted_suffixes) is None:
        return "object key suffix is not in ACCEPTED_SUFFIXES"
    if ref.is_object_removed and deps.settings.on_object_removed == "delete":
        return None
    if not ref.is_object_created:
        return f"event {ref.event_name} is not an object creation"
    return None


def failure(exc: IngestError | ClientError | BotoCoreError) -> tuple[Status, str]:
    """The outcome of an object that failed with ``exc``: permanent (dead-lettered) or transient (retried)."""
    if isinstance(exc, IngestError):
        return ("permanent" if isinstance(exc, PermanentError) else "transient"), exc.reason
    return "transient", f"AWS error: {describe_aws_error(exc)}"


def object_head(ref: S3ObjectRef, deps: Dependencies, deadline: Deadline, shards: int = 1) -> ObjectHead:
    """The head item of the event's object, for the version the event names (versions.py)."""
    return ObjectHead(
        deps.dynamodb,
        deps.settings.table_name,
        bucket=ref.bucket,
        key=ref.key,
        sequencer=ref.sequencer,
        version_id=ref.version_id,
        record=ref.raw,
        deadline=deadline,
        shards=shards,
    )


def remove_object(ref: S3ObjectRef, deps: Dependencies, deadline: Deadline, pass_number: int = 1) -> ObjectOutcome:
    """An ``ObjectRemoved`` event under ``ON_OBJECT_REMOVED=delete`` (versions.py): the object's
    records and rejection reports go; a permanent delete of a version the table does not hold
    (a noncurrent one) changes nothing."""
    head = object_head(ref, deps, deadline)

    def outcome(status: Status, reason: str) -> ObjectOutcome:
        return ObjectOutcome(status, reason, pass_number=pass_number)

    try:
        if ref.removes_one_version and head.stored_version() != ref.version_id:
            return outcome("ignored", f"version {ref.version_id} was removed; the table holds another one")
        deleted = head.remove()
    except SupersededError as exc:
        return outcome("ignored", exc.reason)
    except (IngestError, ClientError, BotoCoreError) as exc:
        return outcome(*failure(exc))
    return outcome("removed", f"{ref.event_name}: {deleted} record(s) deleted")


def process_object(
    ref: S3ObjectRef,
    deps: Dependencies,
    deadline: Deadline,
    log: EventLog,
    resume: Continuation | None = None,
) -> ObjectOutcome:
    """Ingest one object (resuming it after ``resume.resume_after`` for a continuation); never
    raises for expected failures (they become the outcome)."""
    pass_number = resume.pass_number if resume is not None else 1
    totals = resume.totals if resume is not None else Totals()
    reason = ignore_reason(ref, deps)
    if reason is None and ref.is_object_removed:
        return remove_object(ref, deps, deadline, pass_number)
    spec = spec_for_key(ref.key, deps.settings.accepted_suffixes)
    if reason is not None or spec is None:
        return ObjectOutcome("ignored", reason or "", pass_number=pass_number, totals=totals)
    ingest = _ObjectIngest(ref, spec, deps, deadline, log, resume=resume)
    try:
        try:
            return ingest.run()
        except BudgetExhaustedError as exc:
            return ingest.cut(exc)
    except SupersededError as exc:  # claiming the object's head found a newer version
        if ingest.resume_after:  # earlier passes of this version wrote items
            return ingest.superseded(ingest.resume_after)
        return ingest.outcome("ignored", exc.reason, rejected=0)
    except (IngestError, ClientError, BotoCoreError) as exc:
        return ingest.outcome(*failure(exc), rejected=0)
    except OSError as exc:  # a connection reset while streaming the body, not wrapped by botocore
        return ingest.outcome("transient", f"I/O error: {type(exc).__name__}: {exc}", rejected=0)
