"""JSON Lines: one object per line, blank lines skipped (``fmt="jsonl"``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from .entries import Entry, Record, Rejection, SourceFormat
from .json_values import JSON_DECODER, NonFiniteNumberError, json_kind
from .source import ChunkSource, excerpt_bytes, text_lines


def parse_json_lines(src: ChunkSource, max_line: int, fmt: SourceFormat, skip_through: int = 0) -> Iterator[Entry]:
    decode = JSON_DECODER.decode
    for line in text_lines(src, max_line, skip_through):
        if isinstance(line, Rejection):
            yield line
            continue
        line_no, ordinal, data, text = line
        try:
            value = decode(text)
        except json.JSONDecodeError as exc:
            yield Rejection(line_no, ordinal, f"invalid JSON: {exc.msg} (column {exc.colno})", excerpt_bytes(data))
            continue
        except NonFiniteNumberError as exc:
            yield Rejection(line_no, ordinal, str(exc), excerpt_bytes(data))
            continue
        except RecursionError:
            yield Rejection(line_no, ordinal, "JSON nesting too deep to parse", excerpt_bytes(data))
            continue
        if type(value) is not dict:
            yield Rejection(line_no, ordinal, f"line is a JSON {json_kind(value)}, not an object", excerpt_bytes(data))
            continue
        yield Record(line_no, ordinal, value, fmt, len(data))
