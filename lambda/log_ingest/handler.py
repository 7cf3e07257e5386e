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
* a failed DLQ send -> the message is reported for retry;
* time budget exhausted in the middle of an object after some of it was stored -> a
  continuation message is sent to the event's own queue and the message counts as a success
  (continuation.py); every later S3 record of that message is handed over unstarted (the budget
  is spent) as a continuation from its start. A failed continuation send, or a pass that stored
  nothing new, is a transient failure (the message is retried; SQS's maxReceiveCount bounds it).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NoReturn, TypedDict, assert_never

from .backoff import delay_retries
from .config import ConfigurationError, Dependencies, Settings, build_dependencies
from .continuation import continuation_body, send_continuation
from .dlq import send_to_dlq
from .errors import TransientError
from .events import (
    Continuation,
    InvalidBody,
    InvalidS3Record,
    S3Continuation,
    S3ObjectRef,
    S3TestEvent,
    SqsMessage,
    Totals,
    parse_body,
    parse_s3_record,
    parse_sqs_event,
)
from .ingest import ObjectOutcome, ignore_reason, process_object
from .logs import (
    EVENT_CONFIGURATION_ERROR,
    EVENT_DLQ_SEND_FAILED,
    EVENT_HANDLER_ERROR,
    EVENT_INVALID_SQS_RECORD,
    EVENT_INVOCATION_SUMMARY,
    EVENT_MESSAGE_DEAD_LETTERED,
    EVENT_MESSAGE_RETRY,
    EVENT_OBJECT_CONTINUED,
    EVENT_OBJECT_DEAD_LETTER_DEFERRED,
    EVENT_OBJECT_DEAD_LETTERED,
    EVENT_OBJECT_IGNORED,
    EVENT_OBJECT_PARTIALLY_STORED,
    EVENT_OBJECT_REMOVED,
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
    continued: int = 0


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
    invocation: Invocation | None = None
    messages: list[SqsMessage] = []
    failed: dict[str, None] = {}
    summary = InvocationSummary()
    deadline: Deadline | None = None
    try:
        messages, invalid = parse_sqs_event(event)
        summary.messages = len(messages)
        summary.invalid_sqs_records = len(invalid)
        for bad in invalid:
            EventLog().error(EVENT_INVALID_SQS_RECORD, index=bad.index, reason=bad.reason)
        deadline = make_deadline(context, deps)
        invocation = Invocation(deps, deadline, summary)
        with deps.retry_budget.within(deadline):  # SDK retries end in time (retry_budget.py)
            invocation.run(messages)
        failed = invocation.failed
    except Exception as exc:  # a bug outside the per-message loop: retry everything not completed
        EventLog().exception(EVENT_HANDLER_ERROR, reason=f"{type(exc).__name__}: {exc}")
        completed = invocation.completed if invocation is not None else 0
        failed = invocation.failed if invocation is not None else {}
        for message in messages[completed:]:
            failed[message.message_id] = None
    summary.failed = len(failed)
    # best effort: without it the queue's visibility timeout applies
    with contextlib.suppress(Exception), deps.retry_budget.within(deadline):
        delay_retries(deps, [m for m in dict.fromkeys(messages) if m.message_id in failed])
    with contextlib.suppress(Exception):  # the response matters more than the summary line
        EventLog().info(
            EVENT_INVOCATION_SUMMARY,
            **asdict(summary),
            duration_ms=int((deps.clock() - started) * 1000),
        )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def _object_log(log: EventLog, ref: S3ObjectRef | InvalidS3Record, state: Continuation | None = None) -> EventLog:
    if isinstance(ref, S3ObjectRef):
        fields: dict[str, Any] = {"bucket": ref.bucket, "key": ref.key}
        if ref.version_id:
            fields["version_id"] = ref.version_id
        if state is not None:
            fields["origin_message_id"] = state.origin_message_id
        return log.bind(**fields)
    return log.bind(bucket=ref.bucket, key=ref.key, record_index=ref.index)


def _outcome_fields(outcome: ObjectOutcome) -> dict[str, Any]:
    """Counts over all passes of the object (this one included)."""
    totals = outcome.totals
    return {
        "records": totals.records,
        "stored": totals.stored,
        "rejected": totals.rejected,
        "formats": list(totals.formats),
        "passes": outcome.pass_number,
        "reads": outcome.reads,
    }


#: One unit of work: an S3 record, and where to resume it (None: from the start, pass 1).
_Work = tuple[S3ObjectRef | InvalidS3Record, Continuation | None]


@dataclass(frozen=True, slots=True)
class _PermanentFailure:
    ref: S3ObjectRef | InvalidS3Record
    reason: str
    outcome: ObjectOutcome | None
    state: Continuation | None = None


class _Retry(Exception):
    """The message must be retried (``reason``); raised by an outcome method, caught per message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Invocation:
    """One invocation of the handler: its dependencies, deadline and summary, the log of the
    message being processed, and one method per outcome.

    ``failed`` lists the messages to retry (the partial batch response); ``completed`` counts the
    messages already decided, so a bug outside a message's own processing retries only the rest.
    """

    def __init__(self, deps: Dependencies, deadline: Deadline, summary: InvocationSummary) -> None:
        self.deps = deps
        self.deadline = deadline
        self.summary = summary
        self.log = EventLog()
        self.failed: dict[str, None] = {}
        self.completed = 0

    # ------------------------------------------------------------------------------- messages

    def run(self, messages: list[SqsMessage]) -> None:
        for message in messages:
            self.log = EventLog(message_id=message.message_id)
            if message.receive_count is not None:
                self.log = self.log.bind(receive_count=message.receive_count)
            if self.deadline.expired():
                self.log.warning(EVENT_MESSAGE_RETRY, reason="time budget exhausted before the message was started")
                ok = False
            else:
                try:
                    ok = self.process_message(message)
                except Exception as exc:  # a bug: this message is retried, the others go on
                    self.log.exception(EVENT_HANDLER_ERROR, reason=f"{type(exc).__name__}: {exc}")
                    self.log.warning(EVENT_MESSAGE_RETRY, reason="internal error")
                    ok = False
            if not ok:
                self.failed[message.message_id] = None
            self.completed += 1

    def process_message(self, message: SqsMessage) -> bool:
        """True when the message is settled (stored, ignored, continued or dead-lettered); False to retry it."""
        body = parse_body(message.body)
        if isinstance(body, S3TestEvent):
            self.summary.test_events += 1
            self.log.info(EVENT_S3_TEST_EVENT, bucket=body.bucket)
            return True
        if isinstance(body, InvalidBody):
            return self.dead_letter_body(message, body)
        work: list[_Work] = (
            [(body.ref, body.state)] if isinstance(body, S3Continuation) else [(ref, None) for ref in body.records]
        )
        permanent: list[_PermanentFailure] = []
        try:
            self.process_objects(message, work, permanent)
        except _Retry as retry:
            for failure in permanent:
                _object_log(self.log, failure.ref, failure.state).warning(
                    EVENT_OBJECT_DEAD_LETTER_DEFERRED, reason=failure.reason
                )
            self.log.warning(EVENT_MESSAGE_RETRY, reason=retry.reason)
            return False
        return self.dead_letter_objects(message, permanent, single=len(work) == 1)

    def dead_letter_body(self, message: SqsMessage, body: InvalidBody) -> bool:
        """The whole body is unusable: to the DLQ verbatim (an object-level failure when the body is a
        malformed continuation whose S3 record names the object)."""
        target = self.log
        if body.bucket and body.key:
            fields: dict[str, Any] = {"bucket": body.bucket, "key": body.key}
            if body.version_id:
                fields["version_id"] = body.version_id
            target = self.log.bind(**fields)
        dlq_id, error = self._send(
            body=message.body,
            reason=body.reason,
            source_message_id=message.message_id,
            bucket=body.bucket,
            key=body.key,
            version_id=body.version_id,
        )
        if error is not None:
            target.error(EVENT_DLQ_SEND_FAILED, reason=body.reason, error=error)
            self.log.warning(EVENT_MESSAGE_RETRY, reason=error)
            return False
        self.summary.dead_lettered += 1
        event = EVENT_OBJECT_DEAD_LETTERED if target is not self.log else EVENT_MESSAGE_DEAD_LETTERED
        target.warning(event, reason=body.reason, dlq_message_id=dlq_id)
        return True

    # -------------------------------------------------------------------------------- objects

    def process_objects(self, message: SqsMessage, work: list[_Work], permanent: list[_PermanentFailure]) -> None:
        """Ingest the message's objects in order (permanent failures collected in ``permanent``);
        raise :class:`_Retry` at the first transient failure.

        Once an object has been continued the budget is spent: every later object of the message is
        handed over unstarted (a continuation from its start), so the message can be settled.
        """
        handed_over = False
        for ref, state in work:
            if isinstance(ref, InvalidS3Record):
                permanent.append(_PermanentFailure(ref, ref.reason, None))
                continue
            olog = _object_log(self.log, ref, state)
            ignored = ignore_reason(ref, self.deps)
            if ignored is not None:  # no I/O needed, whatever the budget
                self.summary.objects += 1
                self.summary.ignored += 1
                olog.info(EVENT_OBJECT_IGNORED, reason=ignored)
                continue
            if handed_over:
                start = Continuation(0, 1, message.message_id, Totals())
                reason = "not started: an earlier object of the message was continued (the budget is spent)"
                self.send_continuation(message, ref, start, reason, etag=None, log=olog)
                continue
            if self.deadline.expired():
                reason = "time budget exhausted before the object was started"
                olog.warning(EVENT_OBJECT_RETRY, reason=reason)
                raise _Retry(reason)
            self.summary.objects += 1
            outcome = process_object(ref, self.deps, self.deadline, olog, state)
            self.summary.records_processed += outcome.records
            self.summary.stored += outcome.stored
            handed_over = self.dispatch(message, ref, outcome, state=state, log=olog, permanent=permanent)

    def dispatch(
        self,
        message: SqsMessage,
        ref: S3ObjectRef,
        outcome: ObjectOutcome,
        *,
        state: Continuation | None,
        log: EventLog,
        permanent: list[_PermanentFailure],
    ) -> bool:
        """Act on one object's outcome; True when the object was continued (the budget is spent)."""
        match outcome.status:
            case "stored":
                self.stored(outcome, log)
            case "partially_stored":
                self.partially_stored(outcome, log)
            case "ignored":
                self.ignored(outcome, log, message)
            case "removed":
                self.removed(outcome, log)
            case "permanent":
                permanent.append(_PermanentFailure(ref, outcome.reason, outcome, state))
            case "continued":
                self.continued(message, ref, state, outcome, log)
                return True
            case "transient":
                self.transient(outcome, log)
            case unexpected:
                assert_never(unexpected)
        return False

    def stored(self, outcome: ObjectOutcome, log: EventLog) -> None:
        log.info(EVENT_OBJECT_STORED, **_outcome_fields(outcome))

    def partially_stored(self, outcome: ObjectOutcome, log: EventLog) -> None:
        self.summary.rejected += outcome.rejected
        log.warning(EVENT_OBJECT_PARTIALLY_STORED, **_outcome_fields(outcome))

    def ignored(self, outcome: ObjectOutcome, log: EventLog, message: SqsMessage | None = None) -> None:
        if outcome.redo is not None and message is not None:  # a superseded version wrote over a newer one
            newer = parse_s3_record(0, outcome.redo)
            if isinstance(newer, S3ObjectRef):
                start = Continuation(0, 1, message.message_id, Totals())
                self.send_continuation(message, newer, start, outcome.reason, etag=None, log=log)
        self.summary.ignored += 1
        log.info(EVENT_OBJECT_IGNORED, reason=outcome.reason)

    def removed(self, outcome: ObjectOutcome, log: EventLog) -> None:
        log.info(EVENT_OBJECT_REMOVED, reason=outcome.reason)

    def transient(self, outcome: ObjectOutcome, log: EventLog) -> NoReturn:
        log.warning(EVENT_OBJECT_RETRY, reason=outcome.reason, **_outcome_fields(outcome))
        raise _Retry(outcome.reason)

    def continued(
        self, message: SqsMessage, ref: S3ObjectRef, state: Continuation | None, outcome: ObjectOutcome, log: EventLog
    ) -> None:
        """The budget ran out after part of the object was stored: hand the rest to a continuation."""
        self.summary.rejected += outcome.rejected
        following = Continuation(
            resume_after=outcome.resume_after,
            pass_number=outcome.pass_number + 1,
            origin_message_id=state.origin_message_id if state is not None else message.message_id,
            totals=outcome.totals,
            reports=outcome.reports,
            complete_through=outcome.complete_through,
        )
        self.send_continuation(message, ref, following, outcome.reason, etag=outcome.etag, log=log)

    def send_continuation(
        self,
        message: SqsMessage,
        ref: S3ObjectRef,
        following: Continuation,
        reason: str,
        *,
        etag: str | None,
        log: EventLog,
    ) -> None:
        """Send the continuation message that starts pass ``following.pass_number`` of the object;
        raise :class:`_Retry` when it cannot be sent (the message is then retried)."""
        totals = following.totals
        body = continuation_body(
            ref.raw,
            resume_after=following.resume_after,
            pass_number=following.pass_number,
            origin_message_id=following.origin_message_id,
            totals=totals,
            etag=etag,
            reports=following.reports,
            complete_through=following.complete_through,
        )
        counts = {"records": totals.records, "stored": totals.stored, "rejected": totals.rejected}
        try:
            message_id = send_continuation(self.deps.sqs, message.event_source_arn, body, self.deps.queue_urls)
        except TransientError as exc:
            log.warning(EVENT_OBJECT_RETRY, reason=exc.reason, resume_after=following.resume_after, **counts)
            raise _Retry(exc.reason) from exc
        self.summary.continued += 1
        log.info(
            EVENT_OBJECT_CONTINUED,
            reason=reason,
            resume_after=following.resume_after,
            continuation_message_id=message_id,
            **{"pass": following.pass_number},
            **counts,
        )

    def dead_letter_objects(self, message: SqsMessage, permanent: list[_PermanentFailure], *, single: bool) -> bool:
        """One DLQ message per failed S3 record; False (retry the message) when a send fails."""
        for failure in permanent:
            ref = failure.ref
            olog = _object_log(self.log, ref, failure.state)
            dlq_body = message.body if single else json.dumps({"Records": [ref.raw]}, separators=(",", ":"))
            dlq_id, error = self._send(
                body=dlq_body,
                reason=failure.reason,
                source_message_id=message.message_id,
                bucket=ref.bucket,
                key=ref.key,
                version_id=ref.version_id if isinstance(ref, S3ObjectRef) else None,
            )
            if error is not None:
                olog.error(EVENT_DLQ_SEND_FAILED, reason=failure.reason, error=error)
                self.log.warning(EVENT_MESSAGE_RETRY, reason=error)
                return False
            self.summary.dead_lettered += 1
            fields = _outcome_fields(failure.outcome) if failure.outcome is not None else {}
            olog.warning(EVENT_OBJECT_DEAD_LETTERED, reason=failure.reason, dlq_message_id=dlq_id, **fields)
        return True

    def _send(self, **fields: Any) -> tuple[str, str | None]:
        """Send to the DLQ: (DLQ message id, None) or ("", the reason the send failed)."""
        try:
            return send_to_dlq(self.deps.sqs, self.deps.settings.dlq_url, **fields), None
        except TransientError as exc:
            return "", exc.reason
