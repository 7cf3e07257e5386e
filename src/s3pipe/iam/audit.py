"""IAM least-privilege audit, harness glue: every AWS call the function made, checked against its role.

The function gateway journals each call the deployed function makes with the IAM action(s) and
resource ARN(s) it needs (:mod:`s3pipe.gateway.classify`). At session end the role's policies are
read *as deployed* (:mod:`s3pipe.iam.policy`), each call is evaluated (:mod:`s3pipe.iam.evaluate`)
and the findings are written as a report (:mod:`s3pipe.iam.report`).

Where the emulator enforces IAM itself (MiniStack with ``AUTH=true``, real AWS) a call outside the
role already fails in the run; the audit still tells what the emulator cannot: which statement
allowed each kind of call, which grants were never used, and the statement a denied call lacks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3pipe.gateway.client import GatewayClient, GatewayError
from s3pipe.iam.policy import load_role_policies
from s3pipe.iam.report import AuditReport, ExpectedDenial, audit_calls

if TYPE_CHECKING:
    from s3pipe.config import HarnessConfig
    from s3pipe.session import StackSession
    from s3pipe.stack import Stack


@dataclass(frozen=True)
class AuditResult:
    """The session-end audit of one stack, as the terminal summary needs it (and xdist carries it)."""

    stack: str
    ok: bool
    error: str | None = None
    violations: tuple[str, ...] = ()
    text: str = ""
    paths: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "ok": self.ok,
            "error": self.error,
            "violations": list(self.violations),
            "text": self.text,
            "paths": list(self.paths),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditResult:
        return cls(
            stack=str(data.get("stack", "")),
            ok=bool(data.get("ok")),
            error=str(data["error"]) if data.get("error") else None,
            violations=tuple(str(v) for v in data.get("violations") or ()),
            text=str(data.get("text", "")),
            paths=tuple(str(p) for p in data.get("paths") or ()),
        )


def journal_mark(stack: Stack) -> int:
    """Where the stack's gateway journal stands now: the session's audit covers the calls that follow.

    0 (everything) when the stack has no gateway or it does not answer: the audit then says so itself.
    """
    if not stack.gateway_url:
        return 0
    try:
        return GatewayClient(stack.gateway_url).cursor()
    except GatewayError:
        return 0


def audit_stack(
    stack: Stack, gateway: GatewayClient, since: int = 0, expected: Sequence[ExpectedDenial] = ()
) -> AuditReport:
    """Audit the calls the stack's function made since ``since`` against its role as deployed."""
    iam = stack.client("iam")
    role = stack.outputs.role_name
    policies = load_role_policies(iam, role)
    page = gateway.page(since)
    return audit_calls(
        policies,
        page.calls,
        stack=stack.name,
        role=role,
        since=since,
        expected=expected,
        dropped=page.dropped,
        unobserved="" if page.calls else why_no_calls(stack),
    )


def why_no_calls(stack: Stack) -> str:
    """Why the gateway saw no call of the stack's function: its own endpoint setting, or no invocation seen."""
    try:
        configuration = stack.lambda_.get_function_configuration(FunctionName=stack.outputs.function_name)
    except Exception as error:  # the reason is a courtesy: never fail the audit over it
        return f"no call reached the function gateway (the function's configuration could not be read: {error})"
    variables = (configuration.get("Environment") or {}).get("Variables") or {}
    own = {name: value for name, value in variables.items() if name.startswith("AWS_ENDPOINT_URL")}
    if own and stack.gateway_url not in own.values():
        settings = ", ".join(f"{name}={value}" for name, value in sorted(own.items()))
        return (
            f"the function sets its own endpoint ({settings}), so its calls bypass the function gateway; drop it "
            "from the function's environment to have its calls audited and fault plans applied"
        )
    return "no call reached the function gateway in this run (did the tests make the function call AWS?)"


def write_report(report: AuditReport, state_dir: Path) -> list[Path]:
    """``<state_dir>/reports/iam-audit-<stack>.json`` and ``.txt``."""
    directory = state_dir / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"iam-audit-{report.stack}.json"
    text_path = directory / f"iam-audit-{report.stack}.txt"
    json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    text_path.write_text(report.render_text() + "\n")
    return [json_path, text_path]


def audit_session(
    config: HarnessConfig, session: StackSession, expected: Sequence[ExpectedDenial] = (), since: int = 0
) -> AuditResult | None:
    """The session-end audit of one stack (None: nothing to audit), over the calls from ``since`` on.

    Runs only when the option is on, a stack was opened and its backend has a function gateway.
    Failures of the audit itself are reported (and fail the run) rather than raised.
    """
    stack = session.stack
    if not config.iam_audit or stack is None or not stack.gateway_url:
        return None
    try:
        report = audit_stack(stack, GatewayClient(stack.gateway_url), since, expected)
        paths = write_report(report, config.path(config.state_dir))
    except Exception as error:  # any failure of the audit is reported, never lost
        return AuditResult(stack.name, ok=False, error=f"{type(error).__name__}: {error}")
    return AuditResult(
        stack.name,
        ok=report.ok,
        violations=tuple(v.describe() for v in report.violations),
        text=report.render_text(),
        paths=tuple(str(p) for p in paths),
    )


def summary_lines(results: Sequence[AuditResult]) -> list[str]:
    """Terminal summary of the session-end audits (one block per stack)."""
    lines: list[str] = []
    for result in results:
        if result.error:
            lines.append(f"stack {result.stack!r}: the IAM audit could not run: {result.error}")
            continue
        lines.extend(result.text.splitlines())
        if result.paths:
            lines.append(f"report: {', '.join(result.paths)}")
        if not result.ok:
            lines.append(f"FAILED: {len(result.violations)} call(s) of the function are outside its role's policy")
    return lines


def failed(results: Iterable[AuditResult]) -> bool:
    return any(not result.ok for result in results)
