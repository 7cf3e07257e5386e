"""Health probing shared by every emulator backend (LocalStack's ``/_localstack/health`` contract)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from s3pipe.backends.base import Health
from s3pipe.errors import EmulatorError

#: Emulators listen on loopback: never send their health checks through an HTTP(S)_PROXY.
DIRECT_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

#: Services the reference stack needs; each must report "available" or "running".
REQUIRED_SERVICES: tuple[str, ...] = ("s3", "sqs", "lambda", "dynamodb", "iam", "sts", "logs")
_READY_STATES = {"available", "running"}


def probe_health(url: str, services: Sequence[str] = REQUIRED_SERVICES, timeout: float = 2.0) -> Health:
    """One GET of ``{url}/_localstack/health``; healthy when every required service is ready."""
    try:
        with DIRECT_OPENER.open(f"{url}/_localstack/health", timeout=timeout) as response:
            payload = json.loads(response.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError) as error:
        return Health(False, f"{type(error).__name__}: {error}")
    raw_states = payload.get("services") if isinstance(payload, dict) else None
    states: dict[str, Any] = raw_states if isinstance(raw_states, dict) else {}
    missing = [name for name in services if states.get(name) not in _READY_STATES]
    if missing:
        detail = ", ".join(f"{name}={states.get(name, 'absent')}" for name in missing)
        return Health(False, f"not ready: {detail}")
    version = payload.get("version", "?") if isinstance(payload, dict) else "?"
    return Health(True, f"version {version}, {len(states)} services")


def wait_until_healthy(
    name: str,
    url: str,
    *,
    timeout: float,
    exit_code: Callable[[], int | None] = lambda: None,
    log_tail: Callable[[], list[str]] = list,
    log_path: str = "",
    interval: float = 0.05,
    probe: Callable[[str, float], Health] | None = None,
    health_path: str = "/_localstack/health",
) -> Health:
    """Poll until healthy; fail fast if the process exits; on timeout report the last answer and log tail.

    ``probe`` defaults to LocalStack's health contract (:func:`probe_health`, every required service
    ready); another server passes its own probe and the ``health_path`` it polls.
    """
    services: Sequence[str] = REQUIRED_SERVICES if probe is None else ()
    check = probe or (lambda target, seconds: probe_health(target, timeout=seconds))
    deadline = time.monotonic() + timeout
    last = Health(False, "no answer yet")
    while True:
        code = exit_code()
        if code is not None:
            raise EmulatorError.exited_early(name, url, code, log_tail(), log_path, health_path=health_path)
        last = check(url, min(2.0, max(0.2, deadline - time.monotonic())))
        if last.healthy:
            return last
        if time.monotonic() >= deadline:
            raise EmulatorError.health_timeout(
                name, url, timeout, last.detail, log_tail(), services=services, health_path=health_path
            )
        time.sleep(interval)
