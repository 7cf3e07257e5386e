"""What the function did, whatever the handler: its invocations and their outcomes, for a wait that fails.

Two readers, one shape (:class:`Invocation`):

* :class:`EmulatorLogInvocations` reads MiniStack's own log, where the event source mapping writes one
  line per batch it hands the function (``ESM: Lambda <fn> processed N SQS messages`` or ``... failed
  processing SQS batch ... (errorType=... errorMessage=...)`` with the traceback after it). It is the
  only place an init error shows on MiniStack: the function's log group then holds only START/END/REPORT.
* :class:`LogGroupInvocations` reads the function's CloudWatch log group the way AWS writes it
  (START / lines / END / REPORT per request, ``Task timed out``, ``[ERROR]`` lines and tracebacks,
  ``INIT_REPORT ... Status: error`` and ``Runtime.ImportModuleError`` for init errors).

:class:`FunctionWatch` follows one wait: it stops the wait early when every invocation since it began
failed with the same init error (a handler that cannot even be imported never gets better by waiting),
and otherwise adds to the failure what the function did, the queue and the DLQ.
"""

from __future__ import annotations

import enum
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from s3pipe.errors import SettleTimeout

if TYPE_CHECKING:
    from s3pipe.observe import FunctionLogs, LogLine

#: Traceback lines kept per failed invocation in a report.
TRACEBACK_LINES = 6


class Outcome(enum.Enum):
    """How one invocation ended."""

    SUCCESS = "success"
    INIT_ERROR = "init error"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Invocation:
    """One invocation (one batch) of the function, as a log told it."""

    at: float
    outcome: Outcome
    error: str = ""
    traceback: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.outcome is not Outcome.SUCCESS

    @property
    def signature(self) -> tuple[Outcome, str]:
        return self.outcome, self.error

    def describe(self) -> str:
        return self.outcome.value + (f": {self.error}" if self.error else "")


class FunctionBroken(SettleTimeout):
    """The function fails before the handler runs on every invocation: waiting longer cannot help."""


class InvocationReader(Protocol):
    """Invocations that finished since the reader was created (each read returns only the new ones)."""

    #: Where the invocations are read from, for the report.
    source: str

    def read(self) -> list[Invocation]: ...

    def flush(self) -> list[Invocation]:
        """What :meth:`read` holds back while more may follow (a traceback still being written); for a report."""
        ...


# ---------------------------------------------------------------------------- MiniStack's log

_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) ")
_ERROR_FIELDS = re.compile(r"\(errorType=(?P<type>\S*) errorMessage=(?P<message>.*)\)\s*$")
#: MiniStack's errorType of an invocation whose worker could not import the handler module.
_INIT_FAILED = "Worker init failed"


class EmulatorLogInvocations:
    """The event source mapping's lines about one function in MiniStack's log, from where the file ends now."""

    def __init__(self, path: Path, function: str) -> None:
        self.path = path
        self.source = f"the emulator's log {path}"
        self._processed = f"ESM: Lambda {function} processed "
        self._failed = f"ESM: Lambda {function} failed processing "
        self._offset = path.stat().st_size if path.is_file() else 0
        self._partial = ""
        self._open: tuple[float, str, str] | None = None  # a failure whose traceback may follow
        self._traceback: list[str] = []

    def read(self) -> list[Invocation]:
        found: list[Invocation] = []
        for line in self._new_lines():
            stamp = _TIMESTAMP.match(line)
            if stamp is None:  # a traceback line of the failure before
                if self._open is not None and line.strip():
                    self._traceback.append(line.rstrip())
                continue
            found += self._close()
            at = _local_epoch(stamp.group(1))
            if self._processed in line:
                found.append(Invocation(at, Outcome.SUCCESS))
            elif self._failed in line and (fields := _ERROR_FIELDS.search(line)):
                self._open = (at, fields.group("type"), fields.group("message"))
                if fields.group("message").startswith(_INIT_FAILED):
                    found += self._close()  # no traceback follows an init failure: known at once
        return found

    def _close(self) -> list[Invocation]:
        if self._open is None:
            return []
        at, error_type, message = self._open
        traceback, self._open, self._traceback = tuple(self._traceback[-TRACEBACK_LINES:]), None, []
        if message.startswith(_INIT_FAILED):
            return [Invocation(at, Outcome.INIT_ERROR, message)]
        if error_type == "Sandbox.Timedout":
            return [Invocation(at, Outcome.TIMEOUT, message)]
        last = traceback[-1].strip() if traceback else ""
        return [Invocation(at, Outcome.ERROR, last or f"{error_type}: {message}", traceback)]

    def _new_lines(self) -> list[str]:
        if not self.path.is_file():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        self._offset += len(data)
        text = self._partial + data.decode("utf-8", "replace")
        lines = text.split("\n")
        self._partial = lines.pop()  # an unfinished last line waits for its end
        return lines

    def flush(self) -> list[Invocation]:
        """A failure whose traceback is complete as far as the file goes (for the final report)."""
        return self._close()


def _local_epoch(stamp: str) -> float:
    return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S"))


# ---------------------------------------------------------------------------- the function's log group

_REQUEST = re.compile(r"^(START|END|REPORT) RequestId: (?P<id>[^\s,]+)")
_INIT_MARKERS = ("Runtime.ImportModuleError", "Runtime.UserCodeSyntaxError", "Runtime.HandlerNotFound")
_INIT_REPORT_ERROR = re.compile(r"^INIT_REPORT .*Status: (error|timeout)")


