"""Fault plans: the fault kinds, one rule/plan model shared by the harness and the gateway, and the engine.

The harness builds a :class:`FaultPlan` and sends it as JSON (``FaultPlan.to_json``); the gateway
reads it back with :func:`parse_plan` and runs it in a :class:`FaultEngine`. A rule the gateway
would refuse is refused when it is built. Stdlib only: it runs inside the gateway process.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import html
import json
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from s3pipe.gateway.classify import Classified, json_object

FaultKind = Literal["throttle", "server_error", "unprocessed", "delay"]
#: Every fault kind, in the order :data:`FaultKind` names them.
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
#: What one firing of a rule covers: one HTTP attempt, or every attempt of one SDK call.
FaultScope = Literal["attempt", "sdk_call"]
FAULT_SCOPES: tuple[FaultScope, ...] = get_args(FaultScope)


class PlanError(ValueError):
    """A fault plan the gateway cannot run (answered with 400; raised when a rule is built)."""


@dataclass(frozen=True)
class FaultRule:
    """One rule: calls matching ``service``/``action`` (``*`` = any; optional ARN glob ``resource``) get ``fault``.

    ``probability`` is drawn per matching call from the plan's seeded RNG; ``max_count`` bounds how
    often the rule fires (None = unbounded). ``delay`` sleeps ``delay_ms`` then forwards;
    ``unprocessed`` (BatchWriteItem only) writes part of the items and returns the rest, a fraction
    ``unprocessed_fraction``, in ``UnprocessedItems``.

    ``scope="sdk_call"`` makes one firing cover every attempt of one SDK call (the attempts share
    the ``amz-sdk-invocation-id`` header): the caller sees the error after all its SDK retries
    however many there are, and ``max_count`` counts failed calls, not attempts. A request
    without that header is its own call.
    """

    service: str = "*"
    action: str = "*"
    fault: FaultKind = "throttle"
    probability: float = 1.0
    max_count: int | None = None
    delay_ms: int = 0
    unprocessed_fraction: float = 0.5
    resource: str | None = None
    scope: FaultScope = "attempt"

    def __post_init__(self) -> None:
        if problem := self.problem():
            raise PlanError(f"fault rule: {problem}")

    def problem(self) -> str | None:
        """What makes this rule unrunnable (the fields may come from JSON), or None."""
        checks: tuple[tuple[bool, str], ...] = (
            (
                self.fault in FAULT_KINDS,
                f"fault must be one of {', '.join(FAULT_KINDS)}, got {self.fault!r}",
            ),
            (
                isinstance(self.probability, int | float) and 0.0 <= self.probability <= 1.0,
                f"probability must be between 0 and 1, got {self.probability!r}",
            ),
            (
                self.max_count is None or (isinstance(self.max_count, int) and self.max_count >= 0),
                "max_count must be null or a non-negative integer",
            ),
            (isinstance(self.delay_ms, int) and self.delay_ms >= 0, "delay_ms must be a non-negative integer"),
            (
                isinstance(self.unprocessed_fraction, int | float) and 0.0 < self.unprocessed_fraction <= 1.0,
                "unprocessed_fraction must be in (0, 1]",
            ),
            (
                self.fault != "unprocessed" or self.action in ("BatchWriteItem", "*"),
                "fault 'unprocessed' applies to DynamoDB BatchWriteItem only",
            ),
            (isinstance(self.service, str) and isinstance(self.action, str), "service and action must be strings"),
            (self.scope in FAULT_SCOPES, f"scope must be one of {', '.join(FAULT_SCOPES)}, got {self.scope!r}"),
        )
        return next((message for ok, message in checks if not ok), None)

    def matches(self, call: Classified) -> bool:
        """Whether this rule applies to ``call`` (how often it already fired is the engine's business)."""
        if self.service != "*" and self.service.lower() != call.service.lower():
            return False
        if not fnmatch.fnmatchcase(call.action.lower(), self.action.lower()):
            return False
        if self.fault == "unprocessed" and call.action != "BatchWriteItem":
            return False
        return self.resource is None or any(fnmatch.fnmatchcase(r, self.resource) for r in call.resources)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_RULE_FIELDS = frozenset(f.name for f in dataclasses.fields(FaultRule))


@dataclass(frozen=True)
class FaultPlan:
    """Rules in order (the first matching rule that fires wins) and the RNG seed that makes runs repeat."""

    rules: tuple[FaultRule, ...] = ()
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "rules": [rule.to_json() for rule in self.rules]}


