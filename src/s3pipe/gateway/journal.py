"""The call journal: one JSON line per call of the function, and its typed reading.

The gateway appends a :func:`journal_entry` per call to a :class:`Journal` (a JSON Lines file, or
memory); the harness reads entries back as :class:`GatewayCall`. Stdlib only: it runs inside the
gateway process.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3pipe.gateway.classify import Classified


class Journal:
    """Append-only JSON Lines journal; entries are numbered from 0 (``seq``)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._offsets: list[int] = []
        self._memory: list[str] = []
        self._size = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("wb")

    def __len__(self) -> int:
        return len(self._offsets)

    def append(self, entry: dict[str, Any]) -> int:
        with self._lock:
            seq = len(self._offsets)
            line = json.dumps({"seq": seq, **entry}, separators=(",", ":"), default=str) + "\n"
            data = line.encode()
            self._offsets.append(self._size)
            self._size += len(data)
            if self.path is None:
                self._memory.append(line)
            else:
                self._file.write(data)
                self._file.flush()
            return seq

    def read(self, since: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Entries with ``seq >= since`` and the next sequence number."""
        with self._lock:
            end, total = self._size, len(self._offsets)
            if since >= total:
                return [], total
            since = max(0, since)
            if self.path is None:
                return [json.loads(line) for line in self._memory[since:total]], total
            start = self._offsets[since]
        with self.path.open("rb") as handle:
            handle.seek(start)
            data = handle.read(end - start)
        return [json.loads(line) for line in data.splitlines() if line.strip()], total


_SDK_REQUEST = re.compile(r"attempt=(\d+)(?:;\s*max=(\d+))?")


def sdk_attempt(headers: Mapping[str, str]) -> dict[str, Any]:
    """The SDK's retry bookkeeping: ``amz-sdk-invocation-id`` (same for every attempt of one call) and
    ``amz-sdk-request: attempt=N; max=M``; empty when the client sent neither."""
    lowered = {k.lower(): v for k, v in headers.items()}
    found: dict[str, Any] = {}
    if invocation := lowered.get("amz-sdk-invocation-id"):
        found["invocation"] = invocation
    if match := _SDK_REQUEST.search(lowered.get("amz-sdk-request", "")):
        found["attempt"] = int(match.group(1))
        if match.group(2):
            found["max_attempts"] = int(match.group(2))
    return found


def journal_entry(call: Classified, method: str, path: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The journal line of a call, before its outcome (status, fault, duration) is known."""
    return {
        "time": round(time.time(), 6),
        "service": call.service,
        "action": call.action,
        "iam_actions": call.iam_actions,
        "resources": call.resources,
        "permissions": [[p.action, p.resource] for p in call.permissions],
        "region": call.region,
        "account": call.account,
        "method": method,
        "path": path if len(path) <= 512 else path[:509] + "...",
        "status": None,
        "fault": None,
        "context": dict(call.context),
        "sdk": sdk_attempt(headers or {}),
    }


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
