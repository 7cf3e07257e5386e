"""IAM policies as deployed: documents parsed into normalised statements, read from a role through IAM."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal


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
