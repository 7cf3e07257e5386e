"""Records -> DynamoDB items, in AttributeValue wire form for the low-level client.

Keys (the harness's copy is ``s3pipe.contract``, pinned by ``tests/unit/test_contract.py``):

* a record carrying non-empty string ``PK`` and ``SK`` is stored verbatim (exactly its attributes);
* any other record gets deterministic keys ``PK = "SRC#s3://{bucket}/{key}"``,
  ``SK = "REC#{ordinal:010d}"`` plus provenance ``src_bucket``, ``src_key``, ``src_line`` (N) and
  ``src_format`` -- re-delivering the same object writes the same keys.

Guards (a failing record becomes a rejection with the reason, data is never altered): PK/SK of
the wrong type or empty, a reserved provenance attribute in a record that needs generated keys,
numbers DynamoDB cannot store (> 38 significant digits, magnitude outside 1E-130 .. 9.99E+125,
NaN/Infinity), strings that are not valid Unicode, nesting deeper than 32 levels (the attribute
itself being level 1, as DynamoDB counts), items over 400 KB (estimated with DynamoDB's item-size
rules).

Why not boto3's ``TypeSerializer`` / ``TypeDeserializer`` (measured by
``tests/perf/type_conversion_bench.py``, 50k bench records, 2-core machine under load): both raise
``decimal.Rounded`` on ``10**40``, a number DynamoDB stores (one significant digit), so a good
record would be lost; and they are slower -- serialize 82-84k records/s here vs 55-63k,
deserialize 212-226k vs 159-176k (an earlier session measured 221k vs 70k). The hand-written code
also names the attribute and the limit in every rejection. ``test_handler_items.py`` pins the
``10**40`` difference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from .formats import Record

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]

MAX_ITEM_BYTES: Final = 400 * 1024
MAX_DEPTH: Final = 32
MAX_PARTITION_KEY_BYTES: Final = 2048
MAX_SORT_KEY_BYTES: Final = 1024
MAX_SIGNIFICANT_DIGITS: Final = 38
MIN_ADJUSTED_EXPONENT: Final = -130
MAX_ADJUSTED_EXPONENT: Final = 125
PROVENANCE_ATTRIBUTES: Final = frozenset({"src_bucket", "src_key", "src_line", "src_format"})
KEY_ATTRIBUTES: Final = ("PK", "SK")

#: Records whose source text is shorter than this cannot exceed 400 KB as an item (an item's
#: DynamoDB size is at most ~1.5x the JSON text that produced it, plus keys and provenance).
_SIZE_FAST_PATH_CHARS: Final = (MAX_ITEM_BYTES - 8192) // 2
_INT_FAST_LIMIT: Final = 10**MAX_SIGNIFICANT_DIGITS


def source_pk(bucket: str, key: str) -> str:
    """Partition key of the items generated from the records of ``s3://bucket/key``."""
    return f"SRC#s3://{bucket}/{key}"


def rejection_pk(bucket: str, key: str) -> str:
    """Partition key of the object's rejection reports."""
    return f"REJECT#s3://{bucket}/{key}"


def record_sort_key(ordinal: int) -> str:
    """Sort key of the generated item for the ``ordinal``-th entry of the object (1-based)."""
    return f"REC#{ordinal:010d}"


