"""Rejection reports: bad lines/records of a file that otherwise has good records.

They are written to the SAME table as report items (deterministic keys, so a re-delivery
overwrites them instead of duplicating them)::

    PK  = "REJECT#s3://{bucket}/{key}"
    SK  = "LINE#{line:010d}"       (+ "#{ordinal:010d}" for JSON array elements, which can share a line)
    reason, excerpt (first 200 characters), src_bucket, src_key, src_line (N)

and logged (``record_rejected``, at most ``max_logged`` per object, then one
``rejections_not_logged`` line with the count). A file whose every record is rejected writes
nothing: its first reasons go into the DLQ message instead (:meth:`RejectionTracker.summary`).
"""

from __future__ import annotations

from .formats import Rejection
from .items import Item, SourceObject, rejection_item
from .logs import EVENT_RECORD_REJECTED, EVENT_REJECTIONS_NOT_LOGGED, EventLog


class RejectionTracker:
    """Counts, logs and turns rejections of one object into report items."""

    def __init__(self, source: SourceObject, log: EventLog, *, max_logged: int, reasons_in_summary: int) -> None:
        self.source = source
        self._log = log
        self._max_logged = max_logged
        self._reasons_in_summary = reasons_in_summary
        self.count = 0
        self.logged = 0
        #: Rejections noted with ``log=False``: already reported (by the first pass of the object).
        self.reported_before = 0
        self.first: list[tuple[int, str]] = []

    def note(self, rejection: Rejection, *, log: bool = True) -> None:
        """Count a rejection; ``log=False`` when an earlier pass already logged (or counted) it."""
        self.count += 1
        if len(self.first) < self._reasons_in_summary:
            self.first.append((rejection.line, rejection.reason))
        if not log:
            self.reported_before += 1
        elif self.logged < self._max_logged:
            self.logged += 1
            self._log.warning(
                EVENT_RECORD_REJECTED,
                line=rejection.line,
                ordinal=rejection.ordinal,
                reason=rejection.reason,
                excerpt=rejection.excerpt,
            )

    def item(self, rejection: Rejection) -> Item:
        return rejection_item(
            self.source,
            rejection.line,
            rejection.reason,
            rejection.excerpt,
            rejection.ordinal if rejection.array_element else None,
        )

    def finish_logging(self) -> None:
        unlogged = self.count - self.logged - self.reported_before
        if unlogged > 0:
            self._log.warning(EVENT_REJECTIONS_NOT_LOGGED, count=unlogged, rejected=self.count)

    def summary(self, records: int) -> str:
        """The DLQ reason of a file whose every record was rejected."""
        noun = "record was" if records == 1 else "records were"
        first = "; ".join(f"line {line}: {reason}" for line, reason in self.first)
        return f"all {records} {noun} rejected, nothing was stored; first: {first}"
