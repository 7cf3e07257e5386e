"""Streaming parsers: round trips for every format (property) and the edge cases (examples)."""

from __future__ import annotations

import gzip
import io
import os
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from log_ingest.formats import (
    FormatError,
    Record,
    Rejection,
    clf_time_to_iso,
    parse_bytes,
    parse_stream,
    spec_for_key,
)
from log_ingest.items import KEY_ATTRIBUTES, PROVENANCE_ATTRIBUTES
from s3pipe.strategies import Payload, json_records, json_text, payloads

RECORDS = json_records(exclude_names=(*KEY_ATTRIBUTES, *PROVENANCE_ATTRIBUTES))
PAYLOADS = payloads(RECORDS)


ACCEPTED = (".json", ".jsonl", ".ndjson", ".log", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".log.gz")


def parse(payload: Payload, chunk_size: int) -> list[Record | Rejection]:
    spec = spec_for_key("k" + payload.suffix, ACCEPTED)
    assert spec is not None
    return list(
        parse_stream(io.BytesIO(payload.data), spec.family, gzip_suffix=spec.gzip_suffix, chunk_size=chunk_size)
    )


@given(PAYLOADS, st.sampled_from([1, 7, 64, 4096, 1 << 20]))
def test_parse_of_serialized_records_gives_the_records(payload: Payload, chunk_size: int) -> None:
    entries = parse(payload, chunk_size)
    assert all(isinstance(e, Record) for e in entries), entries
    got = [(e.line, e.data, e.fmt) for e in entries if isinstance(e, Record)]
    assert got == payload.expected
    assert [e.ordinal for e in entries if isinstance(e, Record)] == list(range(1, len(entries) + 1))


@given(st.lists(RECORDS, min_size=1, max_size=5), st.data())
def test_good_lines_survive_bad_lines_in_json_lines(records: list[dict[str, object]], data: st.DataObject) -> None:
    bad_lines = ["{", "[1, 2]", '"text"', "42", '{"x": NaN}', '{"x": -Infinity}', "{'single': 1}", "null"]
    lines: list[str] = []
    expected_good: list[tuple[int, dict[str, object]]] = []
    expected_bad: list[int] = []
    for record in records:
        if data.draw(st.booleans()):
            lines.append(data.draw(st.sampled_from(bad_lines)))
            expected_bad.append(len(lines))
        lines.append(json_text(record))
        expected_good.append((len(lines), record))
    entries = parse_bytes(("\n".join(lines) + "\n").encode(), "jsonl")
    assert [(e.line, e.data) for e in entries if isinstance(e, Record)] == expected_good
    assert [e.line for e in entries if isinstance(e, Rejection)] == expected_bad
    assert all(e.reason and e.ordinal for e in entries if isinstance(e, Rejection))


# ------------------------------------------------------------------------------------- examples

ARTICLE_SERVER_LOG = b"""{
  "PK": "USER#12345",
  "SK": "LOG#2025-10-20T10:30:00Z",
  "timestamp": "2025-10-20T10:30:00Z",
  "userId": "12345",
  "action": "login",
  "ipAddress": "192.168.1.100"
}
"""


def test_article_pretty_printed_object_is_one_record() -> None:
    (entry,) = parse_bytes(ARTICLE_SERVER_LOG, "json")
    assert isinstance(entry, Record)
    assert entry.fmt == "json"
    assert entry.line == 1
    assert entry.data == {
        "PK": "USER#12345",
        "SK": "LOG#2025-10-20T10:30:00Z",
        "timestamp": "2025-10-20T10:30:00Z",
        "userId": "12345",
        "action": "login",
        "ipAddress": "192.168.1.100",
    }


def test_json_lines_in_a_json_file_are_sniffed() -> None:
    entries = parse_bytes(b'\n{"a": 1}\n{"b": 2}\nnot json\n', "json")
    assert [(type(e).__name__, e.line) for e in entries] == [("Record", 2), ("Record", 3), ("Rejection", 4)]
    assert {e.fmt for e in entries if isinstance(e, Record)} == {"jsonl"}


def test_array_elements_that_are_not_objects_are_rejected_with_their_line() -> None:
    entries = parse_bytes(b'[\n{"a": 1},\n2,\n"x",\n{"b": 1.50}\n]', "json")
    assert [(type(e).__name__, e.line) for e in entries] == [
        ("Record", 2),
        ("Rejection", 3),
        ("Rejection", 4),
        ("Record", 5),
    ]
    assert entries[1].reason == "array element is a JSON number, not an object"  # type: ignore[union-attr]
    assert entries[3].data == {"b": Decimal("1.50")}  # type: ignore[union-attr]


