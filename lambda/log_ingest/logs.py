"""Structured logging: one JSON object per line on stdout, through :mod:`logging`.

Every line has ``time``, ``level``, ``event`` and ``aws_request_id``; callers add fields.
Message- and object-level lines carry ``message_id`` and ``receive_count`` (the SQS record's
``ApproximateReceiveCount``, when known); object-level lines also carry ``bucket``, ``key``
(decoded) and ``version_id`` (when the event has one), so a test can pick out the lines of one
object -- and, on the passes of a continued object, ``origin_message_id``.

Terminal object events (``object_stored``, ``object_partially_stored``) report ``records``,
``stored``, ``rejected`` and ``formats`` as totals over all passes of the object, ``passes``
(the number of passes: 1 unless the object was continued) and ``reads`` (GetObject calls of the
last pass). ``object_continued`` (non-terminal) is logged by the pass that hands an object over
to a continuation message: ``resume_after``, ``pass`` (the number of the pass that message
starts), ``continuation_message_id``, ``reason`` and the totals so far. ``invocation_summary``
counts per invocation (this pass only), with ``continued`` = continuation messages sent.

Event names (stable, tests and dashboards build on them) are the ``EVENT_*`` constants below; the
harness's copy is ``s3pipe.contract``, pinned to these by ``tests/unit/test_contract.py``.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, Final

LOGGER_NAME: Final = "log_ingest"

EVENT_INVOCATION_SUMMARY: Final = "invocation_summary"
EVENT_HANDLER_ERROR: Final = "handler_error"
EVENT_CONFIGURATION_ERROR: Final = "configuration_error"
EVENT_INVALID_SQS_RECORD: Final = "invalid_sqs_record"
EVENT_S3_TEST_EVENT: Final = "s3_test_event"
EVENT_MESSAGE_DEAD_LETTERED: Final = "message_dead_lettered"
EVENT_MESSAGE_RETRY: Final = "message_retry"
EVENT_DLQ_SEND_FAILED: Final = "dlq_send_failed"
EVENT_OBJECT_STORED: Final = "object_stored"
EVENT_OBJECT_PARTIALLY_STORED: Final = "object_partially_stored"
EVENT_OBJECT_DEAD_LETTERED: Final = "object_dead_lettered"
EVENT_OBJECT_DEAD_LETTER_DEFERRED: Final = "object_dead_letter_deferred"
EVENT_OBJECT_IGNORED: Final = "object_ignored"
#: An ``ObjectRemoved`` event deleted the object's items (``ON_OBJECT_REMOVED=delete``).
EVENT_OBJECT_REMOVED: Final = "object_removed"
EVENT_OBJECT_RETRY: Final = "object_retry"
EVENT_OBJECT_CONTINUED: Final = "object_continued"
EVENT_RECORD_REJECTED: Final = "record_rejected"
EVENT_REJECTIONS_NOT_LOGGED: Final = "rejections_not_logged"
EVENT_OBJECT_REREAD: Final = "object_second_pass"
EVENT_MESSAGE_RETRY_DELAYED: Final = "message_retry_delayed"
EVENT_RETRY_DELAY_FAILED: Final = "retry_delay_failed"

#: Events that end the handler's work on an object (one per object, per settled delivery).
TERMINAL_EVENTS: Final = frozenset(
    {
        EVENT_OBJECT_STORED,
        EVENT_OBJECT_PARTIALLY_STORED,
        EVENT_OBJECT_DEAD_LETTERED,
        EVENT_OBJECT_IGNORED,
        EVENT_OBJECT_REMOVED,
    }
)
#: Events that end the handler's work on a whole message that names no object.
MESSAGE_TERMINAL_EVENTS: Final = frozenset({EVENT_MESSAGE_DEAD_LETTERED, EVENT_S3_TEST_EVENT})
#: Events that mean "this will be tried again".
RETRY_EVENTS: Final = frozenset({EVENT_OBJECT_RETRY, EVENT_MESSAGE_RETRY, EVENT_OBJECT_DEAD_LETTER_DEFERRED})


class _State:
    aws_request_id: str = ""


_state = _State()


def set_request_id(request_id: str) -> None:
    """Remember the invocation's request id; every following line carries it."""
    _state.aws_request_id = request_id


class JsonFormatter(logging.Formatter):
    """Format a record as one compact JSON object (the message becomes ``event``)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "event": record.getMessage(),
            "aws_request_id": _state.aws_request_id,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            payload["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(payload, default=str, ensure_ascii=False, separators=(",", ":"))


class StdoutHandler(logging.Handler):
    """Write to whatever ``sys.stdout`` is at emit time (so pytest's capture sees it too)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stdout
            stream.write(line + "\n")
            stream.flush()
        except Exception:  # logging must never break the handler
            self.handleError(record)


def configure(level: str = "INFO") -> logging.Logger:
    """Set up the package logger once (idempotent); returns it."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, StdoutHandler) for h in logger.handlers):
        handler = StdoutHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.propagate = False
    resolved = logging.getLevelName(level.upper().strip() or "INFO")
    logger.setLevel(resolved if isinstance(resolved, int) else logging.INFO)
    return logger


class EventLog:
    """A logger bound to context fields (``message_id``, ``bucket``, ``key`` ...)."""

    __slots__ = ("_fields", "_logger")

    def __init__(self, logger: logging.Logger | None = None, **fields: Any) -> None:
        self._logger = logger if logger is not None else logging.getLogger(LOGGER_NAME)
        self._fields = fields

    def bind(self, **fields: Any) -> EventLog:
        return EventLog(self._logger, **{**self._fields, **fields})

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self._fields)

    def enabled(self, level: int) -> bool:
        return self._logger.isEnabledFor(level)

    def log(self, level: int, event: str, *, exc_info: bool = False, **fields: Any) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, event, exc_info=exc_info, extra={"fields": {**self._fields, **fields}})

    def debug(self, event: str, **fields: Any) -> None:
        self.log(logging.DEBUG, event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self.log(logging.INFO, event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.log(logging.WARNING, event, **fields)

    def error(self, event: str, *, exc_info: bool = False, **fields: Any) -> None:
        self.log(logging.ERROR, event, exc_info=exc_info, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        """An ERROR line with the current exception's traceback."""
        self.log(logging.ERROR, event, exc_info=True, **fields)
