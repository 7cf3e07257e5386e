"""Hypothesis strategies for S3-in-SQS Lambda events, shaped as AWS sends them, and object payloads.

    from hypothesis import given
    from s3pipe.strategies import sqs_events

    @given(sqs_events())
    def test_my_handler_never_loses_a_message(event):
        response = my_handler.handle(event, context)
        ...

Plural names are strategies (``sqs_events()``); singular names build one fixed value for an
example test (``sqs_event([sqs_record(s3_notification_body([s3_event_record("b", "k.json")]))])``).
Every event and notification body drawn here passes Powertools for AWS Lambda's parser models
(``SqsModel``, ``S3Model``; checked by the project's tests). Needs Hypothesis: install the
``strategies`` extra (``pip install 's3-event-pipeline[strategies]'``).
"""

from __future__ import annotations

try:
    import hypothesis  # noqa: F401 -- the check below, before the modules that need it
except ModuleNotFoundError as error:  # pragma: no cover -- exercised in a subprocess by the tests
    raise ModuleNotFoundError(
        "s3pipe.strategies needs Hypothesis, which is not installed\n"
        "  tried: import hypothesis\n"
        f"  seen:  {error}\n"
        "  fix:   pip install 's3-event-pipeline[strategies]' (or pip install 'hypothesis>=6.100')",
        name="hypothesis",
    ) from error

from s3pipe.strategies.aws import REGIONS, bucket_names, partition_of, regions
from s3pipe.strategies.keys import DEFAULT_SUFFIXES, MAX_KEY_BYTES, encode_key, object_keys
from s3pipe.strategies.payloads import (
    ExpectedRecord,
    Payload,
    access_log_lines,
    access_log_payloads,
    json_array_payloads,
    json_lines_payloads,
    json_object_payloads,
    json_records,
    json_text,
    json_values,
    payloads,
)
from s3pipe.strategies.s3 import (
    EVENT_VERSIONS,
    OBJECT_CREATED_EVENTS,
    OBJECT_REMOVED_EVENTS,
    s3_event_record,
    s3_event_records,
    s3_notification_bodies,
    s3_notification_body,
    s3_test_event_body,
    version_ids,
)
from s3pipe.strategies.sqs import (
    DEFAULT_QUEUE_ARN,
    blank_bodies,
    malformed_bodies,
    non_json_bodies,
    non_s3_json_bodies,
    sqs_event,
    sqs_events,
    sqs_record,
)

__all__ = [
    "DEFAULT_QUEUE_ARN",
    "DEFAULT_SUFFIXES",
    "EVENT_VERSIONS",
    "MAX_KEY_BYTES",
    "OBJECT_CREATED_EVENTS",
    "OBJECT_REMOVED_EVENTS",
    "REGIONS",
    "ExpectedRecord",
    "Payload",
    "access_log_lines",
    "access_log_payloads",
    "blank_bodies",
    "bucket_names",
    "encode_key",
    "json_array_payloads",
    "json_lines_payloads",
    "json_object_payloads",
    "json_records",
    "json_text",
    "json_values",
    "malformed_bodies",
    "non_json_bodies",
    "non_s3_json_bodies",
    "object_keys",
    "partition_of",
    "payloads",
    "regions",
    "s3_event_record",
    "s3_event_records",
    "s3_notification_bodies",
    "s3_notification_body",
    "s3_test_event_body",
    "sqs_event",
    "sqs_events",
    "sqs_record",
    "version_ids",
]
