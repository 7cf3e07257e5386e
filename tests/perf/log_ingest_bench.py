"""In-process throughput of parse + shape (no AWS), for ``s3pipe bench`` and the unit suite.

Lives under ``tests/perf`` (not in the handler package) so it never ships in the Lambda zip;
``s3pipe bench`` loads it from the repository's tests directory.

    >>> from perf import log_ingest_bench as bench
    >>> result = bench.parse_and_shape(bench.GeneratedStream(bench.jsonl_lines(100_000)), key="b.jsonl")
    >>> result.records, round(result.lines_per_second)

:class:`GeneratedStream` is a file-like object backed by a generator, so a 1 GB input never
exists on disk or in memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from log_ingest.formats import DEFAULT_ACCEPTED_SUFFIXES, DEFAULT_CHUNK_SIZE, Record, parse_stream, spec_for_key
from log_ingest.items import RecordRejectedError, SourceObject, record_item

_CLF_TEMPLATE: Final = (
    '192.0.2.{host} - user{user} [10/Oct/2000:13:{minute:02d}:{second:02d} -0700] "GET /api/items/{n}?page=2 '
    'HTTP/1.1" {status} {size} "https://example.com/start" "Mozilla/5.0 (X11; Linux x86_64) bench/1.0"\n'
)


def jsonl_lines(count: int, record_bytes: int = 200) -> Iterator[bytes]:
    """``count`` JSON Lines of about ``record_bytes`` bytes each (strings, ints, a decimal, a bool)."""
    for n in range(count):
        head = (
            f'{{"id": {n}, "user": "user-{n % 9973}", "action": "login", "ok": true, '
            f'"latency": {n % 1000}.{n % 97:02d}, "ip": "198.51.100.{n % 256}", "note": "'
        )
        pad = max(0, record_bytes - len(head) - 3)
        yield (head + "x" * pad + '"}\n').encode()


def clf_lines(count: int) -> Iterator[bytes]:
    """``count`` Combined Log Format lines (~190 bytes each)."""
    for n in range(count):
        yield _CLF_TEMPLATE.format(
            host=n % 256,
            user=n % 100,
            minute=(n // 60) % 60,
            second=n % 60,
            n=n,
            status=200 if n % 10 else 404,
            size=n % 50000,
        ).encode()


class GeneratedStream:
    """A read-only binary stream whose content comes from an iterable of byte strings."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._buffer = bytearray()
        self.bytes_read = 0

    def read(self, amt: int | None = None, /) -> bytes:
        if amt is None or amt < 0:
            data = bytes(self._buffer) + b"".join(self._pieces)
            self._buffer.clear()
            self.bytes_read += len(data)
            return data
        while len(self._buffer) < amt:
            try:
                self._buffer += next(self._pieces)
            except StopIteration:
                break
        data = bytes(self._buffer[:amt])
        del self._buffer[:amt]
        self.bytes_read += len(data)
        return data


@dataclass(frozen=True, slots=True)
class BenchResult:
    records: int
    rejections: int
    bytes_read: int
    seconds: float

    @property
    def lines_per_second(self) -> float:
        return (self.records + self.rejections) / self.seconds if self.seconds > 0 else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes_read / self.seconds / 1e6 if self.seconds > 0 else 0.0


def parse_and_shape(
    stream: GeneratedStream,
    *,
    key: str,
    bucket: str = "bench-bucket",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> BenchResult:
    """Run the handler's parse + item-shaping path over ``stream`` (named ``key``), timing it."""
    spec = spec_for_key(key, DEFAULT_ACCEPTED_SUFFIXES)
    if spec is None:
        raise ValueError(f"{key!r} has no accepted suffix")
    source = SourceObject(bucket, key)
    records = 0
    rejections = 0
    started = time.perf_counter()
    for entry in parse_stream(stream, spec.family, gzip_suffix=spec.gzip_suffix, chunk_size=chunk_size):
        if type(entry) is Record:
            try:
                record_item(entry, source)
            except RecordRejectedError:
                rejections += 1
            else:
                records += 1
        else:
            rejections += 1
    return BenchResult(records, rejections, stream.bytes_read, time.perf_counter() - started)