class LogGroupInvocations:
    """Invocations in the function's log group (as AWS writes it), from the lines a shared reader has polled."""

    def __init__(self, logs: FunctionLogs, since_ms: int, poll: Callable[[], object] | None = None) -> None:
        self.logs = logs
        self.source = f"the function's log group {logs.group}"
        self.since_ms = since_ms
        self._poll = poll if poll is not None else logs.poll
        self._done: set[str] = set()

    def read(self) -> list[Invocation]:
        self._poll()
        new: list[Invocation] = []
        for request, invocation in parse_log_group(
            [line for line in self.logs.lines if line.timestamp >= self.since_ms]
        ):
            if request not in self._done:
                self._done.add(request)
                new.append(invocation)
        return new

    def flush(self) -> list[Invocation]:
        """Nothing held back: a request counts once its REPORT line is there."""
        return []


def parse_log_group(lines: Sequence[LogLine]) -> list[tuple[str, Invocation]]:
    """(request id, invocation) for every request whose REPORT line is in ``lines`` (stream by stream)."""
    found: list[tuple[str, Invocation]] = []
    by_stream: dict[str, list[LogLine]] = {}
    for line in lines:
        by_stream.setdefault(line.stream, []).append(line)
    for stream_lines in by_stream.values():
        body: list[str] = []
        for line in stream_lines:
            message = line.message.rstrip()
            match = _REQUEST.match(message)
            if match is None:
                body.append(message)
                continue
            if match.group(1) == "START":
                body = [m for m in body if _is_init_line(m)]  # init output before START belongs to it
            elif match.group(1) == "REPORT":
                found.append((match.group("id"), _outcome_of(line.timestamp / 1000, body)))
                body = []
    return found


def _is_init_line(message: str) -> bool:
    return bool(_INIT_REPORT_ERROR.match(message)) or any(marker in message for marker in _INIT_MARKERS)


def _outcome_of(at: float, body: list[str]) -> Invocation:
    errors = [m[m.index("[ERROR]") + len("[ERROR]") :].strip() for m in body if "[ERROR]" in m]
    if any(_is_init_line(message) for message in body):
        error = next((e for e in errors if any(marker in e for marker in _INIT_MARKERS)), None)
        return Invocation(at, Outcome.INIT_ERROR, error or next(m for m in body if _is_init_line(m)))
    if timed_out := next((m for m in body if "Task timed out after" in m), None):
        return Invocation(at, Outcome.TIMEOUT, timed_out[timed_out.index("Task timed out") :].strip())
    traceback_start = "Traceback (most recent call last)"
    if errors or any(m.startswith(traceback_start) for m in body):
        traceback = tuple(m for m in body if m.strip())[-TRACEBACK_LINES:]
        last = next((m for m in reversed(body) if m.strip() and not m.startswith((" ", traceback_start))), "")
        return Invocation(at, Outcome.ERROR, errors[-1] if errors else last.strip() or "an exception", traceback)
    return Invocation(at, Outcome.SUCCESS)


# ---------------------------------------------------------------------------- one wait


@dataclass
class FunctionWatch:
    """The function's invocations from the start of one wait: early stop on a broken function, the report."""

    function: str
    reader: InvocationReader
    #: Queue, DLQ and anything else worth a line at the end of the report (called only when reporting).
    surroundings: Callable[[], list[str]] = lambda: []
    started: float = field(default_factory=time.time)
    invocations: list[Invocation] = field(default_factory=list)
    #: Reads of a remote log at most this often (the quota of CloudWatch Logs is per account and region).
    min_interval: float = 0.0
    _last_read: float = field(default=0.0, init=False)

    def update(self, *, force: bool = False) -> list[Invocation]:
        now = time.monotonic()
        if force or now - self._last_read >= self.min_interval:
            self._last_read = now
            self.invocations += self.reader.read()
            if force:
                self.invocations += self.reader.flush()
        return self.invocations

    def raise_if_broken(self) -> None:
        """Stop the wait when every invocation since it began failed with the same init error."""
        __tracebackhide__ = True  # pytest shows the test's line, not the harness's
        invocations = self.update()
        if not invocations or any(inv.signature != invocations[0].signature for inv in invocations):
            return
        if invocations[0].outcome is Outcome.INIT_ERROR:
            raise FunctionBroken(
                f"the function {self.function} cannot start: every invocation since this wait began "
                f"({len(invocations)}) failed before the handler ran -- {invocations[0].describe()}\n" + self.report()
            )

    def report(self) -> str:
        """What the function did since the wait began, for the failure message."""
        invocations = self.update(force=True)
        elapsed = time.time() - self.started
        out = [f"what the function {self.function} did in the last {elapsed:.1f} s (from {self.reader.source}):"]
        if not invocations:
            out.append("  no invocation finished: the message did not reach the function, or it is still running")
        else:
            failed = [inv for inv in invocations if inv.failed]
            out.append(
                f"  {len(invocations)} invocation(s): {len(invocations) - len(failed)} succeeded, {len(failed)} failed"
            )
            for (outcome, error), count in Counter(inv.signature for inv in failed).most_common():
                out.append(f"    {count} x {outcome.value}" + (f": {error}" if error else ""))
            if last_failure := next((inv for inv in reversed(failed) if inv.traceback), None):
                out.append(f"  last traceback (at {_clock(last_failure.at)}):")
                out.extend(f"    {line}" for line in last_failure.traceback)
        out.extend(f"  {line}" for line in self.surroundings())
        return "\n".join(out)


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")
