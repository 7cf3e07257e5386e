"""The audit's findings, typed: per kind of call the statement that allowed it, violations with a
ready-to-paste statement, and the grants the run never used (those only the Lambda service exercises
listed apart)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, assert_never

from s3pipe.gateway.journal import GatewayCall
from s3pipe.iam.evaluate import Outcome, action_matches, evaluate, resource_matches, statement_applies
from s3pipe.iam.policy import Policy, Statement

#: Actions the Lambda service performs with the function's role, not the function's code.
PLATFORM_ACTIONS: Mapping[str, str] = {
    "sqs:receivemessage": "the SQS event source mapping polls the queue",
    "sqs:deletemessage": "the SQS event source mapping deletes processed messages",
    "sqs:getqueueattributes": "the SQS event source mapping reads the queue's attributes",
    "sqs:changemessagevisibility": "the SQS event source mapping extends visibility",
    "logs:createloggroup": "Lambda delivers the function's logs",
    "logs:createlogstream": "Lambda delivers the function's logs",
    "logs:putlogevents": "Lambda delivers the function's logs",
    "xray:puttracesegments": "Lambda sends trace segments (active tracing)",
    "xray:puttelemetryrecords": "Lambda sends tracing telemetry (active tracing)",
    "ec2:createnetworkinterface": "Lambda attaches the function to a VPC",
    "ec2:describenetworkinterfaces": "Lambda attaches the function to a VPC",
    "ec2:deletenetworkinterface": "Lambda attaches the function to a VPC",
    "kms:decrypt": "AWS services decrypt on the function's behalf (kms:ViaService), Lambda its environment",
    "kms:generatedatakey": "AWS services encrypt on the function's behalf (kms:ViaService)",
    "s3:listbucket": (
        "S3 consults it when GetObject names a missing key (404 NoSuchKey instead of 403); "
        "only a ListObjects call of the function would show it"
    ),
}
#: Error codes with which AWS services (and MiniStack enforcing IAM) refuse a call its caller may not make.
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})
PLATFORM_NOTE = "used by the Lambda service (not observable from the function)"


def resource_pattern(arn: str) -> str:
    """How a call kind is grouped and what a suggested statement names: S3 objects by bucket, others exactly."""
    s3 = re.fullmatch(r"(arn:[^:]+:s3:::[^/]+)/.*", arn, re.DOTALL)
    if s3:
        return f"{s3.group(1)}/*"
    logs = re.fullmatch(r"(arn:[^:]+:logs:[^:]*:[^:]*:log-group:[^:]+):log-stream:.*", arn, re.DOTALL)
    if logs:
        return f"{logs.group(1)}:*"
    return arn


def suggested_sid(action: str, taken: set[str]) -> str:
    service, _, name = action.partition(":")
    base = "Allow" + service.capitalize() + name[:1].upper() + name[1:]
    sid, counter = base, 2
    while sid in taken:
        sid, counter = f"{base}{counter}", counter + 1
    taken.add(sid)
    return sid


@dataclass(frozen=True)
class CallKind:
    action: str
    resource: str
    calls: int
    outcome: Outcome
    statements: tuple[str, ...]
    operations: tuple[str, ...]
    faulted: int = 0
    example: str = ""
    unevaluated: tuple[str, ...] = ()
    #: Calls the backend itself refused as not authorised (an emulator enforcing IAM, or AWS).
    refused: int = 0

    @property
    def verdict(self) -> str:
        """The audit's decision in words, with the backend's own refusals beside it."""
        match self.outcome:
            case "allowed":
                text = f"allowed by {', '.join(self.statements)}"
            case "implicit_deny":
                text = "NOT ALLOWED (no statement)"
            case "explicit_deny":
                text = f"DENIED by {', '.join(self.statements)}"
            case "not_evaluated":
                text = f"not evaluated ({'; '.join(self.unevaluated)}), statements {', '.join(self.statements)}"
            case unreachable:
                assert_never(unreachable)
        if self.refused:
            text += f"; the backend refused {self.refused} as not authorised"
        return text


@dataclass(frozen=True)
class Violation:
    action: str
    resource: str
    calls: int
    outcome: Outcome
    operations: tuple[str, ...]
    example: str
    suggestion: Mapping[str, Any]
    denied_by: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.outcome == "explicit_deny":
            return (
                f"{self.action} on {self.example} ({self.calls} call(s): {', '.join(self.operations)}) is denied "
                f"explicitly by statement {', '.join(self.denied_by)}: narrow that Deny"
            )
        return (
            f"{self.action} on {self.example} ({self.calls} call(s): {', '.join(self.operations)}) is not allowed "
            f"by any statement; missing: {json.dumps(dict(self.suggestion))}"
        )


@dataclass(frozen=True)
class Grant:
    """One (action, resource) pair of an Allow statement; ``note`` says why it is not observable."""

    statement: str
    action: str
    resource: str
    note: str | None = None


@dataclass(frozen=True)
class ExpectedDenial:
    """A call a test makes the function attempt on purpose, knowing IAM refuses it on AWS.

    Declared with ``@pytest.mark.iam_expected_denial(action, resource, reason=...)`` (IAM wildcards);
    a matching violation is reported as expected instead of failing the run.
    """

    action: str
    resource: str
    reason: str = ""
    test: str = ""

    def covers(self, violation: Violation) -> bool:
        return action_matches(self.action, violation.action) and bool(
            resource_matches(self.resource, violation.example)
        )


@dataclass
class AuditReport:
    stack: str
    role: str
    policies: list[str]
    calls_seen: int
    since: int
    kinds: list[CallKind]
    violations: list[Violation]
    unused: list[Grant]
    platform: list[Grant]
    expected: list[tuple[Violation, ExpectedDenial]] = field(default_factory=list)
    #: Calls of the run the bounded gateway journal dropped before the audit read them (not audited).
    dropped: int = 0
    #: Why no call was observed, when none was: then no grant is called unused (nothing can be said of them).
    unobserved: str = ""

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def not_evaluated(self) -> list[CallKind]:
        return [kind for kind in self.kinds if kind.outcome == "not_evaluated"]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "role": self.role,
            "policies": self.policies,
            "calls_seen": self.calls_seen,
            "since": self.since,
            "dropped": self.dropped,
            "ok": self.ok,
            "calls": [_kind_json(kind) for kind in self.kinds],
            "violations": [
                {
                    "action": v.action,
                    "resource": v.resource,
                    "example": v.example,
                    "calls": v.calls,
                    "outcome": v.outcome,
                    "operations": list(v.operations),
                    "denied_by": list(v.denied_by),
                    "missing_statement": dict(v.suggestion),
                }
                for v in self.violations
            ],
            "expected_denials": [
                {"action": v.action, "example": v.example, "calls": v.calls, "test": e.test, "reason": e.reason}
                for v, e in self.expected
            ],
            "not_evaluated": [_kind_json(kind) for kind in self.not_evaluated],
            "unused": [_grant_json(p) for p in self.unused],
            "not_observed": self.unobserved or None,
            "used_by_lambda_service": [_grant_json(p) for p in self.platform],
        }

    def render_text(self) -> str:
        lines = [
            f"IAM least-privilege audit of stack {self.stack!r}, role {self.role} "
            f"({', '.join(self.policies) or 'no policies'}): {self.calls_seen} call(s) of the function",
            "calls (action on resource -> allowed by statement):",
        ]
        if self.dropped:
            lines.insert(
                1,
                f"NOT AUDITED: {self.dropped} earlier call(s) were dropped from the gateway journal before the "
                "audit read them (it keeps the newest entries; raise the gateway's --journal-capacity)",
            )
        for kind in self.kinds:
            faulted = f", {kind.faulted} with injected faults" if kind.faulted else ""
            operations = ", ".join(kind.operations)
            lines.append(
                f"  {kind.action:<28} {kind.resource}  x{kind.calls} ({operations}{faulted}) -> {kind.verdict}"
            )
        if not self.kinds:
            lines.append("  (none)")
        lines.append(f"violations: {len(self.violations)}")
        lines.extend(f"  {violation.describe()}" for violation in self.violations)
        if self.expected:
            lines.append("denials the tests expect (IAM refuses these on AWS; not violations):")
            lines.extend(
                f"  {v.action} on {v.example} ({v.calls} call(s)): {e.test}" + (f" -- {e.reason}" if e.reason else "")
                for v, e in self.expected
            )
        if self.calls_seen == 0:
            lines.append("permissions never used by the function in this run: NOT OBSERVED")
            lines.append(
                f"  no call of the function was observed, so none of its grants can be called unused: {self.unobserved}"
            )
        else:
            lines.append("permissions never used by the function in this run:")
            lines.extend(f"  {p.statement}: {p.action} on {p.resource}" for p in self.unused)
            if not self.unused:
                lines.append("  (none)")
        lines.append(f"permissions {PLATFORM_NOTE}:")
        lines.extend(f"  {p.statement}: {p.action} on {p.resource} ({p.note})" for p in self.platform)
        if not self.platform:
            lines.append("  (none)")
        return "\n".join(lines)


def _kind_json(kind: CallKind) -> dict[str, Any]:
    return {
        "action": kind.action,
        "resource": kind.resource,
        "calls": kind.calls,
        "outcome": kind.outcome,
        "statements": list(kind.statements),
        "operations": list(kind.operations),
        "faulted": kind.faulted,
        "refused": kind.refused,
        "example": kind.example,
        "unevaluated": list(kind.unevaluated),
    }


def _grant_json(grant: Grant) -> dict[str, Any]:
    data = {"statement": grant.statement, "action": grant.action, "resource": grant.resource}
    if grant.note:
        data["note"] = grant.note
    return data


def audit_calls(
    policies: Sequence[Policy],
    calls: Sequence[GatewayCall],
    *,
    stack: str = "",
    role: str = "",
    since: int = 0,
    expected: Sequence[ExpectedDenial] = (),
    dropped: int = 0,
    unobserved: str = "no call reached the function gateway",
) -> AuditReport:
    """Evaluate every permission every call needed against the policies; group, suggest, find unused.

    Violations an ``expected`` denial covers are reported apart and do not make the report fail. With no
    call at all no grant is called unused: ``unobserved`` says why nothing was seen instead.
    """
    statements = [s for policy in policies for s in policy.statements]
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    observed: list[tuple[str, str]] = []
    for call in calls:
        for action, resource in call.permissions:
            observed.append((action, resource))
            decision = evaluate(statements, action, resource, call.context)
            group = groups.setdefault(
                (action, resource_pattern(resource)),
                {"calls": 0, "faulted": 0, "refused": 0, "operations": {}, "decisions": {}, "example": resource},
            )
            group["calls"] += 1
            group["faulted"] += 1 if call.fault else 0
            group["refused"] += 1 if call.error_code in ACCESS_DENIED_CODES else 0
            group["operations"][call.action] = None
            group["decisions"].setdefault(decision.outcome, decision)
    kinds: list[CallKind] = []
    violations: list[Violation] = []
    taken = {s.sid for s in statements if s.sid}
    severity: tuple[Outcome, ...] = ("explicit_deny", "implicit_deny", "not_evaluated", "allowed")
    for (action, pattern), group in sorted(groups.items()):
        decision = next(group["decisions"][o] for o in severity if o in group["decisions"])
        operations = tuple(group["operations"])
        kinds.append(
            CallKind(
                action,
                pattern,
                group["calls"],
                decision.outcome,
                decision.statements,
                operations,
                group["faulted"],
                group["example"],
                decision.unevaluated,
                group["refused"],
            )
        )
        if decision.outcome in ("implicit_deny", "explicit_deny"):
            suggestion = {"Sid": suggested_sid(action, taken), "Effect": "Allow", "Action": action, "Resource": pattern}
            violations.append(
                Violation(
                    action,
                    pattern,
                    group["calls"],
                    decision.outcome,
                    operations,
                    group["example"],
                    suggestion,
                    decision.statements if decision.outcome == "explicit_deny" else (),
                )
            )
    unused, platform = _unused_permissions(statements, observed)
    if not calls:
        unused = []
    kept: list[Violation] = []
    covered: list[tuple[Violation, ExpectedDenial]] = []
    for violation in violations:
        denial = next((e for e in expected if e.covers(violation)), None)
        if denial is None:
            kept.append(violation)
        else:
            covered.append((violation, denial))
    return AuditReport(
        stack=stack,
        role=role,
        policies=[f"{p.name} ({p.kind})" for p in policies],
        calls_seen=len(calls),
        dropped=dropped,
        since=since,
        kinds=kinds,
        violations=kept,
        unused=unused,
        platform=platform,
        expected=covered,
        unobserved="" if calls else unobserved,
    )


def _unused_permissions(
    statements: Sequence[Statement], observed: Sequence[tuple[str, str]]
) -> tuple[list[Grant], list[Grant]]:
    unused: list[Grant] = []
    platform: list[Grant] = []
    distinct = list(dict.fromkeys(observed))
    for statement in statements:
        if statement.effect != "Allow":
            continue
        action_patterns = statement.actions or tuple(f"NotAction {a}" for a in statement.not_actions or ())
        resource_patterns = statement.resources or tuple(f"NotResource {r}" for r in statement.not_resources or ())
        for action_pattern in action_patterns:
            for resource in resource_patterns:
                single = Statement(
                    statement.effect,
                    statement.sid,
                    actions=(action_pattern,) if statement.actions else None,
                    not_actions=statement.not_actions,
                    resources=(resource,) if statement.resources else None,
                    not_resources=statement.not_resources,
                )
                if any(statement_applies(single, a, r) for a, r in distinct):
                    continue
                note = PLATFORM_ACTIONS.get(action_pattern.lower())
                target = platform if note else unused
                target.append(Grant(statement.label, action_pattern, resource, note))
    return unused, platform
