"""The seed article's handler: each S3 object is one JSON item for DynamoDB.

Unlike the article it lets a failure raise, so SQS retries the message and, after
maxReceiveCount receives, moves it to the DLQ instead of dropping it.
"""

import json
import logging
import os
from typing import Any
from urllib.parse import unquote_plus

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)

dynamo_table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
s3_client = boto3.client("s3")


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, int]:
    written = 0
    for record in event.get("Records", []):
        s3_event = json.loads(record.get("body", "{}"))
        for s3_record in s3_event.get("Records", []):
            bucket = s3_record["s3"]["bucket"]["name"]
            key = unquote_plus(s3_record["s3"]["object"]["key"])
            logger.info("Processing s3://%s/%s", bucket, key)
            body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
            item = json.loads(body.decode("utf-8"))  # not JSON: raises, SQS retries, then the DLQ
            dynamo_table.put_item(Item=item)
            written += 1
    logger.info("Finished processing. Successful writes: %d", written)
    return {"written": written}
