"""Typed client of the function gateway's control API: fault plans, the call journal, the health probe.

The embedded backend runs the gateway between the deployed function and MiniStack. Tests use
the ``s3pipe_gateway`` fixture, a :class:`GatewayClient`::

    plan = FaultPlan(seed=1, rules=(FaultRule("dynamodb", "BatchWriteItem", "throttle", probability=0.2),))
    with s3pipe_gateway.faults(plan):
        ...  # the function sees throttling on 20 % of its BatchWriteItem calls
    calls = s3pipe_gateway.calls(since=mark)  # what the function called, with IAM actions and ARNs
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from s3pipe.backends.base import Health
from s3pipe.backends.health import DIRECT_OPENER
from s3pipe.errors import HarnessError
from s3pipe.gateway.faults import FaultPlan
from s3pipe.gateway.journal import GatewayCall, JournalPage


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
            fix="correct the fault plan as the message says (see s3pipe.gateway.FaultRule for the fields)",
        )


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
        """Journalled calls with ``seq >= since`` (``since`` from :meth:`cursor`) that the journal still keeps."""
        return list(self.page(since).calls)

    def page(self, since: int = 0) -> JournalPage:
        """Like :meth:`calls`, and how many of the calls asked for were dropped (the journal is bounded)."""
        return JournalPage.from_json(self._request("GET", f"calls?since={int(since)}"))

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


def probe_gateway(url: str, timeout: float = 2.0) -> Health:
    """One GET of ``{url}/_s3pipe/health``."""
    try:
        payload = GatewayClient(url, timeout).health()
    except GatewayError as error:
        return Health(False, "; ".join(error.seen) or error.summary)
    if not isinstance(payload, dict) or payload.get("status") != "ok":
        return Health(False, f"unexpected answer {payload!r}")
    return Health(True, f"{payload.get('calls', 0)} calls journalled, upstream {payload.get('upstream')}")
