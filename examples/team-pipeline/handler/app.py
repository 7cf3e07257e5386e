"""The team's worker: each CSV order file announced on the inbox becomes one DynamoDB item per row.

A file is ``order_id,sku,quantity,unit_price`` with that header; each row is written with ``PutItem``
under ``order_id`` (partition key) and ``sku`` (sort key), so a redelivered file rewrites the same
items. A message whose file cannot be read or has a malformed row raises inside its own processing
and is reported in ``batchItemFailures``: SQS retries it, then moves it to the dead-letter queue.
Standard library and boto3 only.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote_plus

import boto3
from botocore.config import Config

logger = logging.getLogger()
logger.setLevel(logging.INFO)

COLUMNS = ("order_id", "sku", "quantity", "unit_price")
# Few, short retries: a throttled write fails the message well within the function's timeout,
# and SQS retries it after the visibility timeout.
# (botocore: `total_max_attempts` counts the first attempt; `max_attempts` would count retries only)
_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3})

TABLE_NAME = os.environ["TABLE_NAME"]
s3 = boto3.client("s3", config=_CONFIG)
dynamodb = boto3.client("dynamodb", config=_CONFIG)


class MalformedRow(ValueError):
    """A row of an order file that cannot become an item."""


def handler(event: dict[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    """SQS batch in, the failed message ids out (the mapping reports batch item failures)."""
    failures: list[dict[str, str]] = []
    for message in event.get("Records", []):
        message_id = str(message.get("messageId", ""))
        try:
            written = process_message(str(message.get("body", "")))
        except Exception:
            logger.exception("message %s failed; SQS will retry it", message_id)
            failures.append({"itemIdentifier": message_id})
        else:
            logger.info("message %s: %d order line(s) written", message_id, written)
    return {"batchItemFailures": failures}


def process_message(body: str) -> int:
    """Every order file an S3 event notification names; how many rows were written."""
    notification = json.loads(body)
    written = 0
    for record in notification.get("Records", []):  # s3:TestEvent has none
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        written += import_file(bucket, key)
    return written


def import_file(bucket: str, key: str) -> int:
    content = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8-sig")
    source = f"s3://{bucket}/{key}"
    written = 0
    for line, row in enumerate(csv.DictReader(io.StringIO(content)), start=2):
        dynamodb.put_item(TableName=TABLE_NAME, Item=to_item(row, source, line))
        written += 1
    return written


def to_item(row: dict[str, Any], source: str, line: int) -> dict[str, Any]:
    """One CSV row as a DynamoDB item; :class:`MalformedRow` names the line and the problem."""
    values = {column: (row.get(column) or "").strip() for column in COLUMNS}
    if missing := [column for column in COLUMNS if not values[column]]:
        raise MalformedRow(f"{source} line {line}: no value for {', '.join(missing)}")
    if None in row:
        raise MalformedRow(f"{source} line {line}: more values than the header's {len(COLUMNS)} columns")
    if not values["quantity"].isdigit() or int(values["quantity"]) == 0:
        raise MalformedRow(f"{source} line {line}: quantity {values['quantity']!r} is not a positive integer")
    try:
        price = Decimal(values["unit_price"])
    except InvalidOperation:
        price = Decimal("NaN")
    if not price.is_finite() or price < 0:
        raise MalformedRow(f"{source} line {line}: unit_price {values['unit_price']!r} is not a price")
    return {
        "order_id": {"S": values["order_id"]},
        "sku": {"S": values["sku"]},
        "quantity": {"N": str(int(values["quantity"]))},
        "unit_price": {"N": str(price)},
        "source": {"S": source},
        "source_line": {"N": str(line)},
    }
