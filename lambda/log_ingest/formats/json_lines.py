"""JSON Lines: one object per line, blank lines skipped (``fmt="jsonl"``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from .entries import Entry, Record, Rejection, SourceFormat
from .json_values import JSON_DECODER, NonFiniteNumberError, json_kind
from .source import ChunkSource, excerpt_bytes, iter_lines


def parse_json_lines(src: ChunkSource, max_line: int, fmt: SourceFormat, skip_through: int = 0) -> Iterator[Entry]:
    decode = JSON_DECODER.decode
    oversize: list[bytes] = []
    tail: list[bytes] = []
    line_no = 0
    ordinal = 0
    for raw in iter_lines(src, max_line, oversize, tail):
        line_no += 1
        if raw is None:
            ordinal += 1
            excerpt = oversize.pop()
            if ordinal > skip_through:
                yield Rejection(line_no, ordinal, f"line exceeds {max_line} bytes", excerpt_bytes(excerpt))
            continue
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if not line or line.isspace():
            continue
        ordinal += 1
        if ordinal <= skip_through:  # done in an earlier pass: counted, not decoded
            continue
        try:
            value = decode(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield Rejection(line_no, ordinal, f"invalid UTF-8 at byte {exc.start} of the line", excerpt_bytes(line))
            continue
        except json.JSONDecodeError as exc:
            yield Rejection(line_no, ordinal, f"invalid JSON: {exc.msg} (column {exc.colno})", excerpt_bytes(line))
            continue
        except NonFiniteNumberError as exc:
            yield Rejection(line_no, ordinal, str(exc), excerpt_bytes(line))
            continue
        except RecursionError:
            yield Rejection(line_no, ordinal, "JSON nesting too deep to parse", excerpt_bytes(line))
            continue
        if type(value) is not dict:
            yield Rejection(line_no, ordinal, f"line is a JSON {json_kind(value)}, not an object", excerpt_bytes(line))
            continue
        yield Record(line_no, ordinal, value, fmt, len(line))
    if src.damage is not None:
        yield Rejection(line_no + 1, 0, f"{src.damage} after line {line_no}", excerpt_bytes(tail[0] if tail else b""))