def parse_plan(document: Any) -> FaultPlan:
    """Validate a plan document: ``{"seed": 1, "rules": [{"service": ..., "fault": ...}, ...]}``."""
    if not isinstance(document, dict):
        raise PlanError("a fault plan is a JSON object with 'seed' and 'rules'")
    unknown = set(document) - {"seed", "rules"}
    if unknown:
        raise PlanError(f"unknown plan field(s): {', '.join(sorted(unknown))}")
    seed = document.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise PlanError(f"seed must be an integer, got {seed!r}")
    raw_rules = document.get("rules", [])
    if not isinstance(raw_rules, list):
        raise PlanError("rules must be a list")
    return FaultPlan(tuple(parse_rule(raw, f"rules[{index}]") for index, raw in enumerate(raw_rules)), seed)


def parse_rule(raw: Any, where: str) -> FaultRule:
    """Validate one rule document (``where`` names it in the error)."""
    if not isinstance(raw, dict):
        raise PlanError(f"{where} must be an object")
    unknown = set(raw) - _RULE_FIELDS
    if unknown:
        raise PlanError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    values = {k: v for k, v in raw.items() if v is not None or k in ("max_count", "resource")}
    try:
        return FaultRule(**values)
    except TypeError as error:
        raise PlanError(f"{where}: {error}") from None
    except PlanError as error:
        raise PlanError(f"{where}: {str(error).removeprefix('fault rule: ')}") from None


class FaultEngine:
    """The active plan; decisions come from one seeded RNG, drawn only for calls a rule matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.plan = FaultPlan()
        self._fired: list[int] = []
        #: Per rule: the SDK calls (``amz-sdk-invocation-id``) it fired for (``scope="sdk_call"``).
        self._calls: list[set[str]] = []
        self._rng = random.Random(0)  # noqa: S311 - reproducible fault decisions, not cryptography

    def set_plan(self, plan: FaultPlan) -> None:
        """Run ``plan`` from now on: its RNG restarts from its seed, every rule's count from 0."""
        with self._lock:
            self.plan, self._fired = plan, [0] * len(plan.rules)
            self._calls = [set() for _ in plan.rules]
            self._rng = random.Random(plan.seed)  # noqa: S311

    def clear(self) -> None:
        self.set_plan(FaultPlan())

    def state(self) -> dict[str, Any]:
        """The plan as JSON, each rule with how often it fired (``fired``)."""
        with self._lock:
            rules = [
                {**rule.to_json(), "fired": fired} for rule, fired in zip(self.plan.rules, self._fired, strict=True)
            ]
            return {"seed": self.plan.seed, "rules": rules}

    def pick(self, call: Classified, sdk_invocation: str | None = None) -> FaultRule | None:
        """The first matching rule that fires for this call (and count it), or None.

        ``sdk_invocation`` is the call's ``amz-sdk-invocation-id``: a ``scope="sdk_call"`` rule that
        fired for it fires again for its later attempts, without counting or drawing.
        """
        with self._lock:
            for index, rule in enumerate(self.plan.rules):
                if not rule.matches(call):
                    continue
                if rule.scope == "sdk_call" and sdk_invocation and sdk_invocation in self._calls[index]:
                    return rule
                if rule.max_count is not None and self._fired[index] >= rule.max_count:
                    continue
                if rule.probability >= 1.0 or self._rng.random() < rule.probability:
                    self._fired[index] += 1
                    if rule.scope == "sdk_call" and sdk_invocation:
                        self._calls[index].add(sdk_invocation)
                    return rule
        return None

    def sample(self, population: int, count: int) -> list[int]:
        with self._lock:
            return sorted(self._rng.sample(range(population), count))


