"""IAM least-privilege audit: every AWS call the function made, checked against its role's policy.

The function gateway journals each call the deployed function makes with the IAM action(s)
and resource ARN(s) it needs. This module reads the role's policies *as deployed* (through
IAM: inline and attached managed policies) and evaluates every call the way IAM does: an
explicit Deny wins, then an Allow; ``Action``/``NotAction`` and ``Resource``/``NotResource``
with IAM wildcards (``*``, ``?``; action names case-insensitive, ARNs case-sensitive and matched
segment by segment). Conditions are evaluated where the call carries the keys they test;
otherwise the decision is reported as "not evaluated", never guessed.

The report lists, per kind of call (action and resource pattern), the statement that allowed
it; each violation with a ready-to-paste statement; and the permissions the run never used
(those only the Lambda service exercises, such as the event source mapping's ReceiveMessage,
are listed apart: they are not observable from the function). LocalStack enforces IAM only in
its paid edition; this audit costs nothing.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from s3pipe.faults import GatewayCall, GatewayClient

if TYPE_CHECKING:
    from s3pipe.config import HarnessConfig
    from s3pipe.session import StackSession
    from s3pipe.stack import Stack

Outcome = Literal["allowed", "implicit_deny", "explicit_deny", "not_evaluated"]

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
PLATFORM_NOTE = "used by the Lambda service (not observable from the function)"


# ---------------------------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class Statement:
    """One policy statement, normalised (single strings become one-element tuples)."""

    effect: Literal["Allow", "Deny"]
    sid: str | None = None
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    policy: str = ""
    index: int = 0

    @property
    def label(self) -> str:
        return self.sid or f"{self.policy}#{self.index}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"Sid": self.sid, "Effect": self.effect, "Policy": self.policy}
        for key, value in (
            ("Action", self.actions),
            ("NotAction", self.not_actions),
            ("Resource", self.resources),
            ("NotResource", self.not_resources),
        ):
            if value is not None:
                data[key] = list(value)
        if self.conditions:
            data["Condition"] = {op: {k: list(v) for k, v in keys.items()} for op, keys in self.conditions.items()}
        return data


@dataclass(frozen=True)
class Policy:
    name: str
    kind: Literal["inline", "managed"]
    statements: tuple[Statement, ...]
    arn: str | None = None


def _strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)


def parse_policy(document: str | Mapping[str, Any], name: str, kind: Literal["inline", "managed"] = "inline") -> Policy:
    """A policy document (a dict, JSON, or URL-encoded JSON as IAM returns it) -> :class:`Policy`."""
    if isinstance(document, str):
        text = document.strip()
        if not text.startswith("{"):
            text = urllib.parse.unquote(text)
        parsed: Mapping[str, Any] = json.loads(text)
    else:
        parsed = document
    raw = parsed.get("Statement", [])
    raw_statements = [raw] if isinstance(raw, Mapping) else list(raw)
    statements = []
    for index, item in enumerate(raw_statements):
        conditions = {
            str(op): {str(k): _strings(v) or () for k, v in (keys or {}).items()}
            for op, keys in (item.get("Condition") or {}).items()
        }
        effect: Literal["Allow", "Deny"] = "Deny" if str(item.get("Effect", "")).lower() == "deny" else "Allow"
        statements.append(
            Statement(
                effect=effect,
                sid=item.get("Sid") or None,
                actions=_strings(item.get("Action")),
                not_actions=_strings(item.get("NotAction")),
                resources=_strings(item.get("Resource")),
                not_resources=_strings(item.get("NotResource")),
                conditions=conditions,
                policy=name,
                index=index,
            )
        )
    return Policy(name, kind, tuple(statements))


def load_role_policies(iam: Any, role_name: str) -> list[Policy]:
    """The role's inline and attached managed policies, read through IAM (as deployed)."""
    policies: list[Policy] = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        for name in page.get("PolicyNames", []):
            document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            policies.append(parse_policy(document, name, "inline"))
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        for attached in page.get("AttachedPolicies", []):
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
            managed = parse_policy(document, str(attached.get("PolicyName") or arn), "managed")
            policies.append(replace(managed, arn=arn))
    return policies


