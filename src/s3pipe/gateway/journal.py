"""The call journal: one JSON line per call of the function, and its typed reading.

The gateway appends a :func:`journal_entry` per call to a bounded :class:`Journal` (memory, and a
JSON Lines file for people); the harness reads entries back as :class:`GatewayCall`, a page at a
time (:class:`JournalPage`, which says how many requested entries were dropped). Stdlib only: it runs inside the
gateway process.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from s3pipe.gateway.classify import Classified

#: How many entries a journal keeps by default (about 0.5 KB each in memory; twice that on disk at most).
DEFAULT_CAPACITY = 50_000


class Journal:
    """Bounded JSON Lines journal: the newest ``capacity`` entries, numbered from 0 (``seq``) for ever.

    Reads come from memory (a ring buffer); older entries are dropped and counted (:attr:`dropped`).
    The file (when there is one) is a record for people: once it holds ``capacity`` lines it is
    renamed to ``<path>.1`` (replacing the previous one) and a new one is started, so the disk holds
    at most twice the capacity.
    """

    def __init__(self, path: Path | None, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"a journal keeps at least one entry, got capacity {capacity}")
        self.path = path
        self.capacity = capacity
        self._lock = threading.Lock()
        self._lines: deque[str] = deque(maxlen=capacity)
        self._next = 0
        self._file_lines = 0
        self._file: BinaryIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("wb")

    def __len__(self) -> int:
        """How many entries were ever appended (the next ``seq``)."""
        return self._next

    @property
    def dropped(self) -> int:
        """How many of the oldest entries are no longer kept."""
        return self._next - len(self._lines)

    def append(self, entry: dict[str, Any]) -> int:
        with self._lock:
            seq = self._next
            line = json.dumps({"seq": seq, **entry}, separators=(",", ":"), default=str) + "\n"
            self._lines.append(line)
            self._next += 1
            if self._file is not None and self.path is not None:
                if self._file_lines >= self.capacity:
                    self._file.close()
                    self.path.replace(self.path.with_name(self.path.name + ".1"))
                    self._file, self._file_lines = self.path.open("wb"), 0
                self._file.write(line.encode())
                self._file.flush()
                self._file_lines += 1
            return seq

    def read(self, since: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Kept entries with ``seq >= since`` and the next sequence number (see :meth:`dropped_since`)."""
        with self._lock:
            total, first = self._next, self._next - len(self._lines)
            lines = list(itertools.islice(self._lines, max(0, since - first), None)) if since < total else []
        return [json.loads(line) for line in lines], total

    def dropped_since(self, since: int) -> int:
        """How many entries with ``seq >= since`` were dropped before they could be read."""
        with self._lock:
            return max(0, self._next - len(self._lines) - max(0, since))

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


_XML_CODE = re.compile(rb"<Code>([^<]{1,128})</Code>")


def error_code(headers: Mapping[str, str], body: bytes) -> str | None:
    """The AWS error code of an error answer (JSON ``__type``, query-JSON header, or XML ``<Code>``), if any."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for header in ("x-amzn-query-error", "x-amzn-errortype"):
        if value := lowered.get(header, "").split(";", 1)[0].split(":", 1)[0].strip():
            return value
    if body[:1] == b"{":
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict):
            code = document.get("__type") or document.get("code")
            if isinstance(code, str) and code:
                return code.rsplit("#", 1)[-1]
    if match := _XML_CODE.search(body[:4096]):
        return match.group(1).decode("utf-8", "replace")
    return None


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
    #: The service's error code when the answer was an error (``AccessDeniedException``...).
    error_code: str | None = None
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
            error_code=str(data["error_code"]) if data.get("error_code") else None,
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


@dataclass(frozen=True)
class JournalPage:
    """Journalled calls from a ``since`` on: the calls still kept, the next ``seq``, and how many were dropped."""

    calls: tuple[GatewayCall, ...]
    next: int
    #: Calls with ``seq >= since`` the journal no longer kept (it keeps the newest ``capacity``).
    dropped: int = 0
    capacity: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JournalPage:
        capacity = data.get("capacity")
        return cls(
            calls=tuple(GatewayCall.from_json(item) for item in data.get("calls") or ()),
            next=int(data.get("next", 0)),
            dropped=int(data.get("dropped", 0)),
            capacity=int(capacity) if capacity is not None else None,
        )