class RecordRejectedError(Exception):
    """The record cannot become an item; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SourceObject:
    """The S3 object records come from; computes the key prefixes once."""

    bucket: str
    key: str
    record_pk: str = field(init=False)
    rejection_pk: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "record_pk", source_pk(self.bucket, self.key))
        object.__setattr__(self, "rejection_pk", rejection_pk(self.bucket, self.key))


# ------------------------------------------------------------------------------------------ numbers


def check_number(value: Decimal) -> str:
    """The wire form of a number, or RecordRejectedError when DynamoDB cannot store it exactly."""
    if not value.is_finite():
        raise RecordRejectedError(f"non-finite number {value} is not allowed (DynamoDB cannot store it)")
    text = str(value)
    if value.is_zero():
        return text
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    # DynamoDB trims leading and trailing zeros: count significant digits only.
    start = 0
    while digits[start] == 0:
        start += 1
    stop = len(digits)
    while digits[stop - 1] == 0:
        stop -= 1
    significant = stop - start
    if significant > MAX_SIGNIFICANT_DIGITS:
        raise RecordRejectedError(
            f"number {_short(text)} has {significant} significant digits; DynamoDB stores at most 38"
        )
    adjusted = exponent + len(digits) - 1 - start
    if not MIN_ADJUSTED_EXPONENT <= adjusted <= MAX_ADJUSTED_EXPONENT:
        raise RecordRejectedError(f"number {_short(text)} is outside DynamoDB's range (magnitude 1E-130 to 9.99E+125)")
    return text


def _short(text: str) -> str:
    return text if len(text) <= 60 else f"{text[:28]}...{text[-28:]}"


def _int_wire(value: int) -> str:
    if -_INT_FAST_LIMIT < value < _INT_FAST_LIMIT:
        return str(value)
    return check_number(Decimal(value))


# ------------------------------------------------------------------------------------- serializer


def _check_text(text: str, what: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise RecordRejectedError(f"{what} contains a lone surrogate (not valid Unicode)") from None


_DEPTH_REASON: Final = f"nesting deeper than {MAX_DEPTH} levels (DynamoDB's limit)"


def to_attribute_value(value: object, depth: int = 0) -> AttributeValue:  # hot dispatch
    """Serialize a JSON-compatible value (numbers as int/Decimal) to an AttributeValue.

    ``depth`` is 0 for an attribute's value. DynamoDB counts the attribute itself as level 1 and
    refuses anything (a scalar too) below level 32: an attribute may wrap a scalar in at most 31
    maps/lists, so a non-empty container at depth 31 is refused here, before its values (which
    ``_serialize_map`` may take on a fast path without a depth check).
    """
    if type(value) is str:
        if not value.isascii():
            _check_text(value, "string")
        return {"S": value}
    if type(value) is int:
        return {"N": _int_wire(value)}
    if type(value) is Decimal:
        return {"N": check_number(value)}
    if type(value) is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if type(value) is dict:
        if value and depth >= MAX_DEPTH - 1:  # its values would be at level depth + 2
            raise RecordRejectedError(_DEPTH_REASON)
        return {"M": _serialize_map(value, depth + 1)}
    if type(value) is list:
        if value and depth >= MAX_DEPTH - 1:
            raise RecordRejectedError(_DEPTH_REASON)
        return {"L": [to_attribute_value(item, depth + 1) for item in value]}
    if type(value) is float:
        return {"N": check_number(Decimal(repr(value)))}
    raise RecordRejectedError(f"value of type {type(value).__name__} cannot be stored")


def _serialize_map(data: dict[Any, Any], depth: int) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    for name, value in data.items():
        if type(name) is not str:
            raise RecordRejectedError(f"map key {name!r} is not a string")
        if not name.isascii():
            _check_text(name, "attribute name")
        # Fast paths for the common flat values; everything else goes through the dispatch.
        if type(value) is str and value.isascii():
            out[name] = {"S": value}
        elif type(value) is int and -_INT_FAST_LIMIT < value < _INT_FAST_LIMIT:
            out[name] = {"N": str(value)}
        else:
            out[name] = to_attribute_value(value, depth)
    return out


def from_attribute_value(av: AttributeValue) -> object:
    """Inverse of :func:`to_attribute_value` (numbers come back as Decimal)."""
    ((tag, value),) = av.items()
    if tag == "S":
        return value
    if tag == "N":
        return Decimal(value)
    if tag == "BOOL":
        return bool(value)
    if tag == "NULL":
        return None
    if tag == "M":
        return {k: from_attribute_value(v) for k, v in value.items()}
    if tag == "L":
        return [from_attribute_value(v) for v in value]
    raise ValueError(f"unsupported AttributeValue type {tag}")


def item_to_plain(item: Item) -> dict[str, object]:
    return {name: from_attribute_value(av) for name, av in item.items()}


def _serialize_attributes(data: dict[str, object]) -> Item:
    try:
        return _serialize_map(data, 0)
    except RecordRejectedError as exc:
        for name, value in data.items():  # find the attribute, to name it in the reason
            try:
                _serialize_map({name: value}, 0)
            except RecordRejectedError:
                raise RecordRejectedError(f"attribute {name!r}: {exc.reason}") from None
        raise


# ------------------------------------------------------------------------------------------- sizing


def _av_size(av: AttributeValue) -> int:
    ((tag, value),) = av.items()
    if tag == "S":
        return len(value.encode("utf-8"))
    if tag == "N":
        return len(value) // 2 + 2
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "M":
        return 3 + sum(len(k.encode("utf-8")) + _av_size(v) + 1 for k, v in value.items())
    if tag == "L":
        return 3 + sum(_av_size(v) + 1 for v in value)
    return len(json.dumps(value))


def item_size(item: Item) -> int:
    """Estimated DynamoDB item size in bytes (attribute names + values; rounded up, never under)."""
    return sum(len(name.encode("utf-8")) + _av_size(av) for name, av in item.items())


def _check_size(item: Item, size_hint: int) -> None:
    if size_hint < _SIZE_FAST_PATH_CHARS:
        return
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise RecordRejectedError(f"item size {size} bytes exceeds DynamoDB's 400 KB limit")


# -------------------------------------------------------------------------------------------- items


def _json_kind(value: object) -> str:
    """The JSON name of a decoded value's type, with its article (for reasons)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _key_problem(data: dict[str, object]) -> str | None:
    for name in KEY_ATTRIBUTES:
        if name not in data:
            return f"record has {' and '.join(n for n in KEY_ATTRIBUTES if n in data)} but no {name}"
        value = data[name]
        if not isinstance(value, str):
            return f"{name} must be a non-empty string, found {_json_kind(value)}"
        if not value:
            return f"{name} must be a non-empty string, found an empty string"
    return None


