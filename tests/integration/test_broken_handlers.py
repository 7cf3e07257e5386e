"""A failing wait says why, for any handler: broken at import, raising on every message, timing out.

Each handler runs as a function of its own behind its own queue and event source mapping on the
session's emulator (no Terraform run); a :class:`Pipeline` over that function waits as a test of a
user's pipeline would, and its failure must say what the function did.
"""

from __future__ import annotations

import dataclasses
import io
import secrets
import time
import zipfile
from collections.abc import Callable, Iterator

import pytest

from s3pipe import Pipeline
from s3pipe.backends.base import Capability
from s3pipe.errors import SettleTimeout
from s3pipe.invocations import FunctionBroken
from s3pipe.observe import StackObserver
from s3pipe.stack import Stack

pytestmark = pytest.mark.requires(Capability.LAMBDA_EXECUTION, Capability.LOG_RETRIEVAL)

#: The seed article's handler with one typo (TABLE_NAMES for TABLE_NAME): it fails while being imported.
BROKEN_AT_IMPORT = """
import os
import boto3

TABLE = os.environ["TABLE_NAMES"]

def lambda_handler(event, context):
    return {}
"""
RAISING = """
def lambda_handler(event, context):
    order = event["Records"][0]["body"]
    raise LookupError(f"no such order: {order}")
"""
TIMING_OUT = """
import time

def lambda_handler(event, context):
    time.sleep(30)
"""


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.py", source)
    return buffer.getvalue()


PipelineFor = Callable[[str, int], Pipeline]


@pytest.fixture
def pipeline_for(s3pipe_stack: Stack, key_prefix: str) -> Iterator[PipelineFor]:
    """A function of its own with this source behind a queue of its own, and a Pipeline over it."""
    stack = s3pipe_stack
    cleanup: list[Callable[[], object]] = []

    def deploy(source: str, timeout: int) -> Pipeline:
        name = f"{stack.outputs.name_prefix}-broken-{secrets.token_hex(3)}"
        stack.lambda_.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=stack.outputs.role_arn,
            Handler="main.lambda_handler",
            Code={"ZipFile": _zip(source)},
            Timeout=timeout,
            Environment={"Variables": {"TABLE_NAME": stack.outputs.table_name}},
        )
        cleanup.append(lambda: stack.lambda_.delete_function(FunctionName=name))
        stack.lambda_.get_waiter("function_active_v2").wait(FunctionName=name)
        url = stack.sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(timeout + 2)})["QueueUrl"]
        cleanup.append(lambda: stack.sqs.delete_queue(QueueUrl=url))
        arn = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        mapping = stack.lambda_.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10)
        cleanup.append(lambda: stack.lambda_.delete_event_source_mapping(UUID=mapping["UUID"]))
        outputs = dataclasses.replace(
            stack.outputs,
            function_name=name,
            queue_name=name,
            queue_url=url,
            queue_arn=arn,
            log_group_name=f"/aws/lambda/{name}",
        )
        view = dataclasses.replace(stack, outputs=outputs)  # the same emulator, gateway and log
        return Pipeline(view, StackObserver(view), key_prefix)

    yield deploy
    for step in reversed(cleanup):
        step()


def _never(pipeline: Pipeline, order: str) -> Callable[[], None]:
    def check() -> None:
        assert pipeline.get_item(order, "LINE#1") is not None, f"no item for {order}"

    return check


def test_a_handler_broken_at_import_ends_the_wait_at_once_with_its_init_error(pipeline_for: PipelineFor) -> None:
    pipeline = pipeline_for(BROKEN_AT_IMPORT, 5)
    pipeline.send_message("ORDER#1")
    started = time.monotonic()

    with pytest.raises(FunctionBroken) as raised:
        pipeline.eventually(_never(pipeline, "ORDER#1"), timeout=60, what="the order's item")

    waited = time.monotonic() - started
    message = str(raised.value)
    assert "TABLE_NAMES" in message, message  # the init error, as the function hit it
    assert "failed before the handler ran" in message
    assert "0 succeeded" in message, message
    assert f"queue {pipeline.stack.outputs.queue_name} now:" in message
    assert waited < 30, f"the wait took {waited:.1f} s of its 60 s: it did not stop at the init error"


def test_a_handler_raising_on_every_message_is_reported_with_its_exception_and_traceback(
    pipeline_for: PipelineFor,
) -> None:
    pipeline = pipeline_for(RAISING, 3)
    pipeline.send_message("ORDER#2")

    with pytest.raises(SettleTimeout) as raised:
        pipeline.eventually(_never(pipeline, "ORDER#2"), timeout=8, what="the order's item")

    message = str(raised.value)
    assert not isinstance(raised.value, FunctionBroken)  # a handler error may heal on retry: never cut short
    assert "LookupError: no such order: ORDER#2" in message, message
    assert 'raise LookupError(f"no such order: {order}")' in message, message  # the traceback's last lines
    assert "0 succeeded" in message


def test_a_handler_timing_out_is_reported_as_a_timeout(pipeline_for: PipelineFor) -> None:
    pipeline = pipeline_for(TIMING_OUT, 1)
    pipeline.send_message("ORDER#3")

    with pytest.raises(SettleTimeout) as raised:
        pipeline.eventually(_never(pipeline, "ORDER#3"), timeout=8, what="the order's item")

    message = str(raised.value)
    assert "x timeout: Task timed out after 1.00 seconds" in message, message
