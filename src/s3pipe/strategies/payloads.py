"""What is inside the objects: JSON object / array / JSON Lines / access-log files, optionally gzip.

Every payload comes with the records parsing it must give (:class:`ExpectedRecord`: line, record,
format), so a property can say ``parse(payload.data) == payload.expected`` for every format.
Numbers in records are ``int`` or ``Decimal`` (what DynamoDB stores): parse with
``json.loads(text, parse_float=Decimal)`` to compare, or pass ``non_integers=False`` to
:func:`json_records` for a parser that reads floats.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple

from hypothesis import strategies as st

#: Record formats named in :attr:`ExpectedRecord.fmt`.
JSON_OBJECT, JSON_ARRAY, JSON_LINES, COMMON_LOG, COMBINED_LOG = "json", "json_array", "jsonl", "clf", "combined"

# Numbers DynamoDB can store: <= 38 significant digits, magnitude within 1E-130 .. 9.99E+125.
_DECIMALS = st.builds(
    lambda mantissa, exponent: Decimal(f"{mantissa}E{exponent}"),
    st.integers(-(10**20), 10**20),
    st.integers(-60, 60),
)
_INTEGERS = st.integers(-(10**30), 10**30)
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
_NAMES = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)


class ExpectedRecord(NamedTuple):
    """One record a payload holds: the line it starts on (1-based), the record, and its format."""

    line: int
    record: dict[str, Any]
    fmt: str


@dataclass(frozen=True)
class Payload:
    """An object's bytes, the name suffix that says its format, and the records parsing must give."""

    data: bytes
    suffix: str
    expected: list[ExpectedRecord]
    gzipped: bool

    @property
    def text(self) -> str:
        """The content as text (decompressed)."""
        return (gzip.decompress(self.data) if self.gzipped else self.data).decode("utf-8")


def json_values(*, non_integers: bool = True) -> st.SearchStrategy[Any]:
    """JSON values: null, booleans, integers, ``Decimal`` numbers (if ``non_integers``), text, lists, objects."""
    numbers = st.one_of(_INTEGERS, _DECIMALS) if non_integers else _INTEGERS
    return st.recursive(
        st.one_of(st.none(), st.booleans(), numbers, _TEXT),
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_NAMES, children, max_size=4)),
        max_leaves=12,
    )


def json_records(
    *, exclude_names: Iterable[str] = (), non_integers: bool = True, min_size: int = 1, max_size: int = 6
) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects (log records) with Unicode attribute names; none of ``exclude_names`` at the top level."""
    excluded = frozenset(exclude_names)
    return st.dictionaries(
        _NAMES.filter(lambda name: name not in excluded),
        json_values(non_integers=non_integers),
        min_size=min_size,
        max_size=max_size,
    )


def json_text(value: Any, indent: int | None = None, _level: int = 0) -> str:
    """JSON text of ``value`` with ``Decimal`` numbers written exactly (``json.dumps`` cannot)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return json.dumps(value, ensure_ascii=False)
    pad = "" if indent is None else "\n" + " " * (indent * (_level + 1))
    end = "" if indent is None else "\n" + " " * (indent * _level)
    sep = ", " if indent is None else ","
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[" + sep.join(pad + json_text(v, indent, _level + 1) for v in value) + end + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        members = (
            pad + json.dumps(k, ensure_ascii=False) + ": " + json_text(v, indent, _level + 1) for k, v in value.items()
        )
        return "{" + sep.join(members) + end + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _packed(text: str, suffix: str, gz: bool) -> tuple[bytes, str]:
    data = text.encode()
    return (gzip.compress(data, mtime=0), suffix + ".gz") if gz else (data, suffix)


def _gzip_choice(gzipped: bool | None) -> st.SearchStrategy[bool]:
    return st.booleans() if gzipped is None else st.just(gzipped)


def json_object_payloads(
    records: st.SearchStrategy[dict[str, Any]] | None = None, *, gzipped: bool | None = None
) -> st.SearchStrategy[Payload]:
    """``.json`` files holding one object, compact or indented."""
    return _json_object_payloads(json_records() if records is None else records, _gzip_choice(gzipped))


@st.composite
def _json_object_payloads(
    draw: st.DrawFn, records: st.SearchStrategy[dict[str, Any]], gz: st.SearchStrategy[bool]
) -> Payload:
    record = draw(records)
    zipped = draw(gz)
    data, suffix = _packed(json_text(record, indent=draw(st.sampled_from([None, 2, 4]))), ".json", zipped)
    return Payload(data, suffix, [ExpectedRecord(1, record, JSON_OBJECT)], zipped)


def json_array_payloads(
    records: st.SearchStrategy[dict[str, Any]] | None = None, *, gzipped: bool | None = None
) -> st.SearchStrategy[Payload]:
    """``.json`` files holding an array of objects, on one line or one element per line."""
    return _json_array_payloads(json_records() if records is None else records, _gzip_choice(gzipped))


