"""Typed client of the function gateway (``backends/gateway.py``): fault plans and the call journal.

The embedded backend runs the gateway between the deployed function and MiniStack. Tests use
the ``s3pipe_gateway`` fixture, a :class:`GatewayClient`::

    plan = FaultPlan(seed=1, rules=(FaultRule("dynamodb", "BatchWriteItem", "throttle", probability=0.2),))
    with s3pipe_gateway.faults(plan):
        ...  # the function sees throttling on 20 % of its BatchWriteItem calls
    calls = s3pipe_gateway.calls(since=mark)  # what the function called, with IAM actions and ARNs
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from s3pipe.backends.gateway import parse_rule
from s3pipe.backends.health import DIRECT_OPENER
from s3pipe.errors import HarnessError

FaultKind = Literal["throttle", "server_error", "unprocessed", "delay"]


class GatewayError(HarnessError):
    """The function gateway did not answer, or refused a request of the harness."""

    @classmethod
    def unreachable(cls, url: str, route: str, detail: str) -> GatewayError:
        return cls(
            f"The function gateway at {url} does not answer",
            tried=f"{route} on {url}",
            seen=detail,
            fix=(
                "the gateway runs beside the embedded emulator and stops with it: check the emulator is still "
                "running (`s3pipe status`) and read its log under <state_dir>/logs/"
            ),
        )

    @classmethod
    def refused(cls, url: str, route: str, status: int, answer: str) -> GatewayError:
        return cls(
            f"The function gateway refused {route}",
            tried=f"{route} on {url}",
            seen=f"HTTP {status}: {answer}",
            fix="correct the fault plan as the message says (see s3pipe.faults.FaultRule for the fields)",
        )


@dataclass(frozen=True)
class FaultRule:
    """One rule: calls matching ``service``/``action`` (``*`` = any; optional ARN glob ``resource``) get ``fault``.

    ``probability`` is drawn per matching call from the plan's seeded RNG; ``max_count`` bounds how
    often the rule fires (None = unbounded). ``delay`` sleeps ``delay_ms`` then forwards;
    ``unprocessed`` (BatchWriteItem only) writes part of the items and returns the rest, a fraction
    ``unprocessed_fraction``, in ``UnprocessedItems``.
    """

    service: str
    action: str = "*"
    fault: FaultKind = "throttle"
    probability: float = 1.0
    max_count: int | None = None
    delay_ms: int = 0
    unprocessed_fraction: float = 0.5
    resource: str | None = None

    def __post_init__(self) -> None:
        parse_rule(self.to_json(), "fault rule")  # the gateway's own checks: refused here, not at set_plan

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FaultPlan:
    """Rules in order (the first matching rule that fires wins) and the RNG seed that makes runs repeat."""

    rules: tuple[FaultRule, ...] = ()
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "rules": [rule.to_json() for rule in self.rules]}


@dataclass(frozen=True)
class GatewayCall:
    """One journalled call of the function (a line of the gateway's JSON Lines journal)."""

    seq: int
    time: float
    service: str
    action: str
    #: (IAM action, resource ARN) pairs this call needs, as IAM evaluates it.
    permissions: tuple[tuple[str, str], ...]
    region: str
    account: str
    method: str
    path: str
    status: int | None
    fault: str | None = None
    duration_ms: float = 0.0
    context: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    #: The SDK call this attempt belongs to (``amz-sdk-invocation-id``), its attempt number and maximum.
    sdk_invocation: str | None = None
    sdk_attempt: int | None = None
    sdk_max_attempts: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GatewayCall:
        permissions = tuple((str(a), str(r)) for a, r in data.get("permissions") or [])
        sdk = data.get("sdk") or {}
        return cls(
            seq=int(data.get("seq", -1)),
            time=float(data.get("time", 0.0)),
            service=str(data.get("service", "")),
            action=str(data.get("action", "")),
            permissions=permissions,
            region=str(data.get("region", "")),
            account=str(data.get("account", "")),
            method=str(data.get("method", "")),
            path=str(data.get("path", "")),
            status=int(data["status"]) if data.get("status") is not None else None,
            fault=str(data["fault"]) if data.get("fault") else None,
            duration_ms=float(data.get("duration_ms", 0.0)),
            context={str(k): str(v) for k, v in (data.get("context") or {}).items()},
            error=str(data["error"]) if data.get("error") else None,
            sdk_invocation=str(sdk["invocation"]) if sdk.get("invocation") else None,
            sdk_attempt=int(sdk["attempt"]) if sdk.get("attempt") is not None else None,
            sdk_max_attempts=int(sdk["max_attempts"]) if sdk.get("max_attempts") is not None else None,
        )

    @property
    def iam_actions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(action for action, _ in self.permissions))

    @property
    def resources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(resource for _, resource in self.permissions))

    @property
    def last_attempt(self) -> bool:
        """The SDK will not retry this attempt (it was its last one)."""
        return self.sdk_attempt is not None and self.sdk_attempt == self.sdk_max_attempts

    def __str__(self) -> str:
        fault = f" [{self.fault}]" if self.fault else ""
        return f"#{self.seq} {self.service}:{self.action} {', '.join(self.resources)} -> {self.status}{fault}"


class GatewayClient:
    """Talks to one gateway's control API (``/_s3pipe/...``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, route: str, document: Any = None) -> Any:
        data = json.dumps(document).encode() if document is not None else None
        request = urllib.request.Request(  # noqa: S310 - a loopback http:// URL the harness started
            f"{self.url}/_s3pipe/{route}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        label = f"{method} /_s3pipe/{route}"
        try:
            with DIRECT_OPENER.open(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise GatewayError.refused(self.url, label, error.code, error.read().decode("utf-8", "replace")) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise GatewayError.unreachable(self.url, label, f"{type(error).__name__}: {error}") from None

    def health(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._request("GET", "health")
        return answer

    def set_plan(self, plan: FaultPlan) -> dict[str, Any]:
        """Replace the active plan (its RNG restarts from the plan's seed); returns the gateway's view of it."""
        answer: dict[str, Any] = self._request("PUT", "faults", plan.to_json())
        return answer

    def clear(self) -> None:
        """No faults from now on."""
        self._request("DELETE", "faults")

    def plan_state(self) -> dict[str, Any]:
        """The active plan with how often each rule fired (``fired``)."""
        answer: dict[str, Any] = self._request("GET", "faults")
        return answer

    def calls(self, since: int = 0) -> list[GatewayCall]:
        """Journalled calls with ``seq >= since`` (``since`` from :meth:`cursor`)."""
        answer = self._request("GET", f"calls?since={int(since)}")
        return [GatewayCall.from_json(item) for item in answer.get("calls", [])]

    def cursor(self) -> int:
        """The sequence number the next call will get: pass it to :meth:`calls` later."""
        answer = self._request("GET", f"calls?since={2**62}")
        return int(answer.get("next", 0))

    @contextmanager
    def faults(self, plan: FaultPlan) -> Iterator[GatewayClient]:
        """Apply ``plan`` for the duration of the block, then clear it (also when the block fails)."""
        self.set_plan(plan)
        try:
            yield self
        finally:
            self.clear()
