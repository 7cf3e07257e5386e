"""Teardown that finishes: every stack is closed even when another one's close fails, and signals wait for it.

- :func:`close_all` runs every step whatever the others do, then raises what failed (all of it).
- :class:`Interrupts` makes SIGTERM behave like Ctrl-C (a cancelled CI job otherwise kills the run
  before any ``finally`` runs): the first SIGTERM or SIGINT raises ``KeyboardInterrupt``, so pytest
  tears the session down and its stacks are destroyed. While they are being destroyed
  (:meth:`Interrupts.held`) further signals are held and said, never cutting a destroy short;
  Terraform runs in its own session, so a terminal's Ctrl-C does not reach it either.
  A pytest-xdist controller holds no stacks: it hands the signal to its workers (``forward``) and
  keeps running until they have torn down. Interrupting it instead would make execnet end each
  worker 15 s later (SIGINT, then ``os._exit``), in the middle of its destroys.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from s3pipe.errors import HarnessError

#: A named teardown step.
Step = tuple[str, Callable[[], object]]


class TeardownFailed(HarnessError):
    """More than one teardown step failed; each was still run."""

    @classmethod
    def of(cls, failures: list[tuple[str, Exception]]) -> TeardownFailed:
        seen: list[str] = []
        for name, error in failures:
            first, *rest = str(error).splitlines() or [type(error).__name__]
            seen += [f"{name}: {type(error).__name__}: {first}", *(f"  {line}" for line in rest)]
        return cls(
            f"{len(failures)} teardown steps failed (every step was run)",
            tried="close every stack of the session, each whatever the others did",
            seen=seen,
            fix="read each failure above; a failed destroy on AWS names the sweep command that finishes it",
        )


def close_all(steps: Iterable[Step]) -> None:
    """Run every step; then raise the one failure as it is, or :class:`TeardownFailed` naming them all."""
    failures: list[tuple[str, Exception]] = []
    for name, step in steps:
        try:
            step()
        except Exception as error:
            failures.append((name, error))
    if len(failures) == 1:
        raise failures[0][1]
    if failures:
        raise TeardownFailed.of(failures)


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Interrupts:
    """SIGTERM/SIGINT -> one ``KeyboardInterrupt`` (pytest then tears down); held while stacks are destroyed."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(
        self, say: Callable[[str], None] = _stderr, hint: str = "", forward: Callable[[int], bool] | None = None
    ) -> None:
        self.say = say
        self.hint = hint
        #: Hands a signal on to the processes that hold the stacks; True if it did (then this one keeps running).
        self.forward = forward
        self.interrupted = False
        self.pending: str | None = None
        self._holding = 0
        self._previous: dict[int, Any] = {}

    def install(self) -> bool:
        """Take over SIGTERM and SIGINT (main thread only: False elsewhere, nothing changed)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for number in self.SIGNALS:
            self._previous[number] = signal.signal(number, self._handle)
        return True

    def uninstall(self) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Signals arriving inside are held; one held while nothing else interrupted is raised after the block."""
        self._holding += 1
        try:
            yield
        except BaseException:
            self._holding -= 1
            raise
        self._holding -= 1
        if not self._holding and self.pending is not None and not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt(self.pending)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        del frame
        name = signal.Signals(number).name
        if self._holding or self.interrupted:
            self.pending = self.pending or name
            self.say(
                f"[s3pipe] {name}: held while the stacks are being destroyed (killing this process now would "
                f"leave them running{'; then ' + self.hint if self.hint else ''})"
            )
            return
        self.interrupted = True
        if self.forward is not None and self.forward(number):
            self.say(f"[s3pipe] {name}: handed to the workers; the run ends once they have destroyed their stacks")
            return
        self.say(f"[s3pipe] {name}: stopping the run; its stacks are destroyed before it ends")
        raise KeyboardInterrupt(name)