def test_large_array_is_streamed_in_small_chunks() -> None:
    body = b"[" + b",".join(b'{"n": %d, "pad": "%s"}' % (i, b"x" * (i % 300)) for i in range(2000)) + b"]"
    entries = parse_bytes(body, "json", chunk_size=100)
    assert [e.data["n"] for e in entries if isinstance(e, Record)] == list(range(2000))


def test_number_split_across_chunks_is_not_cut() -> None:
    entries = parse_bytes(b'[{"n": 12345678901234567890}]', "json", chunk_size=1)
    assert entries[0].data == {"n": 12345678901234567890}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"42", "top-level JSON value is a number, not an object or array"),
        (b'"x"', "top-level JSON value is a string, not an object or array"),
        (b"true", "top-level JSON value is a boolean, not an object or array"),
        (b"null", "top-level JSON value is a null, not an object or array"),
        (b'[{"a": 1}, {"b": ', "JSON syntax error at line 1"),
        (b'[{"a": 1}\n{"b": 2}]', "expected ',' or ']'"),
        (b'{"a":\n 1}\n  {"b": 2}', "unexpected data after the JSON document at line 3"),
        (b'{\n"a": 1,\n}', "JSON syntax error at line 3"),
        (b"[1,]", "trailing comma"),
        (b"<html>", "unexpected character '<'"),
        (b"\x00\x01\x02binary", "binary content (NUL byte at offset 0)"),
        (b"\xff\xfe{\x00}\x00", "content is UTF-16 encoded (byte order mark found)"),
        (b"\xff\xfe\x00\x00{\x00\x00\x00", "content is UTF-32 encoded (byte order mark found)"),
        ('{"a": 1}'.encode("utf-16-le"), "content looks UTF-16LE encoded (no byte order mark"),
        ('{"a": 1}'.encode("utf-16-be"), "content looks UTF-16BE encoded (no byte order mark"),
        ("{}".encode("utf-32-le"), "binary content (NUL byte at offset 1)"),
        (b'{"a": "\xff"}', "invalid UTF-8 in JSON document"),
    ],
)
def test_whole_document_failures_are_format_errors(body: bytes, reason: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_bytes(body, "json")
    assert reason in caught.value.reason


def test_syntax_error_late_in_array_raises_after_earlier_elements() -> None:
    stream = parse_stream(io.BytesIO(b'[{"a": 1}, {"b": 2}, oops]'), "json")
    assert isinstance(next(stream), Record)
    assert isinstance(next(stream), Record)
    with pytest.raises(FormatError, match="JSON syntax error"):
        next(stream)


def test_empty_and_blank_objects_have_no_entries() -> None:
    for family in ("json", "jsonl", "log"):
        assert parse_bytes(b"", family) == []  # type: ignore[arg-type]
        assert parse_bytes(b"\n \n\t\n", family) == []  # type: ignore[arg-type]
    assert parse_bytes(b"[]", "json") == []
    assert parse_bytes(gzip.compress(b""), "jsonl", gzip_suffix=True) == []


def test_bom_is_stripped() -> None:
    entries = parse_bytes(b'\xef\xbb\xbf{"a": 1}\n{"b": 2}\n', "jsonl")
    assert [e.data for e in entries if isinstance(e, Record)] == [{"a": 1}, {"b": 2}]
    (entry,) = parse_bytes(b"\xef\xbb\xbf" + ARTICLE_SERVER_LOG, "json")
    assert isinstance(entry, Record)


def test_invalid_utf8_rejects_only_its_line() -> None:
    entries = parse_bytes(b'{"a": 1}\n{"b": "\xc3\x28"}\n{"c": 3}\n', "jsonl")
    assert [type(e).__name__ for e in entries] == ["Record", "Rejection", "Record"]
    assert entries[1].reason == "invalid UTF-8 at byte 7 of the line"  # type: ignore[union-attr]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_rejected(token: str) -> None:
    entries = parse_bytes(f'{{"x": {token}}}\n{{"y": 1}}\n'.encode(), "jsonl")
    assert isinstance(entries[0], Rejection)
    assert entries[0].reason == f"non-finite number {token} is not allowed (DynamoDB cannot store it)"
    assert isinstance(entries[1], Record)
    (single,) = parse_bytes(f'{{\n "x": {token}\n}}'.encode(), "json")
    assert isinstance(single, Rejection)
    array = parse_bytes(f'[{{"x": {token}}}, {{"y": 2}}]'.encode(), "json")
    assert [type(e).__name__ for e in array] == ["Rejection", "Record"]


def test_floats_are_decimals() -> None:
    (entry,) = parse_bytes(b'{"f": 0.1, "e": 1e400, "i": 123456789012345678901234567890123456789012}\n', "jsonl")
    assert isinstance(entry, Record)
    assert entry.data == {
        "f": Decimal("0.1"),
        "e": Decimal("1E+400"),
        "i": 123456789012345678901234567890123456789012,
    }


def test_line_length_guard() -> None:
    long_line = b'{"x": "' + b"a" * 5000 + b'"}'
    body = b'{"a": 1}\n' + long_line + b'\n{"b": 2}\n' + long_line
    entries = list(parse_stream(io.BytesIO(body), "jsonl", chunk_size=256, max_line_bytes=1000))
    assert [(type(e).__name__, e.line) for e in entries] == [
        ("Record", 1),
        ("Rejection", 2),
        ("Record", 3),
        ("Rejection", 4),
    ]
    assert entries[1].reason == "line exceeds 1000 bytes"  # type: ignore[union-attr]
    assert entries[1].excerpt.startswith('{"x": "aaa')  # type: ignore[union-attr]


def test_deep_nesting_does_not_crash_the_parser() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    entries = parse_bytes(b'{"a": 1}\n{"x": ' + deep + b"}\n", "jsonl")
    assert isinstance(entries[1], Rejection)
    with pytest.raises(FormatError, match="nested too deeply"):
        parse_bytes(b'{"x": ' + deep + b"}", "json")


# -------------------------------------------------------------------------------------- gzip


def _gzip_lines(count: int) -> bytes:
    return gzip.compress(
        b"".join(b'{"n": %d, "pad": "%s"}\n' % (i, os.urandom(40).hex().encode()) for i in range(count))
    )


def test_truncated_gzip_keeps_complete_lines_and_reports_the_truncation() -> None:
    data = _gzip_lines(5000)
    entries = parse_bytes(data[: len(data) // 2], "jsonl", gzip_suffix=True)
    records = [e for e in entries if isinstance(e, Record)]
    assert records
    assert [r.data["n"] for r in records] == list(range(len(records)))
    last = entries[-1]
    assert isinstance(last, Rejection)
    assert last.ordinal == 0
    assert last.reason == f"gzip stream truncated after line {len(records)}"
    assert last.line == len(records) + 1


def test_gzip_detected_by_magic_without_gz_suffix() -> None:
    entries = parse_bytes(gzip.compress(b'{"a": 1}\n'), "jsonl")
    assert [e.data for e in entries if isinstance(e, Record)] == [{"a": 1}]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x1f\x8b" + b"garbage" * 20, "not a valid gzip stream"),
        (b"plain text, not gzip\n", "name ends in .gz but the content is not gzip-compressed"),
        (gzip.compress(b'{"a": 1}\n' * 100, mtime=0)[:10], "gzip stream is truncated before any data"),
        (gzip.compress(b'{"a": 1}\n' * 100, mtime=0)[:5], "gzip stream is truncated before any data"),
    ],
)
def test_gzip_of_garbage_is_a_format_error(data: bytes, reason: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_bytes(data, "jsonl", gzip_suffix=True)
    assert reason in caught.value.reason


def test_truncated_gzip_array_is_a_format_error() -> None:
    data = gzip.compress(b"[" + b",".join(b'{"n": %d}' % i for i in range(20000)) + b"]")
    with pytest.raises(FormatError, match="gzip stream truncated"):
        parse_bytes(data[: len(data) // 2], "json", gzip_suffix=True)


def test_multi_member_gzip() -> None:
    data = gzip.compress(b'{"a": 1}\n') + gzip.compress(b'{"b": 2}\n')
    assert [e.data for e in parse_bytes(data, "jsonl", gzip_suffix=True) if isinstance(e, Record)] == [
        {"a": 1},
        {"b": 2},
    ]


# ------------------------------------------------------------------------------------ access logs


def test_common_and_combined_log_format() -> None:
    body = (
        b'127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326\n'
        b'192.0.2.7 - - [01/Jan/2024:00:00:00 +0900] "POST /login HTTP/1.1" 302 - '
        b'"https://ex.com/" "curl/8.0"\n'
        b'198.51.100.1 - - [01/Jan/2024:00:00:00 +0000] "-" 408 -\n'
        b"not an access log line\n"
        b'127.0.0.1 - - [31/Feb/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1\n'
    )
    entries = parse_bytes(body, "log")
    assert isinstance(entries[0], Record)
    assert entries[0].fmt == "clf"
    assert entries[0].data == {
        "remote_host": "127.0.0.1",
        "ident": "-",
        "user": "frank",
        "time": "2000-10-10T20:55:36Z",
        "method": "GET",
        "path": "/apache_pb.gif",
        "protocol": "HTTP/1.0",
        "status": 200,
        "bytes": 2326,
    }
    assert isinstance(entries[1], Record)
    assert entries[1].fmt == "combined"
    assert entries[1].data == {
        "remote_host": "192.0.2.7",
        "ident": "-",
        "user": "-",
        "time": "2023-12-31T15:00:00Z",
        "method": "POST",
        "path": "/login",
        "protocol": "HTTP/1.1",
        "status": 302,
        "referer": "https://ex.com/",
        "user_agent": "curl/8.0",
    }
    assert isinstance(entries[2], Record)
    assert entries[2].data["request"] == "-"
    assert "bytes" not in entries[2].data
    assert isinstance(entries[3], Rejection)
    assert entries[3].reason == "line does not match Common or Combined Log Format"
    assert isinstance(entries[4], Rejection)
    assert "not a valid date" in entries[4].reason


def test_clf_time_conversion() -> None:
    assert clf_time_to_iso("10/Oct/2000:13:55:36 -0700") == "2000-10-10T20:55:36Z"
    assert clf_time_to_iso("01/Jan/2000:00:30:00 +0100") == "1999-12-31T23:30:00Z"
    with pytest.raises(ValueError, match="unknown month"):
        clf_time_to_iso("01/Foo/2000:00:30:00 +0100")


# ------------------------------------------------------------------------------------- suffixes


@pytest.mark.parametrize(
    ("key", "family", "gz"),
    [
        ("a/b/server-log.json", "json", False),
        ("x.JSON", "json", False),
        ("x.jsonl", "jsonl", False),
        ("x.ndjson.gz", "jsonl", True),
        ("logs/access.log.gz", "log", True),
        ("x.log", "log", False),
    ],
)
def test_spec_for_key(key: str, family: str, gz: bool) -> None:
    spec = spec_for_key(key, ACCEPTED)
    assert spec is not None
    assert (spec.family, spec.gzip_suffix) == (family, gz)


@pytest.mark.parametrize("key", ["x.csv", "x.json.bak", "folder/", "x.gz", "x.txt"])
def test_unknown_suffixes_are_not_parsed(key: str) -> None:
    assert spec_for_key(key, ACCEPTED) is None


def test_accepted_suffix_without_a_parser_is_sniffed() -> None:
    spec = spec_for_key("x.txt", (".txt",))
    assert spec is not None
    assert spec.family == "sniff"
    entries = list(parse_stream(io.BytesIO(b'{"a": 1}\n{"b": 2}\n'), spec.family))
    assert len(entries) == 2


# ------------------------------------------------------------------------- resuming (skip_through)


def _describe(entries: list[Record | Rejection]) -> list[tuple[object, ...]]:
    return [(type(e).__name__, e.line, e.ordinal, e.data if isinstance(e, Record) else e.reason) for e in entries]


@given(
    PAYLOADS,
    st.lists(st.sampled_from(["", "  ", "{bad", "x" * 40]), max_size=4),
    st.integers(0, 14),
    st.sampled_from([1, 7, 64, 4096]),
)
def test_skipping_entries_gives_exactly_the_rest_of_a_full_parse(
    payload: Payload, extra: list[str], skip: int, chunk_size: int
) -> None:
    """A continuation pass parses again and skips entries <= N: ordinals and lines stay exact."""
    spec = spec_for_key("k" + payload.suffix, ACCEPTED)
    assert spec is not None
    data = payload.data
    if extra and spec.family != "json":  # bad, blank and oversize lines between the records
        text = (gzip.decompress(data) if payload.gzipped else data).decode()
        lines = text.splitlines()
        for n, line in enumerate(extra):
            lines.insert((n * 3) % (len(lines) + 1), line)
        data = ("\n".join(lines) + "\n").encode()
        data = gzip.compress(data) if payload.gzipped else data

    def run(skip_through: int) -> list[Record | Rejection]:
        return list(
            parse_stream(
                io.BytesIO(data),
                spec.family,
                gzip_suffix=spec.gzip_suffix,
                chunk_size=chunk_size,
                max_line_bytes=30 if extra and spec.family != "json" else 1 << 20,
                skip_through=skip_through,
            )
        )

    full = run(0)
    rest = [e for e in full if e.ordinal > skip]
    if spec.family == "json" and full and getattr(full[0], "fmt", None) != "jsonl":
        rest = full  # a JSON document/array is not skipped by the parser (the ingest filters it)
    assert _describe(run(skip)) == _describe(rest)
