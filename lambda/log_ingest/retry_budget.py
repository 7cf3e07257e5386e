"""SDK retries within the invocation's time.

botocore's standard retry mode sleeps ``rand(0, 1) * 2 ** (attempt - 1)`` seconds (at most 20 s)
after a throttled attempt: up to 1 + 2 + 4 + 8 = 15 s over 5 attempts, more than a short
invocation has left. A function killed at its timeout loses its whole batch's work, its log
lines and the visibility backoff (backoff.py): every message comes back after the queue's full
visibility timeout. So each client's retry handler is wrapped: botocore still decides *whether*
and *how long* to wait (its retry conditions, quota and jitter), and the wrapper retries only when
that wait plus one more call fit in the invocation's :class:`Deadline`. Otherwise the call fails
now with its last error, exactly as when botocore's attempts run out, and the handler reports a
transient failure in time.

The first attempt of a call is never refused here: the callers check the deadline before they
start a call (``MIN_CALL_BUDGET_MS``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .writer import MIN_CALL_BUDGET_MS, Deadline


class RetryBudget:
    """The current invocation's deadline, shared by the container's clients (one invocation at a time)."""

    def __init__(self) -> None:
        self._deadline: Deadline | None = None
        self._lock = threading.Lock()
        #: Retries refused because the invocation could not afford them (what the tests observe).
        self.refused = 0

    @contextlib.contextmanager
    def within(self, deadline: Deadline | None) -> Iterator[None]:
        """Bound every retry made inside the block by ``deadline`` (None: botocore's own bounds only)."""
        self._deadline = deadline
        try:
            yield
        finally:
            self._deadline = None

    def allows(self, sleep_s: float) -> bool:
        """Whether sleeping ``sleep_s`` then making one more call still fits in the deadline."""
        deadline = self._deadline
        if deadline is None or deadline.remaining_ms() - sleep_s * 1000 >= MIN_CALL_BUDGET_MS:
            return True
        with self._lock:
            self.refused += 1
        return False

    def wrap(self, needs_retry: Callable[..., float | None]) -> Callable[..., float | None]:
        """botocore's ``needs-retry`` handler, asked first, then bounded by this budget."""

        def bounded(**kwargs: Any) -> float | None:
            sleep = needs_retry(**kwargs)
            return sleep if sleep is None or self.allows(sleep) else None

        return bounded


def bound_retries(client: Any, budget: RetryBudget, max_attempts: int) -> bool:
    """Put ``client``'s standard-mode retry handler under ``budget``; False when this botocore has none.

    botocore registers its handler as ``needs-retry.<service>`` with the unique id
    ``retry-config-<service>`` (``botocore.retries.standard.register_retry_handler``); it is replaced
    by the same handler, built with the same ``max_attempts``, behind :meth:`RetryBudget.wrap`.
    """
    try:
        from botocore.retries import standard
    except ImportError:  # pragma: no cover - botocore without standard retries
        return False
    events = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()
    event, unique_id = f"needs-retry.{service}", f"retry-config-{service}"
    events.unregister(event, unique_id=unique_id)
    handler: Any = standard.register_retry_handler(client, max_attempts=max_attempts)
    if handler is None:  # pragma: no cover - an older botocore that does not return it (left registered)
        return False
    events.unregister(event, unique_id=unique_id)
    events.register(event, budget.wrap(handler.needs_retry), unique_id=unique_id)
    return True
