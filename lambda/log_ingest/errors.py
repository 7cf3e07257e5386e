"""Failure classes and the classification of AWS errors.

* :class:`PermanentError` -- retrying cannot help (malformed content, object gone ...):
  the failure goes straight to the DLQ with its reason.
* :class:`TransientError` -- retrying may help (throttling, 5xx, timeouts, AccessDenied that an
  operator may fix, time budget exhausted): the SQS message is reported in ``batchItemFailures``.
* :class:`BudgetExhaustedError` -- the transient failure "the invocation's time budget ran out":
  when it happens mid-object after some records were stored, the object is *continued* by a
  continuation message instead (see continuation.py).
"""

from __future__ import annotations

from typing import Final

from botocore.exceptions import BotoCoreError, ClientError

#: S3 error codes meaning "the object cannot be read, and retrying will not change that".
PERMANENT_S3_CODES: Final = frozenset(
    {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "NotFound", "404", "InvalidObjectState"}
)

_S3_CODE_EXPLANATIONS: Final = {
    "NoSuchKey": "the object no longer exists (deleted before it could be read)",
    "NotFound": "the object no longer exists (deleted before it could be read)",
    "404": "the object no longer exists (deleted before it could be read)",
    "NoSuchBucket": "the bucket no longer exists",
    "NoSuchVersion": "the object version no longer exists",
    "InvalidObjectState": "the object is archived (e.g. Glacier) and must be restored before it can be read",
}


class IngestError(Exception):
    """Base class: carries a specific, human-readable ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentError(IngestError):
    """Retrying cannot help: dead-letter with the reason."""


class TransientError(IngestError):
    """Retrying may help: report the SQS message as failed."""


class BudgetExhaustedError(TransientError):
    """The invocation's time budget ran out (the object may be continued by the next invocation)."""


def error_code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message") or "")


def describe_aws_error(exc: BaseException) -> str:
    """A one-line description: ``Code: message`` for client errors, the class name otherwise."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = error_message(exc)
        return f"{code}: {message}" if message else code
    return f"{type(exc).__name__}: {exc}"


def classify_s3_read_error(exc: ClientError | BotoCoreError, bucket: str, key: str) -> IngestError:
    """Map an error from GetObject (or from reading its body) to permanent/transient."""
    where = f"s3://{bucket}/{key}"
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in PERMANENT_S3_CODES:
            return PermanentError(f"GetObject {where} failed with {code}: {_S3_CODE_EXPLANATIONS[code]}")
        return TransientError(f"GetObject {where} failed: {describe_aws_error(exc)}")
    return TransientError(f"reading {where} failed: {describe_aws_error(exc)}")