# ---------------------------------------------------------------------------------------------- matching


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(\$\{[*?$]\}|[*?])", pattern):
        if piece in ("*", "?"):
            parts.append(".*" if piece == "*" else ".")
        elif piece in ("${*}", "${?}", "${$}"):
            parts.append(re.escape(piece[2]))  # IAM's escapes for a literal *, ? or $
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: ``service:Name`` with ``*``/``?``, case-insensitive."""
    return bool(_wildcard(pattern, True).fullmatch(action))


def _has_variable(pattern: str) -> bool:
    return bool(re.search(r"\$\{(?![*?$]\})", pattern))


def resource_matches(pattern: str, arn: str) -> bool | None:
    """IAM resource matching: case-sensitive, ``*``/``?`` within each of the first five ARN segments.

    None when the pattern holds a policy variable (``${aws:username}``...) this audit cannot resolve.
    """
    if pattern == "*":
        return True
    if _has_variable(pattern):
        return None
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        # not both full ARNs: an ARN pattern with segments missing matches nothing
        return (
            len(pattern_parts) != 6
            and not pattern.startswith("arn:")
            and bool(_wildcard(pattern, False).fullmatch(arn))
        )
    return all(_wildcard(p, False).fullmatch(a) for p, a in zip(pattern_parts, arn_parts, strict=True))


def _any_resource(patterns: Iterable[str], arn: str) -> bool | None:
    unknown = False
    for pattern in patterns:
        matched = resource_matches(pattern, arn)
        if matched:
            return True
        unknown = unknown or matched is None
    return None if unknown else False


def statement_applies(statement: Statement, action: str, resource: str) -> bool | None:
    """Whether the statement's action and resource elements cover the request (None: cannot tell)."""
    if statement.actions is not None:
        action_ok = any(action_matches(p, action) for p in statement.actions)
    else:
        action_ok = not any(action_matches(p, action) for p in statement.not_actions or ())
    if not action_ok:
        return False
    if statement.resources is not None:
        return _any_resource(statement.resources, resource)
    if statement.not_resources is not None:
        excluded = _any_resource(statement.not_resources, resource)
        return None if excluded is None else not excluded
    return False  # no Resource element: invalid in an identity policy, matches nothing


# ---------------------------------------------------------------------------------------------- conditions

_STRING_OPERATORS = {
    "StringEquals": (False, False),
    "StringNotEquals": (False, True),
    "StringEqualsIgnoreCase": (False, False),
    "StringNotEqualsIgnoreCase": (False, True),
    "StringLike": (True, False),
    "StringNotLike": (True, True),
    "ArnEquals": (True, False),
    "ArnLike": (True, False),
    "ArnNotEquals": (True, True),
    "ArnNotLike": (True, True),
}


def _condition_value_matches(operator: str, expected: str, actual: str) -> bool:
    like, _ = _STRING_OPERATORS[operator]
    if operator.startswith("Arn"):
        return bool(resource_matches(expected, actual))
    if operator.endswith("IgnoreCase"):
        return expected.lower() == actual.lower()
    return bool(_wildcard(expected, False).fullmatch(actual)) if like else expected == actual


def evaluate_condition(
    conditions: Mapping[str, Mapping[str, Sequence[str]]], context: Mapping[str, str]
) -> tuple[bool | None, list[str]]:
    """(result, the condition keys that could not be evaluated); result None when any could not."""
    unevaluated: list[str] = []
    for raw_operator, keys in conditions.items():
        qualifier, _, operator = raw_operator.rpartition(":")
        if_exists = operator.endswith("IfExists")
        operator = operator.removesuffix("IfExists")
        for key, expected in keys.items():
            actual = next((v for k, v in context.items() if k.lower() == key.lower()), None)
            if operator == "Null":
                if actual is None:
                    unevaluated.append(f"{raw_operator} {key}")
                    continue
                if [v.lower() for v in expected] != ["false"]:
                    return False, []
                continue
            if operator == "Bool" and actual is not None:
                if actual.lower() not in [v.lower() for v in expected]:
                    return False, []
                continue
            if operator not in _STRING_OPERATORS or actual is None or (qualifier and qualifier not in ("ForAnyValue",)):
                if actual is None and if_exists:
                    unevaluated.append(f"{raw_operator} {key} (key may be absent)")
                else:
                    unevaluated.append(f"{raw_operator} {key}")
                continue
            negated = _STRING_OPERATORS[operator][1]
            base = operator.replace("Not", "") if negated else operator
            hit = any(_condition_value_matches(base, value, actual) for value in expected)
            if hit == negated:
                return False, []
    if unevaluated:
        return None, unevaluated
    return True, []


# ---------------------------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Decision:
    action: str
    resource: str
    outcome: Outcome
    statements: tuple[str, ...] = ()
    unevaluated: tuple[str, ...] = ()


def evaluate(
    statements: Sequence[Statement], action: str, resource: str, context: Mapping[str, str] | None = None
) -> Decision:
    """IAM's identity-policy logic for one (action, resource): explicit Deny, then Allow, else implicit deny."""
    context = context or {}
    allows: list[str] = []
    maybe_allows: list[str] = []
    maybe_denies: list[str] = []
    unevaluated: list[str] = []
    for statement in statements:
        applies = statement_applies(statement, action, resource)
        if applies is False:
            continue
        result, keys = evaluate_condition(statement.conditions, context)
        if result is False:
            continue
        certain = applies is True and result is True
        if applies is None:
            keys = [*keys, "a policy variable in the resource"]
        if statement.effect == "Deny":
            if certain:
                return Decision(action, resource, "explicit_deny", (statement.label,))
            maybe_denies.append(statement.label)
            unevaluated.extend(keys)
        elif certain:
            allows.append(statement.label)
        else:
            maybe_allows.append(statement.label)
            unevaluated.extend(keys)
    if allows and not maybe_denies:
        return Decision(action, resource, "allowed", tuple(allows))
    if allows or maybe_allows:
        return Decision(
            action, resource, "not_evaluated", tuple(allows + maybe_allows + maybe_denies), tuple(unevaluated)
        )
    return Decision(action, resource, "implicit_deny")


