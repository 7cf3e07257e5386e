"""Lambda entry point: ``log_ingest.handler.lambda_handler`` (SQS event source, partial batch response).

For every SQS message, for every S3 record in it: GetObject (with ``VersionId`` when the event has
one), parse, write. Returns ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` listing
exactly the messages with a transient failure (empty on full success). Never raises.

* permanent failure (malformed content, body not an S3 event, object deleted, every record
  rejected) -> sent straight to the DLQ with the reason, the source message counts as a success;
* transient failure (throttling, 5xx, timeouts, AccessDenied, time budget) -> the message is
  reported for retry; its remaining S3 records are not started (they will be retried with it),
  and its permanent failures are not dead-lettered yet (that happens on the retry that settles
  the message, so a message never produces the same DLQ entry twice);
* a failed DLQ send -> the message is reported for retry.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

from .config import ConfigurationError, Dependencies, Settings, build_dependencies
from .dlq import send_to_dlq
from .errors import TransientError
from .events import (
    InvalidBody,
    InvalidS3Record,
    S3Notification,
    S3ObjectRef,
    S3TestEvent,
    SqsMessage,
    parse_body,
    parse_sqs_event,
)
from .ingest import ObjectOutcome, process_object
from .logs import (
    EVENT_CONFIGURATION_ERROR,
    EVENT_DLQ_SEND_FAILED,
    EVENT_HANDLER_ERROR,
    EVENT_INVALID_SQS_RECORD,
    EVENT_INVOCATION_SUMMARY,
    EVENT_MESSAGE_DEAD_LETTERED,
    EVENT_MESSAGE_RETRY,
    EVENT_OBJECT_DEAD_LETTER_DEFERRED,
    EVENT_OBJECT_DEAD_LETTERED,
    EVENT_OBJECT_IGNORED,
    EVENT_OBJECT_PARTIALLY_STORED,
    EVENT_OBJECT_RETRY,
    EVENT_OBJECT_STORED,
    EVENT_S3_TEST_EVENT,
    EventLog,
    configure,
    set_request_id,
)
from .writer import Deadline

#: Used when the context has no ``get_remaining_time_in_millis`` (Lambda's maximum timeout).
FALLBACK_BUDGET_MS = 900_000


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


@dataclass(slots=True)
class InvocationSummary:
    messages: int = 0
    objects: int = 0
    records_processed: int = 0
    stored: int = 0
    rejected: int = 0
    failed: int = 0
    dead_lettered: int = 0
    ignored: int = 0
    test_events: int = 0
    invalid_sqs_records: int = 0


_default_dependencies: Dependencies | None = None


def _get_default_dependencies() -> Dependencies:
    """Built once per container (clients are reused across invocations)."""
    global _default_dependencies  # noqa: PLW0603 -- the per-container cache is the point
    if _default_dependencies is None:
        settings = Settings.from_env(os.environ)
        configure(settings.log_level)
        _default_dependencies = build_dependencies(settings)
    return _default_dependencies


def lambda_handler(event: Any, context: Any) -> BatchResponse:
    """The Lambda handler (Terraform's default ``log_ingest.handler.lambda_handler``)."""
    try:
        deps = _get_default_dependencies()
    except Exception as exc:  # configuration or client construction failed: retry everything
        configure(os.environ.get("LOG_LEVEL", "INFO"))
        set_request_id(_request_id(context))
        ids = _message_ids(event)
        reason = str(exc) if isinstance(exc, ConfigurationError) else f"{type(exc).__name__}: {exc}"
        EventLog().exception(EVENT_CONFIGURATION_ERROR, reason=reason, failed=len(ids))
        return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}
    return handle(event, context, deps)


def _request_id(context: Any) -> str:
    value = getattr(context, "aws_request_id", "")
    return value if isinstance(value, str) else ""


def _message_ids(event: Any) -> list[str]:
    try:
        messages, _ = parse_sqs_event(event)
    except Exception:  # must never raise
        return []
    return list(dict.fromkeys(m.message_id for m in messages))


