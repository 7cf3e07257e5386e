"""JSON values with the package's number rules: floats become Decimal, NaN/Infinity are refused."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Final


class NonFiniteNumberError(ValueError):
    """Raised by the JSON decoder for NaN, Infinity and -Infinity."""

    def __init__(self, token: str) -> None:
        super().__init__(f"non-finite number {token} is not allowed (DynamoDB cannot store it)")
        self.token = token


def _reject_constant(token: str) -> object:
    raise NonFiniteNumberError(token)


def _permissive_constant(token: str) -> object:
    return None


#: One decoder, reused: floats become Decimal, NaN/Infinity raise.
JSON_DECODER: Final = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)
SKIP_DECODER: Final = json.JSONDecoder(parse_float=Decimal, parse_constant=_permissive_constant)


def decode_json_text(text: str) -> object:
    """Decode one JSON document with the package's number rules (used by tests and tools)."""
    return JSON_DECODER.decode(text)


def json_kind(value: object) -> str:
    """The JSON type name of a decoded value (numbers as decoded here, Decimal, or by ``json.loads``, float)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
