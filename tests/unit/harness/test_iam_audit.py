"""The session glue of the IAM audit: when it runs, failures reported not raised, the typed results."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from iam_calls import (
    handler_calls,
    reference,
)

from s3pipe.config import HarnessConfig
from s3pipe.iam.audit import AuditResult, audit_session, failed, summary_lines, why_no_calls
from s3pipe.iam.report import audit_calls

# ---------------------------------------------------------------------------------------------- session glue


GATEWAY = "http://127.0.0.1:9"


def fake_session(**changes: Any) -> Any:
    values: dict[str, Any] = {"stack": SimpleNamespace(name="pytest", gateway_url=GATEWAY)}
    values.update(changes)
    return SimpleNamespace(**values)


@pytest.mark.parametrize(
    ("config_changes", "session_changes"),
    [
        ({"iam_audit": False}, {}),
        ({}, {"stack": None}),  # a unit-only session never opened a stack
        ({}, {"stack": SimpleNamespace(name="pytest", gateway_url=None)}),  # a backend without a gateway
    ],
)
def test_nothing_to_audit(tmp_path: Path, config_changes: dict[str, Any], session_changes: dict[str, Any]) -> None:
    config = HarnessConfig(root=tmp_path).with_overrides(**config_changes)
    assert audit_session(config, fake_session(**session_changes)) is None


def test_an_audit_that_cannot_run_is_reported_not_raised(tmp_path: Path) -> None:
    config = HarnessConfig(root=tmp_path)
    stack = SimpleNamespace(
        name="pytest", gateway_url=GATEWAY, client=lambda service: None, outputs=SimpleNamespace(role_name="r")
    )
    result = audit_session(config, fake_session(stack=stack))
    assert result is not None
    assert result.ok is False
    assert result.error is not None
    assert "AttributeError" in result.error
    assert failed([result])
    assert summary_lines([result]) == [f"stack 'pytest': the IAM audit could not run: {result.error}"]


def test_summary_of_a_clean_audit() -> None:
    report = audit_calls(reference(), handler_calls(), stack="pytest", role="p-ingest")
    result = AuditResult("pytest", ok=True, text=report.render_text(), paths=("/x.json",))
    lines = summary_lines([result])
    assert lines[0].startswith("IAM least-privilege audit of stack 'pytest', role p-ingest")
    assert lines[-1] == "report: /x.json"
    assert not failed([result])


def test_an_audit_result_crosses_to_the_xdist_controller_unchanged() -> None:
    result = AuditResult("pytest-gw0", ok=False, violations=("dynamodb:DeleteItem ...",), text="t", paths=("/r.json",))
    assert AuditResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def _stack_with_function_environment(variables: dict[str, str] | None, *, fails: bool = False) -> Any:
    def configuration(FunctionName: str) -> dict[str, Any]:  # noqa: N803 - boto3's keyword
        if fails:
            raise RuntimeError("no such function")
        return {"FunctionName": FunctionName, "Environment": {"Variables": variables or {}}}

    return SimpleNamespace(
        gateway_url=GATEWAY,
        outputs=SimpleNamespace(function_name="fn"),
        lambda_=SimpleNamespace(get_function_configuration=configuration),
    )


def test_no_calls_because_the_function_sets_its_own_endpoint() -> None:
    stack = _stack_with_function_environment({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "TABLE": "t"})
    reason = why_no_calls(stack)
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:4566" in reason
    assert "bypass the function gateway" in reason


@pytest.mark.parametrize(
    "stack",
    [
        _stack_with_function_environment({"TABLE": "t"}),
        _stack_with_function_environment({"AWS_ENDPOINT_URL": GATEWAY}),  # pointing at the gateway itself
    ],
)
def test_no_calls_reached_the_gateway(stack: Any) -> None:
    assert why_no_calls(stack).startswith("no call reached the function gateway in this run")


def test_the_reason_never_fails_the_audit() -> None:
    assert "could not be read" in why_no_calls(_stack_with_function_environment(None, fails=True))