def _remaining_time(context: Any, clock: Callable[[], float]) -> Callable[[], int]:
    method = getattr(context, "get_remaining_time_in_millis", None)
    if callable(method):

        def remaining() -> int:
            value = method()
            return int(value) if isinstance(value, int | float) else FALLBACK_BUDGET_MS

        return remaining
    started = clock()
    return lambda: FALLBACK_BUDGET_MS - int((clock() - started) * 1000)


def make_deadline(context: Any, deps: Dependencies) -> Deadline:
    """Remaining time minus a safety margin (at most a fifth of the time the invocation starts with)."""
    remaining = _remaining_time(context, deps.clock)
    margin = min(deps.settings.safety_margin_ms, max(0, remaining()) // 5)
    return Deadline(remaining, margin)


def handle(event: Any, context: Any, deps: Dependencies) -> BatchResponse:
    """The handler with its dependencies injected (tests call this directly)."""
    started = deps.clock()
    set_request_id(_request_id(context))
    summary = InvocationSummary()
    failed: dict[str, None] = {}
    completed: set[int] = set()
    messages: list[SqsMessage] = []
    try:
        messages, invalid = parse_sqs_event(event)
        summary.messages = len(messages)
        summary.invalid_sqs_records = len(invalid)
        for bad in invalid:
            EventLog().error(EVENT_INVALID_SQS_RECORD, index=bad.index, reason=bad.reason)
        deadline = make_deadline(context, deps)
        for position, message in enumerate(messages):
            log = EventLog(message_id=message.message_id)
            if deadline.expired():
                log.warning(
                    EVENT_MESSAGE_RETRY, reason="time budget exhausted before the message was started"
                )
                failed[message.message_id] = None
                completed.add(position)
                continue
            try:
                ok = _process_message(message, deps, deadline, summary, log)
            except Exception as exc:  # a bug: this message is retried, the others go on
                log.exception(EVENT_HANDLER_ERROR, reason=f"{type(exc).__name__}: {exc}")
                log.warning(EVENT_MESSAGE_RETRY, reason="internal error")
                ok = False
            if not ok:
                failed[message.message_id] = None
            completed.add(position)
    except Exception as exc:  # a bug outside the per-message loop: retry everything not completed
        EventLog().exception(EVENT_HANDLER_ERROR, reason=f"{type(exc).__name__}: {exc}")
        for position, message in enumerate(messages):
            if position not in completed:
                failed[message.message_id] = None
    summary.failed = len(failed)
    with contextlib.suppress(Exception):  # the response matters more than the summary line
        EventLog().info(
            EVENT_INVOCATION_SUMMARY,
            **asdict(summary),
            duration_ms=int((deps.clock() - started) * 1000),
        )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def _object_log(log: EventLog, ref: S3ObjectRef | InvalidS3Record) -> EventLog:
    if isinstance(ref, S3ObjectRef):
        fields: dict[str, Any] = {"bucket": ref.bucket, "key": ref.key}
        if ref.version_id:
            fields["version_id"] = ref.version_id
        return log.bind(**fields)
    return log.bind(bucket=ref.bucket, key=ref.key, record_index=ref.index)


def _outcome_fields(outcome: ObjectOutcome) -> dict[str, Any]:
    return {
        "records": outcome.records,
        "stored": outcome.stored,
        "rejected": outcome.rejected,
        "formats": outcome.formats,
        "passes": outcome.passes,
    }


def _process_message(
    message: SqsMessage, deps: Dependencies, deadline: Deadline, summary: InvocationSummary, log: EventLog
) -> bool:
    """True when the message is settled (stored, ignored or dead-lettered); False to retry it."""
    body = parse_body(message.body)
    if isinstance(body, S3TestEvent):
        summary.test_events += 1
        log.info(EVENT_S3_TEST_EVENT, bucket=body.bucket)
        return True
    if isinstance(body, InvalidBody):
        dlq_id, error = _send(
            deps, body=message.body, reason=body.reason, source_message_id=message.message_id
        )
        if error is not None:
            log.error(EVENT_DLQ_SEND_FAILED, reason=body.reason, error=error)
            log.warning(EVENT_MESSAGE_RETRY, reason=error)
            return False
        summary.dead_lettered += 1
        log.warning(EVENT_MESSAGE_DEAD_LETTERED, reason=body.reason, dlq_message_id=dlq_id)
        return True
    permanent, retry_reason = _process_objects(body, deps, deadline, summary, log)
    if retry_reason is not None:
        for failure in permanent:
            _object_log(log, failure.ref).warning(EVENT_OBJECT_DEAD_LETTER_DEFERRED, reason=failure.reason)
        log.warning(EVENT_MESSAGE_RETRY, reason=retry_reason)
        return False
    return _dead_letter_objects(message, body, permanent, deps=deps, summary=summary, log=log)


@dataclass(frozen=True, slots=True)
class _PermanentFailure:
    ref: S3ObjectRef | InvalidS3Record
    reason: str
    outcome: ObjectOutcome | None


def _process_objects(
    body: S3Notification, deps: Dependencies, deadline: Deadline, summary: InvocationSummary, log: EventLog
) -> tuple[list[_PermanentFailure], str | None]:
    """Ingest the message's objects in order; stop at the first transient failure (its reason)."""
    permanent: list[_PermanentFailure] = []
    for ref in body.records:
        if isinstance(ref, InvalidS3Record):
            permanent.append(_PermanentFailure(ref, ref.reason, None))
            continue
        olog = _object_log(log, ref)
        if deadline.expired():
            reason = "time budget exhausted before the object was started"
            olog.warning(EVENT_OBJECT_RETRY, reason=reason)
            return permanent, reason
        summary.objects += 1
        outcome = process_object(ref, deps, deadline, olog)
        summary.records_processed += outcome.records
        summary.stored += outcome.stored
        if outcome.status == "stored":
            olog.info(EVENT_OBJECT_STORED, **_outcome_fields(outcome))
        elif outcome.status == "partially_stored":
            summary.rejected += outcome.rejected
            olog.warning(EVENT_OBJECT_PARTIALLY_STORED, **_outcome_fields(outcome))
        elif outcome.status == "ignored":
            summary.ignored += 1
            olog.info(EVENT_OBJECT_IGNORED, reason=outcome.reason)
        elif outcome.status == "permanent":
            permanent.append(_PermanentFailure(ref, outcome.reason, outcome))
        else:
            olog.warning(EVENT_OBJECT_RETRY, reason=outcome.reason, **_outcome_fields(outcome))
            return permanent, outcome.reason
    return permanent, None


def _dead_letter_objects(
    message: SqsMessage,
    body: S3Notification,
    permanent: list[_PermanentFailure],
    *,
    deps: Dependencies,
    summary: InvocationSummary,
    log: EventLog,
) -> bool:
    """One DLQ message per failed S3 record; False (retry the message) when a send fails."""
    for failure in permanent:
        ref = failure.ref
        olog = _object_log(log, ref)
        dlq_body = (
            message.body
            if len(body.records) == 1
            else json.dumps({"Records": [ref.raw]}, separators=(",", ":"))
        )
        dlq_id, error = _send(
            deps,
            body=dlq_body,
            reason=failure.reason,
            source_message_id=message.message_id,
            bucket=ref.bucket,
            key=ref.key,
            version_id=ref.version_id if isinstance(ref, S3ObjectRef) else None,
        )
        if error is not None:
            olog.error(EVENT_DLQ_SEND_FAILED, reason=failure.reason, error=error)
            log.warning(EVENT_MESSAGE_RETRY, reason=error)
            return False
        summary.dead_lettered += 1
        fields = _outcome_fields(failure.outcome) if failure.outcome is not None else {}
        olog.warning(EVENT_OBJECT_DEAD_LETTERED, reason=failure.reason, dlq_message_id=dlq_id, **fields)
    return True


def _send(deps: Dependencies, **fields: Any) -> tuple[str, str | None]:
    """Send to the DLQ: (DLQ message id, None) or ("", the reason the send failed)."""
    try:
        return send_to_dlq(deps.sqs, deps.settings.dlq_url, **fields), None
    except TransientError as exc:
        return "", exc.reason
