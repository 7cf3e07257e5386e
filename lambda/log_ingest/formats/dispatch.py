"""Which parser reads an object (by key suffix, confirmed by content), and the entry points."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from .access_log import parse_access_log
from .entries import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_LINE_BYTES, Entry, Family, Readable
from .json_document import parse_json_family
from .json_lines import parse_json_lines
from .source import ChunkSource

DEFAULT_ACCEPTED_SUFFIXES: Final = (
    ".json",
    ".jsonl",
    ".ndjson",
    ".log",
    ".json.gz",
    ".jsonl.gz",
    ".ndjson.gz",
    ".log.gz",
)
_BASE_SUFFIX_FAMILY: Final[dict[str, Family]] = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".log": "log",
}


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """How to parse an object, from its key: the format family and whether ``.gz`` was named."""

    family: Family
    gzip_suffix: bool
    suffix: str


def spec_for_key(key: str, accepted_suffixes: Sequence[str]) -> FormatSpec | None:
    """The parser for ``key``, or None when its suffix is not accepted (the object is ignored)."""
    lowered = key.lower()
    matches = [s for s in accepted_suffixes if s and lowered.endswith(s.lower())]
    if not matches:
        return None
    suffix = max(matches, key=len).lower()
    gz = lowered.endswith(".gz")
    base = lowered[:-3] if gz else lowered
    for base_suffix, family in _BASE_SUFFIX_FAMILY.items():
        if base.endswith(base_suffix):
            return FormatSpec(family, gz, suffix)
    return FormatSpec("sniff", gz, suffix)


def _sniff_family(src: ChunkSource) -> Family:
    head = src.read()
    src.push_back(head)
    stripped = head.lstrip()
    return "json" if stripped[:1] in (b"{", b"[") else "log"


def parse_stream(
    stream: Readable,
    family: Family,
    *,
    gzip_suffix: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    skip_through: int = 0,
) -> Iterator[Entry]:
    """Parse ``stream`` as ``family``, yielding Records and Rejections in file order.

    Raises FormatError (possibly after yielding entries, for a JSON array) when the whole object
    is unusable. Errors raised by ``stream.read`` itself (network, timeouts) propagate unchanged.

    ``skip_through``: line formats (JSON Lines, access logs) do not decode nor yield the entries
    with an ordinal up to this one -- lines and ordinals are still counted exactly, so what
    follows is identical to a full parse. A JSON document/array ignores it (its elements must be
    decoded to be delimited; the caller filters them).
    """
    chunk_size = max(1, min(chunk_size, max_line_bytes))
    src = ChunkSource(stream, gzip_suffix=gzip_suffix, chunk_size=chunk_size)
    if family == "sniff":
        family = _sniff_family(src)
    if family == "json":
        yield from parse_json_family(src, max_line_bytes, skip_through)
    elif family == "jsonl":
        yield from parse_json_lines(src, max_line_bytes, "jsonl", skip_through)
    else:
        yield from parse_access_log(src, max_line_bytes, skip_through)


def parse_bytes(data: bytes, family: Family, *, gzip_suffix: bool = False, chunk_size: int = 65536) -> list[Entry]:
    """Convenience for tests and tools: parse an in-memory object completely."""
    return list(parse_stream(io.BytesIO(data), family, gzip_suffix=gzip_suffix, chunk_size=chunk_size))
