"""Every function's SDK calls go through the function gateway with nothing in its module; a function that sets
its own ``AWS_ENDPOINT_URL`` keeps it (and its calls then bypass the gateway)."""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from collections.abc import Callable, Iterator

import pytest

from s3pipe import GatewayClient
from s3pipe.backends.base import Capability
from s3pipe.stack import Stack

pytestmark = pytest.mark.requires(Capability.FUNCTION_ENDPOINT_OVERRIDE)

ASKS_FOR_ITS_QUEUE = """
import json, os
import boto3

def handler(event, context):
    url = boto3.client("sqs").get_queue_url(QueueName=event["queue"])["QueueUrl"]
    return {"url": url, "endpoint": os.environ.get("AWS_ENDPOINT_URL", "")}
"""


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("probe.py", source)
    return buffer.getvalue()


Invoke = Callable[[dict[str, str]], dict[str, str]]


@pytest.fixture
def function_with(s3pipe_stack: Stack) -> Iterator[Callable[[dict[str, str]], Invoke]]:
    """A function with the stack's role and this environment; calling the result invokes it."""
    names: list[str] = []

    def create(environment: dict[str, str]) -> Invoke:
        name = f"{s3pipe_stack.outputs.name_prefix}-endpoint-{secrets.token_hex(3)}"
        s3pipe_stack.lambda_.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=s3pipe_stack.outputs.role_arn,
            Handler="probe.handler",
            Code={"ZipFile": _zip(ASKS_FOR_ITS_QUEUE)},
            Timeout=10,
            Environment={"Variables": environment},
        )
        names.append(name)
        s3pipe_stack.lambda_.get_waiter("function_active_v2").wait(FunctionName=name)

        def invoke(event: dict[str, str]) -> dict[str, str]:
            answer = s3pipe_stack.lambda_.invoke(FunctionName=name, Payload=json.dumps(event).encode())
            result: dict[str, str] = json.loads(answer["Payload"].read())
            assert "FunctionError" not in answer, result
            return result

        return invoke

    yield create
    for name in names:
        s3pipe_stack.lambda_.delete_function(FunctionName=name)


def test_a_function_without_any_endpoint_setting_calls_through_the_gateway(
    s3pipe_stack: Stack, s3pipe_gateway: GatewayClient, function_with: Callable[[dict[str, str]], Invoke]
) -> None:
    invoke = function_with({})
    queue = s3pipe_stack.outputs.queue_name
    mark = s3pipe_gateway.cursor()

    result = invoke({"queue": queue})

    assert result["url"].endswith(f"/{queue}")
    assert result["endpoint"] == s3pipe_gateway.url  # from the emulator's environment, not the function's
    asked = [call for call in s3pipe_gateway.calls(mark) if call.action == "GetQueueUrl"]
    assert len(asked) == 1, [str(call) for call in s3pipe_gateway.calls(mark)]


def test_a_function_with_its_own_endpoint_keeps_it(
    s3pipe_stack: Stack, s3pipe_gateway: GatewayClient, function_with: Callable[[dict[str, str]], Invoke]
) -> None:
    assert s3pipe_stack.endpoint.url is not None
    invoke = function_with({"AWS_ENDPOINT_URL": s3pipe_stack.endpoint.url})  # straight to the emulator
    queue = s3pipe_stack.outputs.queue_name
    mark = s3pipe_gateway.cursor()

    result = invoke({"queue": queue})

    assert result["endpoint"] == s3pipe_stack.endpoint.url
    assert result["url"].endswith(f"/{queue}")  # it reached the emulator
    assert [call for call in s3pipe_gateway.calls(mark) if call.action == "GetQueueUrl"] == []
