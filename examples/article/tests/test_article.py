"""The article's pipeline, tested through the s3pipe plugin with nothing but pytest.ini.

Its handler writes no s3pipe events, so these tests use the generic helpers: ``upload``,
``eventually``, ``get_item``, ``settle``, ``dlq_entries_for``.
"""

from __future__ import annotations

import json
import secrets

import pytest

from s3pipe import HandlerEventsMissing, Pipeline, Stack


def log_record(user: str) -> dict[str, str]:
    return {
        "PK": f"USER#{user}",
        "SK": "LOG#2025-10-20T10:30:00Z",
        "timestamp": "2025-10-20T10:30:00Z",
        "userId": user,
        "action": "login",
        "ipAddress": "192.168.1.100",
    }


def test_an_uploaded_log_file_becomes_an_item(pipeline: Pipeline) -> None:
    record = log_record(secrets.token_hex(4))
    pipeline.upload("server-log.json", json.dumps(record))

    def stored() -> dict[str, object]:
        item = pipeline.get_item(record["PK"], record["SK"])
        assert item is not None, f"no item {record['PK']} / {record['SK']} yet"
        return item

    assert pipeline.eventually(stored, what="the log record in ServerLogsTable") == record


def test_a_file_that_is_not_json_ends_in_the_dlq_and_writes_nothing(pipeline: Pipeline) -> None:
    upload = pipeline.upload("broken.json", '{"PK": "USER#broken", "SK": ')

    [entry] = pipeline.dlq_entries_for(upload, timeout=90)

    assert entry.concerns(upload.bucket, upload.key)
    assert entry.failure_class == "redriven"  # SQS moved it after maxReceiveCount receives
    pipeline.settle()
    assert pipeline.query("USER#broken") == []


def test_the_stack_is_completed_from_the_deployed_resources(s3pipe_stack: Stack) -> None:
    outputs = s3pipe_stack.outputs  # the module outputs five names; the rest was derived or looked up
    assert (outputs.bucket_name, outputs.table_name) == ("row-data-server-log-bucket", "ServerLogsTable")
    assert outputs.queue_arn.endswith(":server-log-queue")
    assert outputs.dlq_arn.endswith(":server-log-dlq")
    assert (outputs.max_receive_count, outputs.visibility_timeout_seconds, outputs.lambda_timeout) == (2, 5, 3)
    assert outputs.accepted_suffixes == (".json",)
    assert outputs.role_name == "server-log-role"
    assert outputs.log_group_name == "/aws/lambda/server-log-function"
    assert outputs.event_source_mapping_uuid


def test_helpers_that_need_the_shipped_handler_say_so(pipeline: Pipeline) -> None:
    upload = pipeline.upload("another.json", json.dumps(log_record(secrets.token_hex(4))))
    with pytest.raises(HandlerEventsMissing, match=r"pipeline\.eventually"):
        pipeline.wait_for(upload, timeout=60)
