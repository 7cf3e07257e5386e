"""The fast loop, through the real harness: a warm stack is reused and a handler change goes live
without a Terraform run (pushed with UpdateFunctionCode), then the shipped handler comes back."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from decimal import Decimal

import pytest

from s3pipe.backends.base import Capability
from s3pipe.config import HarnessConfig
from s3pipe.deploy import StackRecord
from s3pipe.guard import check_deployment
from s3pipe.pipeline import Pipeline
from s3pipe.progress import Progress
from s3pipe.session import StackSession
from s3pipe.stack import Stack

HANDLER_MODULE = "log_ingest/handler.py"


def probe_handler(shipped_source: bytes, token: str) -> bytes:
    """The shipped handler plus a wrapper that answers a probe event with ``token``."""
    wrapper = f"""

_shipped_lambda_handler = lambda_handler


def lambda_handler(event, context):  # type: ignore[no-redef]
    if isinstance(event, dict) and event.get("code_sync_probe") is not None:
        return {{"code_sync_probe": {token!r}}}
    return _shipped_lambda_handler(event, context)
"""
    return shipped_source + wrapper.encode()


def probe_answer(stack: Stack) -> object:
    response = stack.lambda_.invoke(
        FunctionName=stack.outputs.function_name, Payload=json.dumps({"code_sync_probe": True}).encode()
    )
    payload = json.loads(response["Payload"].read() or b"null")
    return payload.get("code_sync_probe") if isinstance(payload, dict) else None


def reopen(config: HarnessConfig, session: StackSession, extra_files: Mapping[str, bytes] | None) -> Stack:
    """Open the session's own stack again, as the next pytest run would (same name, reuse on).

    Not closed: an attached session holds nothing to stop, and closing would release the stack's
    claim, which belongs to the session fixture.
    """
    progress = Progress(prefix="[s3pipe code-sync]")
    return StackSession(config, progress, session.stack_name, guard=check_deployment, extra_files=extra_files).open()


@pytest.mark.requires(Capability.FAST_REDEPLOY, Capability.LAMBDA_EXECUTION)
def test_a_handler_change_is_live_on_the_warm_stack_without_a_terraform_run(
    s3pipe_config: HarnessConfig, s3pipe_session: StackSession, s3pipe_stack: Stack, pipeline: Pipeline
) -> None:
    workspace = s3pipe_session.deployer.workspace(s3pipe_session.stack_name)
    state_before = workspace.state_path.read_bytes()
    shipped = (s3pipe_config.path(s3pipe_config.lambda_dir) / HANDLER_MODULE).read_bytes()
    token = secrets.token_hex(4)
    shipped_record = StackRecord.load(workspace.record_path)
    assert shipped_record is not None
    assert probe_answer(s3pipe_stack) is None, "the shipped handler must not know the probe"

    try:
        reopen(s3pipe_config, s3pipe_session, {HANDLER_MODULE: probe_handler(shipped, token)})
        record = StackRecord.load(workspace.record_path)
        assert record is not None
        assert record.lambda_sha256 != shipped_record.lambda_sha256  # the probe's zip, recorded
        assert record.code_synced_sha256 == record.lambda_sha256  # pushed by code sync, not by an apply

        assert probe_answer(s3pipe_stack) == token  # the changed handler answers
        items = pipeline.items_for(pipeline.upload("during-sync.jsonl", '{"n": 1}\n'))
        assert [item["n"] for item in items] == [Decimal(1)]  # and still runs the pipeline
    finally:
        reopen(s3pipe_config, s3pipe_session, None)  # the shipped handler again, for the tests that follow

    assert probe_answer(s3pipe_stack) is None
    restored = StackRecord.load(workspace.record_path)
    assert restored is not None
    assert restored.lambda_sha256 == shipped_record.lambda_sha256
    assert workspace.state_path.read_bytes() == state_before, "a handler-only change must not run Terraform"
