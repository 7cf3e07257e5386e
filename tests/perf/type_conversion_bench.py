"""Hand-written AttributeValue conversion (log_ingest.items) against boto3's TypeSerializer /
TypeDeserializer, on the bench's JSON Lines records (issue 11 asked to use boto3's instead).

    python tests/perf/type_conversion_bench.py [RECORDS]

Prints records/s for each direction and what each does with 10**40 (a number DynamoDB stores:
one significant digit). The figures are quoted in ``log_ingest/items.py``.
"""

from __future__ import annotations

import decimal
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "lambda"), str(ROOT / "tests")]

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer  # noqa: E402

from log_ingest.formats import JSON_DECODER  # noqa: E402
from log_ingest.items import from_attribute_value, to_attribute_value  # noqa: E402
from perf.log_ingest_bench import jsonl_lines  # noqa: E402


def _rate(count: int, run: Callable[[], object], repeats: int = 5) -> float:
    values = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        values.append(count / (time.perf_counter() - started))
    return max(values)


def _try(call: Callable[[], object]) -> str:
    try:
        call()
    except decimal.DecimalException as exc:
        return f"raises decimal.{type(exc).__name__}"
    return "ok"


def measure(count: int) -> dict[str, Any]:
    records = [JSON_DECODER.decode(line.decode()) for line in jsonl_lines(count)]
    serializer, deserializer = TypeSerializer(), TypeDeserializer()
    wire = [{k: to_attribute_value(v) for k, v in r.items()} for r in records]
    big = {"N": str(10**40)}
    return {
        "records": count,
        "serialize_hand_per_s": round(_rate(count, lambda: [to_attribute_value(r) for r in records])),
        "serialize_typeserializer_per_s": round(_rate(count, lambda: [serializer.serialize(r) for r in records])),
        "deserialize_hand_per_s": round(
            _rate(count, lambda: [{k: from_attribute_value(v) for k, v in w.items()} for w in wire])
        ),
        "deserialize_typedeserializer_per_s": round(
            _rate(count, lambda: [{k: deserializer.deserialize(v) for k, v in w.items()} for w in wire])
        ),
        "hand_10e40": _try(lambda: (to_attribute_value(10**40), from_attribute_value(big))),
        "typeserializer_10e40": _try(lambda: serializer.serialize(10**40)),
        "typedeserializer_10e40": _try(lambda: deserializer.deserialize(big)),
    }


if __name__ == "__main__":
    result = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
    print(json.dumps(result))