# ---------------------------------------------------------------------------------------------- report


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
class Permission:
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
    unused: list[Permission]
    platform: list[Permission]
    expected: list[tuple[Violation, ExpectedDenial]] = field(default_factory=list)

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
            "unused": [_permission_json(p) for p in self.unused],
            "used_by_lambda_service": [_permission_json(p) for p in self.platform],
        }

    def render_text(self) -> str:
        lines = [
            f"IAM least-privilege audit of stack {self.stack!r}, role {self.role} "
            f"({', '.join(self.policies) or 'no policies'}): {self.calls_seen} call(s) of the function",
            "calls (action on resource -> allowed by statement):",
        ]
        for kind in self.kinds:
            faulted = f", {kind.faulted} with injected faults" if kind.faulted else ""
            verdict = {
                "allowed": f"allowed by {', '.join(kind.statements)}",
                "implicit_deny": "NOT ALLOWED (no statement)",
                "explicit_deny": f"DENIED by {', '.join(kind.statements)}",
                "not_evaluated": (
                    f"not evaluated ({'; '.join(kind.unevaluated)}), statements {', '.join(kind.statements)}"
                ),
            }[kind.outcome]
            operations = ", ".join(kind.operations)
            lines.append(f"  {kind.action:<28} {kind.resource}  x{kind.calls} ({operations}{faulted}) -> {verdict}")
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
        "example": kind.example,
        "unevaluated": list(kind.unevaluated),
    }


def _permission_json(permission: Permission) -> dict[str, Any]:
    data = {"statement": permission.statement, "action": permission.action, "resource": permission.resource}
    if permission.note:
        data["note"] = permission.note
    return data


def audit_calls(
    policies: Sequence[Policy],
    calls: Sequence[GatewayCall],
    *,
    stack: str = "",
    role: str = "",
    since: int = 0,
    expected: Sequence[ExpectedDenial] = (),
) -> AuditReport:
    """Evaluate every permission every call needed against the policies; group, suggest, find unused.

    Violations an ``expected`` denial covers are reported apart and do not make the report fail.
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
                {"calls": 0, "faulted": 0, "operations": {}, "decisions": {}, "example": resource},
            )
            group["calls"] += 1
            group["faulted"] += 1 if call.fault else 0
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
        since=since,
        kinds=kinds,
        violations=kept,
        unused=unused,
        platform=platform,
        expected=covered,
    )


def _unused_permissions(
    statements: Sequence[Statement], observed: Sequence[tuple[str, str]]
) -> tuple[list[Permission], list[Permission]]:
    unused: list[Permission] = []
    platform: list[Permission] = []
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
                target.append(Permission(statement.label, action_pattern, resource, note))
    return unused, platform


# ---------------------------------------------------------------------------------------------- harness glue


def audit_stack(
    stack: Stack, gateway: GatewayClient, since: int = 0, expected: Sequence[ExpectedDenial] = ()
) -> AuditReport:
    """Audit the calls the stack's function made since ``since`` against its role as deployed."""
    iam = stack.client("iam")
    role = stack.outputs.role_name
    policies = load_role_policies(iam, role)
    calls = gateway.calls(since)
    return audit_calls(policies, calls, stack=stack.name, role=role, since=since, expected=expected)


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
    config: HarnessConfig, session: StackSession, expected: Sequence[ExpectedDenial] = ()
) -> dict[str, Any] | None:
    """The session-end audit of one stack, as a JSON-able summary (None: nothing to audit).

    Runs only when the option is on, a stack was opened and its backend has a function gateway.
    Failures of the audit itself are reported (and fail the run) rather than raised.
    """
    stack = session.stack
    if not config.iam_audit or stack is None or not stack.gateway_url:
        return None
    try:
        report = audit_stack(stack, GatewayClient(stack.gateway_url), session.gateway_cursor, expected)
        paths = write_report(report, config.path(config.state_dir))
    except Exception as error:  # any failure of the audit is reported, never lost
        return {"stack": stack.name, "ok": False, "error": f"{type(error).__name__}: {error}", "text": ""}
    return {
        "stack": stack.name,
        "ok": report.ok,
        "error": None,
        "violations": [v.describe() for v in report.violations],
        "text": report.render_text(),
        "paths": [str(p) for p in paths],
    }


def summary_lines(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """Terminal summary of the session-end audits (one block per stack)."""
    lines: list[str] = []
    for result in results:
        if result.get("error"):
            lines.append(f"stack {result.get('stack')!r}: the IAM audit could not run: {result['error']}")
            continue
        lines.extend(str(result.get("text", "")).splitlines())
        if result.get("paths"):
            lines.append(f"report: {', '.join(result['paths'])}")
        if not result.get("ok"):
            lines.append(
                f"FAILED: {len(result.get('violations', []))} call(s) of the function are outside its role's policy"
            )
    return lines


def failed(results: Iterable[Mapping[str, Any]]) -> bool:
    return any(not result.get("ok") for result in results)
