"""IAM's identity-policy evaluation for one (action, resource): explicit Deny, then Allow, else implicit deny.

``Action``/``NotAction`` and ``Resource``/``NotResource`` with IAM wildcards (``*``, ``?``; action
names case-insensitive, ARNs case-sensitive and matched segment by segment). Conditions are
evaluated where the call carries the keys they test; otherwise the decision is "not evaluated",
never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from s3pipe.iam.policy import Statement

Outcome = Literal["allowed", "implicit_deny", "explicit_deny", "not_evaluated"]


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
