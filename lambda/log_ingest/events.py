"""Typed, tolerant parsing of the SQS event and of each message body.

Shapes follow the AWS documentation (and Powertools' event dataclasses): an SQS event is
``{"Records": [{"messageId", "receiptHandle", "body", "attributes", ...}, ...]}``; the body of a
message sent by an S3 event notification is the S3 event *as a JSON string*:
``{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {...}}, ...]}``,
or ``{"Service": "Amazon S3", "Event": "s3:TestEvent", ...}`` when the notification is set up.

A body with the key ``"s3pipe_continuation"`` is a *continuation message* this function sent to
its own queue (format in continuation.py): it parses to :class:`S3Continuation` (one S3 record
plus where to resume), never to "not an S3 event"; a malformed one is an :class:`InvalidBody`
with a specific reason (and the object's bucket/key when its record is readable).

Nothing here raises for any input: problems become values carrying a specific reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote_plus

from .formats import Rejection
from .formats.json_values import json_kind

_MAX_REASON_KEYS: Final = 8


@dataclass(frozen=True, slots=True)
class SqsMessage:
    """One SQS record of the Lambda event."""

    message_id: str
    body: str
    receive_count: int | None
    event_source_arn: str | None
    #: To change the message's visibility (backoff.py); None when the record has none.
    receipt_handle: str | None = None


@dataclass(frozen=True, slots=True)
class InvalidSqsRecord:
    """An SQS record that cannot even be reported (no ``messageId``): logged, never retried."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class S3ObjectRef:
    """One S3 record of an S3 event notification, with the key URL-decoded."""

    index: int
    bucket: str
    key: str
    raw_key: str
    event_name: str
    version_id: str | None
    size: int | None
    etag: str | None
    sequencer: str | None
    raw: Mapping[str, Any]

    @property
    def is_object_created(self) -> bool:
        return self.event_name == "" or self.event_name.startswith("ObjectCreated:")

    @property
    def is_object_removed(self) -> bool:
        return self.event_name.startswith("ObjectRemoved:")

    @property
    def removes_one_version(self) -> bool:
        """A permanent delete of one version (``ObjectRemoved:Delete`` with a version id): the object
        may still have a current version; a delete marker or an unversioned delete removes the object."""
        return self.event_name == "ObjectRemoved:Delete" and bool(self.version_id)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True)
class InvalidS3Record:
    """An entry of ``Records`` that is not a usable S3 record (a permanent failure of that entry)."""

    index: int
    reason: str
    raw: Any
    bucket: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class S3Notification:
    """A message body that is an S3 event notification (all ``Records``, not just ``[0]``)."""

    records: tuple[S3ObjectRef | InvalidS3Record, ...]


@dataclass(frozen=True, slots=True)
class S3TestEvent:
    """``s3:TestEvent``: sent by S3 when the notification configuration is created."""

    bucket: str | None


