"""Payload strategies: the expected records are what a plain reading of the bytes gives (stdlib json, a regex)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given

from s3pipe.strategies import (
    ExpectedRecord,
    Payload,
    access_log_lines,
    access_log_payloads,
    json_array_payloads,
    json_lines_payloads,
    json_object_payloads,
    json_records,
    json_text,
    payloads,
)

CLF = re.compile(
    r'(?P<remote_host>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^]]+)\] "(?P<method>\S+) (?P<path>\S+) '
    r'(?P<protocol>\S+)" (?P<status>\d{3}) (?P<bytes>\d+|-)(?: "(?P<referer>[^"]*)" "(?P<user_agent>[^"]*)")?'
)


def loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


def lines_of(payload: Payload) -> list[str]:
    """Lines split at LF only (str.splitlines would also split at U+0085 or U+2028 inside JSON strings)."""
    return [line.removesuffix("\r") for line in payload.text.split("\n")]


@given(json_object_payloads())
def test_a_json_object_file_holds_its_one_record(payload: Payload) -> None:
    [expected] = payload.expected
    assert expected == ExpectedRecord(1, loads(payload.text), "json")
    assert payload.suffix == (".json.gz" if payload.gzipped else ".json")


@given(json_array_payloads())
def test_a_json_array_file_holds_its_records_each_on_its_line(payload: Payload) -> None:
    lines = lines_of(payload)
    assert [e.record for e in payload.expected] == loads(payload.text)
    for expected in payload.expected:
        start = lines[expected.line - 1]
        assert start.startswith(("[", "{"))
        assert expected.fmt == "json_array"


@given(json_lines_payloads())
def test_a_json_lines_file_holds_one_record_per_numbered_line(payload: Payload) -> None:
    lines = lines_of(payload)
    assert [loads(lines[e.line - 1]) for e in payload.expected] == [e.record for e in payload.expected]
    assert sum(1 for line in lines if line.strip()) == len(payload.expected)


@given(access_log_payloads())
def test_an_access_log_file_holds_one_record_per_line(payload: Payload) -> None:
    lines = lines_of(payload)[:-1]  # the file ends with a newline
    assert len(lines) == len(payload.expected)
    for expected in payload.expected:
        match = CLF.fullmatch(lines[expected.line - 1])
        assert match is not None
        assert expected.fmt == ("combined" if match["user_agent"] is not None else "clf")
        fields = {k: v for k, v in match.groupdict().items() if v is not None and k != "time"}
        fields["status"] = int(fields["status"])
        if fields["bytes"] == "-":
            del fields["bytes"]
        else:
            fields["bytes"] = int(fields["bytes"])
        when = datetime.strptime(match["time"], "%d/%b/%Y:%H:%M:%S %z").astimezone(UTC)
        assert {**fields, "time": when.strftime("%Y-%m-%dT%H:%M:%SZ")} == expected.record


@given(access_log_lines(combined=False))
def test_common_log_lines_have_no_referer(line_and_record: tuple[str, dict[str, Any]]) -> None:
    line, record = line_and_record
    assert "referer" not in record
    assert line.endswith(str(record.get("bytes", "-")))


@given(json_records(exclude_names=("PK", "SK"), non_integers=False))
def test_records_can_leave_out_names_and_non_integers(record: dict[str, Any]) -> None:
    assert not {"PK", "SK"} & set(record)
    assert "." not in json_text(record).replace(" ", "") or not any(isinstance(v, Decimal) for v in record.values())
    assert json.loads(json_text(record)) == record  # no Decimal: plain json reads it back exactly


@given(payloads(gzipped=True))
def test_gzipped_means_gzip(payload: Payload) -> None:
    assert payload.gzipped
    assert payload.data[:2] == b"\x1f\x8b"
    assert payload.suffix.endswith(".gz")


def test_json_text_writes_decimals_exactly() -> None:
    assert json_text({"a": Decimal("1.10E-7"), "b": [1, None, True]}) == '{"a": 1.10E-7, "b": [1, null, true]}'
    assert json_text({"x": {}}, indent=2) == '{\n  "x": {}\n}'
    with pytest.raises(TypeError, match="not a JSON value: float"):
        json_text(0.5)