def split_batch_write(
    body: bytes, fraction: float, sample: Callable[[int, int], list[int]]
) -> tuple[bytes | None, dict[str, list[Any]], int]:
    """Hold back ``fraction`` of a BatchWriteItem's requests (at least one).

    Returns the body to forward (None when nothing is left to write), the held-back requests in
    ``UnprocessedItems`` shape, and how many were held back.
    """
    document = json.loads(body)
    request_items: dict[str, list[Any]] = document.get("RequestItems") or {}
    flat = [(table, request) for table, requests in request_items.items() for request in requests]
    if not flat:
        return body, {}, 0
    count = min(len(flat), max(1, round(len(flat) * fraction)))
    held_indexes = set(sample(len(flat), count))
    forward: dict[str, list[Any]] = {}
    held: dict[str, list[Any]] = {}
    for index, (table, request) in enumerate(flat):
        (held if index in held_indexes else forward).setdefault(table, []).append(request)
    if not forward:
        return None, held, count
    document["RequestItems"] = forward
    return json.dumps(document).encode(), held, count


def merge_unprocessed(response_body: bytes, held: Mapping[str, list[Any]]) -> bytes:
    document = json_object(response_body.decode("utf-8", "replace")) if response_body else {}
    unprocessed: dict[str, list[Any]] = document.get("UnprocessedItems") or {}
    for table, requests in held.items():
        unprocessed.setdefault(table, []).extend(requests)
    document["UnprocessedItems"] = unprocessed
    return json.dumps(document).encode()


_FAULT_CODES = {
    # service: (throttle status, code, message), (server error status, code, message)
    "dynamodb": (
        (
            400,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        ),
        (500, "InternalServerError", "Internal server error"),
    ),
    "sqs": (
        (400, "ThrottlingException", "Rate exceeded"),
        (500, "InternalFailure", "The request processing has failed because of an unknown error."),
    ),
    "s3": (
        (503, "SlowDown", "Please reduce your request rate."),
        (500, "InternalError", "We encountered an internal error. Please try again."),
    ),
}
_DEFAULT_FAULT_CODES = ((400, "ThrottlingException", "Rate exceeded"), (500, "InternalFailure", "Internal failure"))
_JSON_NAMESPACES = {"dynamodb": "com.amazonaws.dynamodb.v20120810#", "sqs": "com.amazonaws.sqs#"}
_QUERY_CODES = {("sqs", "ThrottlingException"): "RequestThrottled", ("sqs", "InternalFailure"): "InternalError"}


def fault_response(
    kind: FaultKind, call: Classified, method: str, content_type: str = ""
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The service's own error for an injected throttle or server error: (status, headers, body)."""
    throttle, server_error = _FAULT_CODES.get(call.service, _DEFAULT_FAULT_CODES)
    status, code, message = throttle if kind == "throttle" else server_error
    message = f"{message} (injected by the s3pipe function gateway)"
    request_id = str(uuid.uuid4())
    if call.protocol == "json":
        body = json.dumps({"__type": _JSON_NAMESPACES.get(call.service, "") + code, "message": message}).encode()
        headers = [
            ("Content-Type", content_type if "json" in content_type else "application/x-amz-json-1.0"),
            ("x-amzn-RequestId", request_id),
        ]
        if call.service == "sqs":
            fault_type = "Sender" if status < 500 else "Receiver"
            headers.append(("x-amzn-query-error", f"{_QUERY_CODES.get(('sqs', code), code)};{fault_type}"))
        return status, headers, body
    if call.protocol == "query":
        query_code = _QUERY_CODES.get((call.service, code), "Throttling" if kind == "throttle" else code)
        fault_type = "Sender" if status < 500 else "Receiver"
        body = (
            '<?xml version="1.0"?><ErrorResponse><Error>'
            f"<Type>{fault_type}</Type><Code>{query_code}</Code><Message>{html.escape(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{html.escape(message)}</Message>"
        f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()
    headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    return status, headers, (b"" if method.upper() == "HEAD" else body)
