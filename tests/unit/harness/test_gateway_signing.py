"""Re-signing a request whose body the gateway rewrote: the result is what botocore itself would sign."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from s3pipe.gateway.signing import Resigner

REGION = "ap-northeast-1"
NOW = datetime.datetime(2026, 12, 2, 1, 2, 3)
URL = "http://127.0.0.1:4566/"


def signed(body: bytes, credentials: Credentials, monkeypatch: pytest.MonkeyPatch, **headers: str) -> AWSRequest:
    """A DynamoDB request signed by botocore at a fixed time."""
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: NOW)
    request = AWSRequest(
        method="POST",
        url=URL,
        data=body,
        headers={
            "X-Amz-Target": "DynamoDB_20120810.BatchWriteItem",
            "Content-Type": "application/x-amz-json-1.0",
            **headers,
        },
    )
    SigV4Auth(credentials, "dynamodb", REGION).add_auth(request)
    request.headers["Content-Length"] = str(len(body))
    request.headers["Host"] = "127.0.0.1:4566"
    return request


def header_list(request: AWSRequest) -> list[tuple[str, str]]:
    return [(name, value.decode() if isinstance(value, bytes) else value) for name, value in request.headers.items()]


def body_of(count: int) -> bytes:
    items = [{"PutRequest": {"Item": {"PK": {"S": str(i)}}}} for i in range(count)]
    return json.dumps({"RequestItems": {"t": items}}).encode()


def test_a_trimmed_body_is_signed_as_botocore_signs_it_with_the_root_key(monkeypatch: pytest.MonkeyPatch) -> None:
    role = Credentials("ASIAROLEKEY", "role-secret", "role-session-token")
    original = signed(body_of(10), role, monkeypatch)
    assert "x-amz-security-token" in original.headers["Authorization"].lower()

    trimmed = body_of(6)
    headers = Resigner("test", "test").resign("POST", "/", header_list(original), trimmed)

    expected = signed(trimmed, Credentials("test", "test"), monkeypatch)
    got = dict(headers)
    assert got["Authorization"] == expected.headers["Authorization"]
    assert got["Content-Length"] == str(len(trimmed))
    assert "X-Amz-Security-Token" not in got  # the role's session token does not belong to the root key


def test_the_payload_hash_header_follows_the_new_body(monkeypatch: pytest.MonkeyPatch) -> None:
    original = signed(body_of(4), Credentials("k", "s"), monkeypatch, **{"X-Amz-Content-SHA256": "0" * 64})
    trimmed = body_of(2)
    got = dict(Resigner("test", "test").resign("POST", "/", header_list(original), trimmed))
    expected = signed(
        trimmed, Credentials("test", "test"), monkeypatch, **{"X-Amz-Content-SHA256": got["X-Amz-Content-SHA256"]}
    )
    assert got["X-Amz-Content-SHA256"] != "0" * 64
    assert got["Authorization"] == expected.headers["Authorization"]


def test_an_unsigned_request_only_gets_its_length_corrected() -> None:
    headers: list[tuple[str, Any]] = [("Content-Type", "application/json"), ("Content-Length", "999")]
    assert Resigner("test", "test").resign("POST", "/", headers, b"{}") == [
        ("Content-Type", "application/json"),
        ("Content-Length", "2"),
    ]


def test_the_root_key_is_the_emulators_own() -> None:
    assert Resigner.from_environment({"AWS_ACCESS_KEY_ID": "root", "AWS_SECRET_ACCESS_KEY": "s"}) == Resigner(
        "root", "s"
    )
    assert Resigner.from_environment({}) == Resigner("test", "test")
