"""CloudWatch Logs reads paced to the account's quota: at most one per interval, slower while throttled.

``FilterLogEvents`` allows 5 requests per second per account and region (a hard quota), shared by
every xdist worker and anything else in the account; waits that poll every 0.1 s would be throttled
at once. :func:`pace_reads` hooks a client's own events, so every reader of that client (the session's
observer, a test's own ``FunctionLogs``) is paced together: before each HTTP attempt it waits until
the interval since the previous one has passed; a throttled answer doubles the interval (up to
:data:`MAX_INTERVAL_S`), each answer that is not throttled halves it back towards the configured one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

#: Error codes with which AWS services say "too many requests".
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "RequestLimitExceeded", "RateExceeded", "TooManyRequestsException"}
)
#: Longest pause between two reads, however often the quota was hit.
MAX_INTERVAL_S = 30.0
#: The read operations of CloudWatch Logs the harness makes.
LOG_READS = ("FilterLogEvents", "GetLogEvents", "DescribeLogStreams")


class Pacer:
    """At most one call per ``interval`` seconds; twice as slow after each throttled answer, back after good ones."""

    def __init__(
        self,
        interval: float,
        *,
        max_interval: float = MAX_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self.current = interval
        self.max_interval = max_interval
        self.clock = clock
        self.sleep = sleep
        self._last: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until the next call may go; the seconds waited."""
        with self._lock:
            waited = 0.0
            now = self.clock()
            if self._last is not None and (due := self._last + self.current) > now:
                waited = due - now
                self.sleep(waited)
                now = self.clock()
            self._last = now
            return waited

    def answered(self, *, throttled: bool) -> None:
        with self._lock:
            if throttled:
                self.current = min(self.max_interval, self.current * 2)
            else:
                self.current = max(self.interval, self.current / 2)


def _error_code(response: Any) -> str:
    if not isinstance(response, tuple) or len(response) != 2 or not isinstance(response[1], dict):
        return ""
    return str(response[1].get("Error", {}).get("Code", ""))


def pace_reads(client: Any, interval: float, operations: Iterable[str] = LOG_READS) -> Pacer:
    """Pace ``operations`` of this boto3 client (each HTTP attempt, retries included); returns the pacer."""
    pacer = Pacer(interval)
    service = client.meta.service_model.service_id.hyphenize()

    def before_send(**_: Any) -> None:
        pacer.wait()

    def after_attempt(response: Any = None, **_: Any) -> None:
        if response is not None:  # None: the attempt raised (connection error), nothing was answered
            pacer.answered(throttled=_error_code(response) in THROTTLING_CODES)

    for operation in operations:
        client.meta.events.register(f"before-send.{service}.{operation}", before_send)
        client.meta.events.register(f"needs-retry.{service}.{operation}", after_attempt)
    return pacer