@dataclass(frozen=True, slots=True)
class InvalidBody:
    """A body that is not an S3 event at all: the whole message is a permanent failure.

    ``bucket``/``key``/``version_id`` are set for a malformed continuation message whose S3
    record is readable (so the failure can be reported for that object).
    """

    reason: str
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts of one object accumulated over its passes (see continuation.py)."""

    records: int = 0
    stored: int = 0
    rejected: int = 0
    formats: tuple[str, ...] = ()

    def plus(self, records: int, stored: int, rejected: int, formats: Iterable[str]) -> Totals:
        return Totals(
            self.records + records,
            self.stored + stored,
            self.rejected + rejected,
            tuple(dict.fromkeys((*self.formats, *formats))),
        )


@dataclass(frozen=True, slots=True)
class Continuation:
    """Where a continued object resumes: after entry ordinal ``resume_after`` (0: from the start),
    in pass ``pass_number`` (1 = the S3 event itself), with the totals of the earlier passes."""

    resume_after: int
    pass_number: int
    origin_message_id: str
    totals: Totals
    etag: str | None = None
    #: Rejection reports of entries <= ``resume_after`` that the earlier pass counted but could
    #: not make durable (records DynamoDB refused at the end of its budget): written first.
    reports: tuple[Rejection, ...] = ()
    #: > 0: every entry is written; this pass only completes the object's head (versions.py)
    #: with this last entry ordinal (the earlier pass ran out of budget right before).
    complete_through: int = 0


@dataclass(frozen=True, slots=True)
class S3Continuation:
    """A continuation message: one S3 record of an earlier message, and where to resume it."""

    ref: S3ObjectRef
    state: Continuation


MessageBody = S3Notification | S3Continuation | S3TestEvent | InvalidBody

#: The key that marks a continuation message body, and the format version this code reads/writes.
CONTINUATION_MARKER: Final = "s3pipe_continuation"
CONTINUATION_VERSION: Final = 1


def parse_sqs_event(event: object) -> tuple[list[SqsMessage], list[InvalidSqsRecord]]:
    """Split a Lambda event into usable SQS messages and records that cannot be reported."""
    if not isinstance(event, Mapping):
        return [], [InvalidSqsRecord(-1, f"event is a {type(event).__name__}, not an SQS event object")]
    records = event.get("Records")
    if not isinstance(records, list):
        return [], [InvalidSqsRecord(-1, "event has no 'Records' list: not an SQS event")]
    messages: list[SqsMessage] = []
    invalid: list[InvalidSqsRecord] = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            invalid.append(InvalidSqsRecord(index, f"SQS record is a {type(record).__name__}, not an object"))
            continue
        message_id = record.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            invalid.append(InvalidSqsRecord(index, "SQS record has no messageId"))
            continue
        body = record.get("body")
        attributes = record.get("attributes")
        receive_count: int | None = None
        if isinstance(attributes, Mapping):
            raw_count = attributes.get("ApproximateReceiveCount")
            if isinstance(raw_count, str) and raw_count.isdigit():
                receive_count = int(raw_count)
        arn = record.get("eventSourceARN")
        messages.append(
            SqsMessage(
                message_id=message_id,
                body=body if isinstance(body, str) else "",
                receive_count=receive_count,
                event_source_arn=arn if isinstance(arn, str) else None,
                receipt_handle=handle if isinstance(handle := record.get("receiptHandle"), str) and handle else None,
            )
        )
    return messages, invalid


def parse_body(body: str) -> MessageBody:
    """Parse one SQS message body (the S3 event is a JSON *string* inside the SQS record)."""
    if not body.strip():
        return InvalidBody("message body is empty")
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        return InvalidBody(f"message body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
    except (ValueError, RecursionError) as exc:
        return InvalidBody(f"message body is not valid JSON ({type(exc).__name__})")
    if not isinstance(document, dict):
        return InvalidBody(f"message body is a JSON {json_kind(document)}, not an S3 event notification object")
    if CONTINUATION_MARKER in document:
        return parse_continuation(document)
    if document.get("Event") == "s3:TestEvent":
        bucket = document.get("Bucket")
        return S3TestEvent(bucket if isinstance(bucket, str) else None)
    if "Records" not in document:
        if document.get("Type") == "Notification" and "Message" in document:
            return InvalidBody(
                "message body is an SNS notification envelope, not an S3 event "
                "(enable raw message delivery on the SNS subscription)"
            )
        if "detail-type" in document and "detail" in document:
            return InvalidBody("message body is an EventBridge event, not an S3 event notification")
        keys = ", ".join(sorted(str(k) for k in document)[:_MAX_REASON_KEYS]) or "none"
        return InvalidBody(f"JSON object has no 'Records' array: not an S3 event notification (keys: {keys})")
    records = document["Records"]
    if not isinstance(records, list):
        return InvalidBody(f"'Records' is a JSON {json_kind(records)}, not an array")
    if not records:
        return InvalidBody("S3 event notification has an empty 'Records' array")
    parsed = tuple(parse_s3_record(i, r) for i, r in enumerate(records))
    if all(isinstance(p, InvalidS3Record) and not _looks_like_s3(r) for p, r in zip(parsed, records, strict=True)):
        first = parsed[0]
        assert isinstance(first, InvalidS3Record)
        return InvalidBody(f"'Records' holds no S3 event records ({first.reason})")
    return S3Notification(parsed)


def _non_negative_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_continuation(document: Mapping[str, Any]) -> S3Continuation | InvalidBody:
    """Validate a continuation message body (format: continuation.py)."""
    prefix = "malformed continuation message: "
    version = document.get(CONTINUATION_MARKER)
    record = document.get("record")
    ref = parse_s3_record(0, record) if isinstance(record, dict) else None
    if version != CONTINUATION_VERSION or isinstance(version, bool):
        reason = (
            f"{prefix}unsupported '{CONTINUATION_MARKER}' version {version!r} "
            f"(this function reads version {CONTINUATION_VERSION})"
        )
        if isinstance(ref, S3ObjectRef):
            return InvalidBody(reason, ref.bucket, ref.key, ref.version_id)
        return InvalidBody(reason)
    if ref is None:
        return InvalidBody(f"{prefix}'record' is a JSON {json_kind(record)}, not an S3 event record")
    if isinstance(ref, InvalidS3Record):
        return InvalidBody(f"{prefix}{ref.reason}", ref.bucket, ref.key)
    valid_ref = ref

    def invalid(reason: str) -> InvalidBody:
        return InvalidBody(prefix + reason, valid_ref.bucket, valid_ref.key, valid_ref.version_id)

    resume_after = document.get("resume_after")
    if not _non_negative_int(resume_after):
        return invalid(f"'resume_after' must be a non-negative integer, not a JSON {json_kind(resume_after)}")
    pass_number = document.get("pass")
    if not _non_negative_int(pass_number) or pass_number == 0:
        return invalid(f"'pass' must be a positive integer, not {_short_json(pass_number)}")
    origin = document.get("origin_message_id")
    if not isinstance(origin, str) or not origin:
        return invalid("'origin_message_id' must be a non-empty string")
    totals = document.get("totals")
    if not isinstance(totals, dict):
        return invalid(f"'totals' is a JSON {json_kind(totals)}, not an object")
    counts: dict[str, int] = {}
    for name in ("records", "stored", "rejected"):
        value = totals.get(name)
        if not isinstance(value, int) or not _non_negative_int(value):
            return invalid(f"'totals.{name}' must be a non-negative integer, not {_short_json(value)}")
        counts[name] = value
    formats = totals.get("formats", [])
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        return invalid("'totals.formats' must be an array of strings")
    assert isinstance(resume_after, int)
    assert isinstance(pass_number, int)
    extras = _parse_extras(document, resume_after)
    if isinstance(extras, str):
        return invalid(extras)
    etag, reports, complete_through = extras
    return S3Continuation(
        ref,
        Continuation(
            resume_after=resume_after,
            pass_number=pass_number,
            origin_message_id=origin,
            totals=Totals(counts["records"], counts["stored"], counts["rejected"], tuple(formats)),
            etag=etag,
            reports=reports,
            complete_through=complete_through,
        ),
    )


def _parse_extras(
    document: Mapping[str, Any], resume_after: int
) -> tuple[str | None, tuple[Rejection, ...], int] | str:
    """The optional ``etag``, ``reports`` and ``complete_through`` of a continuation, or the
    reason they are malformed."""
    etag = document.get("etag")
    if etag is not None and (not isinstance(etag, str) or not etag):
        return "'etag' must be a non-empty string when present"
    reports = _parse_reports(document.get("reports", []), resume_after)
    if isinstance(reports, str):
        return reports
    complete_through = document.get("complete_through", 0)
    if not isinstance(complete_through, int) or not _non_negative_int(complete_through):
        return f"'complete_through' must be a non-negative integer, not {_short_json(complete_through)}"
    return etag, reports, complete_through


def _parse_reports(value: object, resume_after: int) -> tuple[Rejection, ...] | str:
    """The carried rejection reports of a continuation, or the reason they are malformed."""
    if not isinstance(value, list):
        return f"'reports' is a JSON {json_kind(value)}, not an array"
    reports: list[Rejection] = []
    for index, report in enumerate(value):
        where = f"'reports[{index}]'"
        if not isinstance(report, dict):
            return f"{where} is a JSON {json_kind(report)}, not an object"
        line, ordinal = report.get("line"), report.get("ordinal")
        if not isinstance(line, int) or not _non_negative_int(line) or line == 0:
            return f"{where}.line must be a positive integer, not {_short_json(line)}"
        if not isinstance(ordinal, int) or not _non_negative_int(ordinal) or not 0 < ordinal <= resume_after:
            return f"{where}.ordinal must be an integer in 1..resume_after, not {_short_json(ordinal)}"
        reason, excerpt, element = report.get("reason"), report.get("excerpt", ""), report.get("array_element", False)
        if not isinstance(reason, str) or not isinstance(excerpt, str) or not isinstance(element, bool):
            return f"{where} needs a string 'reason', a string 'excerpt' and a boolean 'array_element'"
        reports.append(Rejection(line, ordinal, reason, excerpt, element))
    return tuple(reports)


def _short_json(value: object) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _looks_like_s3(record: object) -> bool:
    return isinstance(record, dict) and (record.get("eventSource") == "aws:s3" or "s3" in record)


def parse_s3_record(index: int, record: object) -> S3ObjectRef | InvalidS3Record:
    """Validate one entry of ``Records``; decode the URL-encoded key (``+`` is a space)."""
    if not isinstance(record, dict):
        return InvalidS3Record(index, f"record {index} is a JSON {json_kind(record)}, not an object", record)
    source = record.get("eventSource")
    if source is not None and source != "aws:s3":
        return InvalidS3Record(index, f"record {index} has eventSource {source!r}, not 'aws:s3'", record)
    s3 = record.get("s3")
    if not isinstance(s3, dict):
        return InvalidS3Record(index, f"record {index} has no 's3' object", record)
    bucket_obj = s3.get("bucket")
    object_obj = s3.get("object")
    bucket = bucket_obj.get("name") if isinstance(bucket_obj, dict) else None
    raw_key = object_obj.get("key") if isinstance(object_obj, dict) else None
    if not isinstance(bucket, str) or not bucket:
        return InvalidS3Record(index, f"record {index} has no s3.bucket.name", record)
    if not isinstance(raw_key, str) or not raw_key:
        return InvalidS3Record(index, f"record {index} has no s3.object.key", record, bucket=bucket)
    try:
        key = unquote_plus(raw_key, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return InvalidS3Record(
            index,
            f"record {index}: object key {raw_key[:200]!r} is not percent-encoded UTF-8",
            record,
            bucket,
        )
    assert isinstance(object_obj, dict)
    event_name = record.get("eventName")
    return S3ObjectRef(
        index=index,
        bucket=bucket,
        key=key,
        raw_key=raw_key,
        event_name=event_name if isinstance(event_name, str) else "",
        version_id=_opt_str(object_obj.get("versionId")),
        size=_opt_int(object_obj.get("size")),
        etag=_opt_str(object_obj.get("eTag")),
        sequencer=_opt_str(object_obj.get("sequencer")),
        raw=record,
    )


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