def record_item(record: Record, source: SourceObject) -> Item:
    """The item for ``record`` (raises RecordRejectedError with the reason)."""
    data = record.data
    if "PK" in data or "SK" in data:
        problem = _key_problem(data)
        if problem is not None:
            raise RecordRejectedError(problem)
        item = _serialize_attributes(data)
        if len(item["PK"]["S"].encode("utf-8")) > MAX_PARTITION_KEY_BYTES:
            raise RecordRejectedError(f"PK is longer than {MAX_PARTITION_KEY_BYTES} bytes")
        if len(item["SK"]["S"].encode("utf-8")) > MAX_SORT_KEY_BYTES:
            raise RecordRejectedError(f"SK is longer than {MAX_SORT_KEY_BYTES} bytes")
        _check_size(item, record.size_hint)
        return item
    if "" in data:
        raise RecordRejectedError("record has an empty attribute name")
    reserved = PROVENANCE_ATTRIBUTES.intersection(data)
    if reserved:
        raise RecordRejectedError(
            f"record has reserved attribute(s) {', '.join(sorted(reserved))} (used for provenance)"
        )
    item = _serialize_attributes(data)
    item["PK"] = {"S": source.record_pk}
    item["SK"] = {"S": record_sort_key(record.ordinal)}
    item["src_bucket"] = {"S": source.bucket}
    item["src_key"] = {"S": source.key}
    item["src_line"] = {"N": str(record.line)}
    item["src_format"] = {"S": record.fmt}
    _check_size(item, record.size_hint + len(source.record_pk) * 3)
    return item


def rejection_sort_key(line: int, ordinal: int | None = None) -> str:
    """``LINE#{line:010d}``; with ``#{ordinal:010d}`` appended for JSON array elements."""
    if ordinal is None:
        return f"LINE#{line:010d}"
    return f"LINE#{line:010d}#{ordinal:010d}"


def rejection_item(source: SourceObject, line: int, reason: str, excerpt: str, ordinal: int | None = None) -> Item:
    """A rejection report item, in the same table as the records."""
    return {
        "PK": {"S": source.rejection_pk},
        "SK": {"S": rejection_sort_key(line, ordinal)},
        "reason": {"S": _valid_text(reason[:1000])},
        "excerpt": {"S": _valid_text(excerpt[:200])},
        "src_bucket": {"S": source.bucket},
        "src_key": {"S": source.key},
        "src_line": {"N": str(line)},
    }


def _valid_text(text: str) -> str:
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def item_key(item: Item) -> tuple[str, str]:
    return item["PK"]["S"], item["SK"]["S"]


def item_excerpt(item: Item, limit: int = 200) -> str:
    """A short human-readable rendering of an item (for rejection excerpts)."""
    try:
        return json_excerpt(item_to_plain(item), limit)
    except (ValueError, TypeError):
        return repr(item)[:limit]


def json_excerpt(value: object, limit: int = 200) -> str:
    """The first ``limit`` characters of ``value`` as compact JSON, numbers as they were written.

    Only as much as the excerpt needs is rendered (a 10 MB record costs no more than a small
    one). Decimal numbers stay numbers (``1.5``, not ``"1.5"``), non-ASCII text stays readable,
    and a lone surrogate is written as its JSON escape so the excerpt is valid Unicode.
    """
    parts: list[str] = []
    budget = [limit]

    def emit(text: str) -> bool:
        parts.append(text[: budget[0]])
        budget[0] -= len(text)
        return budget[0] > 0

    def string(text: str) -> str:
        text = text[: budget[0]]  # escaping only lengthens it: the closing quote is cut off too
        rendered = json.dumps(text, ensure_ascii=False)
        if not rendered.isascii():
            try:
                rendered.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: escape it
                rendered = json.dumps(text)
        return rendered

    def walk(node: object) -> bool:  # False once the excerpt is full
        if isinstance(node, dict):
            if not emit("{"):
                return False
            for index, (name, child) in enumerate(node.items()):
                if (index and not emit(",")) or not emit(string(str(name)) + ":") or not walk(child):
                    return False
            return emit("}")
        if isinstance(node, list):
            if not emit("["):
                return False
            for index, child in enumerate(node):
                if (index and not emit(",")) or not walk(child):
                    return False
            return emit("]")
        if isinstance(node, str):
            return emit(string(node))
        if node is None or isinstance(node, bool):
            return emit(json.dumps(node))
        if isinstance(node, int | Decimal):
            return emit(str(node))
        return emit(string(str(node)))

    walk(value)
    return "".join(parts)
