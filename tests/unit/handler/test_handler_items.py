"""Records -> DynamoDB items: exact wire form, deterministic keys, guards."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from log_ingest.formats import Record
from log_ingest.items import (
    KEY_ATTRIBUTES,
    MAX_ITEM_BYTES,
    PROVENANCE_ATTRIBUTES,
    RecordRejectedError,
    SourceObject,
    check_number,
    from_attribute_value,
    item_size,
    json_excerpt,
    record_item,
    rejection_item,
    to_attribute_value,
)
from s3pipe.strategies import json_records, json_values

RECORDS = json_records(exclude_names=(*KEY_ATTRIBUTES, *PROVENANCE_ATTRIBUTES))
SOURCE = SourceObject("ingest-bucket", "logs/2025/server log.json")


def rec(data: dict[str, Any], line: int = 1, ordinal: int = 1, fmt: str = "jsonl") -> Record:
    return Record(line, ordinal, data, fmt, 100)  # type: ignore[arg-type]


def test_article_record_is_stored_verbatim() -> None:
    data = {
        "PK": "USER#12345",
        "SK": "LOG#2025-10-20T10:30:00Z",
        "timestamp": "2025-10-20T10:30:00Z",
        "userId": "12345",
        "action": "login",
        "ipAddress": "192.168.1.100",
    }
    assert record_item(rec(data, fmt="json"), SOURCE) == {
        "PK": {"S": "USER#12345"},
        "SK": {"S": "LOG#2025-10-20T10:30:00Z"},
        "timestamp": {"S": "2025-10-20T10:30:00Z"},
        "userId": {"S": "12345"},
        "action": {"S": "login"},
        "ipAddress": {"S": "192.168.1.100"},
    }


def test_generated_keys_and_provenance() -> None:
    item = record_item(rec({"msg": "hi", "n": 1, "f": Decimal("1.5"), "ok": True, "x": None}, 7, 3), SOURCE)
    assert item == {
        "msg": {"S": "hi"},
        "n": {"N": "1"},
        "f": {"N": "1.5"},
        "ok": {"BOOL": True},
        "x": {"NULL": True},
        "PK": {"S": "SRC#s3://ingest-bucket/logs/2025/server log.json"},
        "SK": {"S": "REC#0000000003"},
        "src_bucket": {"S": "ingest-bucket"},
        "src_key": {"S": "logs/2025/server log.json"},
        "src_line": {"N": "7"},
        "src_format": {"S": "jsonl"},
    }


def test_rejection_item_schema() -> None:
    assert rejection_item(SOURCE, 12, "invalid JSON: Expecting value (column 1)", "x" * 500) == {
        "PK": {"S": "REJECT#s3://ingest-bucket/logs/2025/server log.json"},
        "SK": {"S": "LINE#0000000012"},
        "reason": {"S": "invalid JSON: Expecting value (column 1)"},
        "excerpt": {"S": "x" * 200},
        "src_bucket": {"S": "ingest-bucket"},
        "src_key": {"S": "logs/2025/server log.json"},
        "src_line": {"N": "12"},
    }
    assert rejection_item(SOURCE, 1, "r", "e", ordinal=5)["SK"] == {"S": "LINE#0000000001#0000000005"}


@given(json_values())
def test_serializer_matches_boto3_type_serializer(value: Any) -> None:
    ours = to_attribute_value(value)
    theirs = TypeSerializer().serialize(value)
    assert TypeDeserializer().deserialize(ours) == TypeDeserializer().deserialize(theirs)
    assert from_attribute_value(ours) == value


@given(RECORDS, st.integers(1, 10**6), st.integers(1, 10**6))
def test_keys_are_deterministic(data: dict[str, Any], line: int, ordinal: int) -> None:
    first = record_item(rec(data, line, ordinal), SOURCE)
    again = record_item(rec(dict(data), line, ordinal), SOURCE)
    assert first == again
    other = record_item(rec(data, line, ordinal + 1), SOURCE)
    assert (first["PK"], first["SK"]) != (other["PK"], other["SK"])
    assert {k: from_attribute_value(v) for k, v in first.items() if k in data} == data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"PK": "a"}, "record has PK but no SK"),
        ({"SK": "a"}, "record has SK but no PK"),
        ({"PK": 1, "SK": "a"}, "PK must be a non-empty string, found a number"),
        ({"PK": "a", "SK": Decimal("1.5")}, "SK must be a non-empty string, found a number"),
        ({"PK": True, "SK": "a"}, "PK must be a non-empty string, found a boolean"),
        ({"PK": ["a"], "SK": "a"}, "PK must be a non-empty string, found an array"),
        ({"PK": "a", "SK": ""}, "SK must be a non-empty string, found an empty string"),
        ({"PK": None, "SK": "a"}, "PK must be a non-empty string, found null"),
        ({"PK": "a", "SK": {"x": 1}}, "SK must be a non-empty string, found an object"),
        ({"src_line": 3, "a": 1}, "reserved attribute(s) src_line"),
        ({"": 1}, "empty attribute name"),
        ({"a": "\ud800"}, "attribute 'a': string contains a lone surrogate"),
        ({"PK": "p" * 2049, "SK": "s"}, "PK is longer than 2048 bytes"),
        ({"PK": "p", "SK": "s" * 1025}, "SK is longer than 1024 bytes"),
    ],
)
def test_key_and_name_guards(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordRejectedError) as caught:
        record_item(rec(data), SOURCE)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    "text",
    [
        "12345678901234567890123456789012345678",  # 38 digits
        "-1.2345678901234567890123456789012345678E+125",
        "1E-130",
        "9.9999999999999999999999999999999999999E+125",
        "100000000000000000000000000000000000000000000000000",  # 1 significant digit
        "0.000000000000000000000000000000000000000000000000000000000001",
        "0E-200",
    ],
)
def test_numbers_dynamodb_can_store(text: str) -> None:
    assert check_number(Decimal(text)) == str(Decimal(text))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("123456789012345678901234567890123456789", "39 significant digits"),
        ("1.00000000000000000000000000000000000001", "39 significant digits"),
        ("1E+126", "outside DynamoDB's range"),
        ("1E-131", "outside DynamoDB's range"),
        ("NaN", "non-finite"),
        ("-Infinity", "non-finite"),
    ],
)
def test_numbers_dynamodb_cannot_store_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(RecordRejectedError, match=reason):
        check_number(Decimal(text))
    with pytest.raises(RecordRejectedError, match="attribute 'n'"):
        record_item(rec({"n": Decimal(text)}), SOURCE)


def test_big_int_is_checked_like_a_decimal() -> None:
    assert record_item(rec({"n": 10**40}), SOURCE)["n"] == {"N": str(10**40)}
    with pytest.raises(RecordRejectedError, match="significant digits"):
        record_item(rec({"n": 10**40 + 1}), SOURCE)


def _wrapped(leaf: Any, times: int, kind: str) -> Any:
    for _ in range(times):
        leaf = [leaf] if kind == "list" else {"k": leaf}
    return leaf


@pytest.mark.parametrize("kind", ["list", "map"])
def test_nesting_depth_limit_counts_the_attribute_as_level_one(kind: str) -> None:
    # DynamoDB: the attribute is level 1; a scalar wrapped 31 times is at level 32, the deepest
    # it accepts; wrapped 32 times (level 33) it is refused -- as is an empty container at level 33.
    record_item(rec({"d": _wrapped(1, 31, kind)}), SOURCE)
    record_item(rec({"d": _wrapped("x", 31, kind)}), SOURCE)
    record_item(rec({"d": _wrapped([], 31, kind)}), SOURCE)  # the empty list is level 32
    for too_deep in (_wrapped(1, 32, kind), _wrapped("x", 32, kind), _wrapped({}, 32, kind)):
        with pytest.raises(RecordRejectedError, match="attribute 'd': nesting deeper than 32"):
            record_item(rec({"d": too_deep}), SOURCE)


def test_item_over_400kb_is_rejected() -> None:
    big = rec({"blob": "x" * MAX_ITEM_BYTES})
    big.size_hint = MAX_ITEM_BYTES + 20
    with pytest.raises(RecordRejectedError, match="exceeds DynamoDB's 400 KB limit"):
        record_item(big, SOURCE)
    fits = rec({"blob": "x" * (MAX_ITEM_BYTES - 2000)})
    fits.size_hint = MAX_ITEM_BYTES
    item = record_item(fits, SOURCE)
    assert item_size(item) <= MAX_ITEM_BYTES


def test_item_size_counts_names_and_values() -> None:
    assert item_size({"ab": {"S": "xyz"}}) == 5
    assert item_size({"a": {"BOOL": True}, "b": {"NULL": True}}) == 4
    assert item_size({"é": {"S": "日本"}}) == 2 + 6
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) >= 1 + 3 + 1 + 1 + 1


@pytest.mark.parametrize(
    ("value", "excerpt"),
    [
        ({"PK": "a", "SK": Decimal("1.5")}, '{"PK":"a","SK":1.5}'),
        ({"n": Decimal("1E+200"), "i": 7, "b": True, "z": None}, '{"n":1E+200,"i":7,"b":true,"z":null}'),
        ({"s": "\ud800", "日本": "語"}, '{"s":"\\ud800","日本":"語"}'),
        ({"l": [1, [], {}]}, '{"l":[1,[],{}]}'),
    ],
)
def test_json_excerpt_keeps_numbers_as_numbers_and_is_valid_unicode(value: object, excerpt: str) -> None:
    assert json_excerpt(value) == excerpt
    json_excerpt(value).encode("utf-8")


def test_json_excerpt_renders_only_the_first_characters() -> None:
    assert json_excerpt({"msg": "a" * 10_000_000}) == '{"msg":"' + "a" * 192
    deep: Any = 1
    for _ in range(5000):
        deep = {"d": deep}
    assert json_excerpt(deep, 20) == '{"d":{"d":{"d":{"d":'
    assert json_excerpt({"a": "bc"}, 6) == '{"a":"'


def test_hand_conversion_is_kept_because_boto3s_refuses_numbers_dynamodb_stores() -> None:
    """Pins the reason items.py does not use TypeSerializer/TypeDeserializer (see its docstring):
    10**40 (one significant digit) is storable, boto3's conversion raises decimal.Rounded on it."""
    big = 10**40
    assert to_attribute_value(big) == {"N": str(big)}
    assert from_attribute_value({"N": str(big)}) == Decimal(big)
    with pytest.raises(decimal.Rounded):
        TypeSerializer().serialize(big)
    with pytest.raises(decimal.Rounded):
        TypeDeserializer().deserialize({"N": str(big)})
