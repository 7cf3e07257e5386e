"""Accounting for "nothing lost": every input record stored exactly once, or in the DLQ with a reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from s3pipe.pipeline import Pipeline, Upload


@dataclass
class Ledger:
    """What was sent: record ids per object (the records carry an ``rid`` attribute)."""

    expected: dict[str, list[str]] = field(default_factory=dict)  # object key -> record ids
    uploads: dict[str, Upload] = field(default_factory=dict)

    def add(self, upload: Upload, record_ids: Sequence[str]) -> None:
        self.expected[upload.key] = list(record_ids)
        self.uploads[upload.key] = upload

    @property
    def records(self) -> int:
        return sum(len(ids) for ids in self.expected.values())


@dataclass(frozen=True)
class Accounting:
    records: int
    stored: int
    dlq: int
    lost: int
    duplicated: int
    lost_examples: tuple[str, ...]
    dlq_without_reason: int

    def line(self) -> str:
        return (
            f"records={self.records} stored={self.stored} dlq={self.dlq} lost={self.lost} duplicated={self.duplicated}"
        )


def account(pipeline: Pipeline, ledger: Ledger) -> Accounting:
    """Match the items stored under this test's prefix and the DLQ entries against the ledger, record by record."""
    items = pipeline.scan(source_prefix=pipeline.prefix)
    seen = Counter(str(item["rid"]) for item in items if "rid" in item)
    dead = {
        key: entries for key in ledger.expected if (entries := pipeline.observer.dlq.for_object(pipeline.bucket, key))
    }
    without_reason = sum(1 for entries in dead.values() for entry in entries if not entry.reason.strip())
    stored = dlq = lost = duplicated = 0
    examples: list[str] = []
    for key, ids in ledger.expected.items():
        for rid in ids:
            count = seen.get(rid, 0)
            if count == 1:
                stored += 1
            elif count > 1:
                duplicated += 1
            elif key in dead:
                dlq += 1
            else:
                lost += 1
                if len(examples) < 5:
                    examples.append(f"{rid} of {key}")
    return Accounting(ledger.records, stored, dlq, lost, duplicated, tuple(examples), without_reason)