@st.composite
def _json_array_payloads(
    draw: st.DrawFn, records: st.SearchStrategy[dict[str, Any]], gz: st.SearchStrategy[bool]
) -> Payload:
    chosen = draw(st.lists(records, min_size=1, max_size=8))
    zipped = draw(gz)
    if draw(st.booleans()):  # one element per line
        text = "[\n" + ",\n".join(json_text(r) for r in chosen) + "\n]\n"
        expected = [ExpectedRecord(i + 2, r, JSON_ARRAY) for i, r in enumerate(chosen)]
    else:
        text = "[" + ", ".join(json_text(r) for r in chosen) + "]"
        expected = [ExpectedRecord(1, r, JSON_ARRAY) for r in chosen]
    data, suffix = _packed(text, ".json", zipped)
    return Payload(data, suffix, expected, zipped)


def json_lines_payloads(
    records: st.SearchStrategy[dict[str, Any]] | None = None, *, gzipped: bool | None = None
) -> st.SearchStrategy[Payload]:
    """``.jsonl`` / ``.ndjson`` files: one object per line, LF or CRLF, blank lines between, final newline or not."""
    return _json_lines_payloads(json_records() if records is None else records, _gzip_choice(gzipped))


@st.composite
def _json_lines_payloads(
    draw: st.DrawFn, records: st.SearchStrategy[dict[str, Any]], gz: st.SearchStrategy[bool]
) -> Payload:
    chosen = draw(st.lists(records, min_size=1, max_size=10))
    blank_after = draw(st.lists(st.booleans(), min_size=len(chosen), max_size=len(chosen)))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    zipped = draw(gz)
    lines: list[str] = []
    expected = []
    for record, blank in zip(chosen, blank_after, strict=True):
        lines.append(json_text(record))
        expected.append(ExpectedRecord(len(lines), record, JSON_LINES))
        if blank:
            lines.append("")
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    data, suffix = _packed(text, draw(st.sampled_from([".jsonl", ".ndjson"])), zipped)
    return Payload(data, suffix, expected, zipped)


_TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:@", min_size=1, max_size=12)
_PATH = st.text("abcdefghijklmnopqrstuvwxyz0123456789/._-?=&%~+", min_size=1, max_size=30).map(lambda p: "/" + p)
_QUOTED_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters='"\\'), max_size=40
)
_MOMENTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1))
_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def access_log_lines(combined: bool | None = None) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """Common (``combined=False``) or Combined Log Format lines, each with its record.

    The record's ``time`` is UTC in ISO 8601 (``2025-10-20T10:30:00Z``) whatever the line's offset;
    ``bytes`` is left out when the line says ``-``.
    """
    return _access_log_lines(st.booleans() if combined is None else st.just(combined))


@st.composite
def _access_log_lines(draw: st.DrawFn, combined: st.SearchStrategy[bool]) -> tuple[str, dict[str, Any]]:
    moment = draw(_MOMENTS).replace(tzinfo=UTC)
    stamp = moment.astimezone(draw(_OFFSETS)).strftime("%d/%b/%Y:%H:%M:%S %z")
    host = draw(st.one_of(st.ip_addresses().map(str), _TOKEN))
    ident = draw(st.one_of(st.just("-"), _TOKEN))
    user = draw(st.one_of(st.just("-"), _TOKEN))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]))
    path = draw(_PATH)
    protocol = draw(st.sampled_from(["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"]))
    status = draw(st.integers(100, 599))
    size = draw(st.one_of(st.none(), st.integers(0, 10**12)))
    record: dict[str, Any] = {
        "remote_host": host,
        "ident": ident,
        "user": user,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "method": method,
        "path": path,
        "protocol": protocol,
        "status": status,
    }
    if size is not None:
        record["bytes"] = size
    line = f'{host} {ident} {user} [{stamp}] "{method} {path} {protocol}" {status} {"-" if size is None else size}'
    if draw(combined):
        referer = draw(st.one_of(st.just("-"), _QUOTED_TEXT))
        agent = draw(_QUOTED_TEXT)
        record["referer"] = referer
        record["user_agent"] = agent
        line += f' "{referer}" "{agent}"'
    return line, record


def access_log_payloads(*, gzipped: bool | None = None) -> st.SearchStrategy[Payload]:
    """``.log`` files of Common and Combined Log Format lines, mixed."""
    return _access_log_payloads(_gzip_choice(gzipped))


@st.composite
def _access_log_payloads(draw: st.DrawFn, gz: st.SearchStrategy[bool]) -> Payload:
    kinds = draw(st.lists(st.booleans(), min_size=1, max_size=10))
    zipped = draw(gz)
    lines = []
    expected = []
    for number, combined in enumerate(kinds, 1):
        line, record = draw(access_log_lines(combined))
        lines.append(line)
        expected.append(ExpectedRecord(number, record, COMBINED_LOG if combined else COMMON_LOG))
    data, suffix = _packed("\n".join(lines) + "\n", ".log", zipped)
    return Payload(data, suffix, expected, zipped)


def payloads(
    records: st.SearchStrategy[dict[str, Any]] | None = None, *, gzipped: bool | None = None
) -> st.SearchStrategy[Payload]:
    """Any of the formats above (``records`` for the JSON ones)."""
    return st.one_of(
        json_object_payloads(records, gzipped=gzipped),
        json_array_payloads(records, gzipped=gzipped),
        json_lines_payloads(records, gzipped=gzipped),
        access_log_payloads(gzipped=gzipped),
    )
