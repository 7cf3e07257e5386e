"""Requests built by botocore itself, captured before sending: what the gateway's tests classify and send."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

import botocore.endpoint
import botocore.session
import pytest
from botocore.config import Config

from s3pipe.gateway.classify import (
    Classified,
    classify_request,
)

REGION = "ap-northeast-1"
ACCOUNT = "000000000000"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/logs-table"
QUEUE_URL = f"http://127.0.0.1:4566/{ACCOUNT}/ingest-queue"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:ingest-queue"


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()  # one session: loading the service models once is what takes time


def botocore_client(service: str, endpoint: str | None = "http://127.0.0.1:4566", **config: Any) -> Any:
    config.setdefault("retries", {"total_max_attempts": 1})
    return _session().create_client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=ACCOUNT,
        aws_secret_access_key="test",
        config=Config(**config),
    )


def prepared(service: str, operation: str, *, endpoint: str | None = "http://127.0.0.1:4566", **params: Any) -> Any:
    """The request botocore would send (captured before sending)."""
    config = params.pop("config", {})
    client = botocore_client(service, endpoint, **config)

    def capture(request: Any, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send", capture)
    with pytest.raises(_Captured) as captured:
        getattr(client, operation)(**params)
    return captured.value.request


def classify(service: str, operation: str, **params: Any) -> Classified:
    request = prepared(service, operation, **params)
    split = urlsplit(request.url)
    target = split.path + (f"?{split.query}" if split.query else "")
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    headers["host"] = split.netloc  # added on the wire, signed by SigV4
    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    body = body.encode() if isinstance(body, str) else (body or b"")
    return classify_request(request.method, target, headers, body)


def permissions(call: Classified) -> list[tuple[str, str]]:
    return [(p.action, p.resource) for p in call.permissions]
