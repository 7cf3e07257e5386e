"""Any outside key acts as the emulator's root; keys the emulator knows pass unchanged (caller_keys.py).

Requests are signed by botocore's own signers (SigV4 header, SigV4 presigned URL, SigV2) with the
seed article's ``DUMMY``/``DUMMY`` profile values, then handed to the ASGI middleware as the ASGI
server would build the scope; what the wrapped app receives is what MiniStack would see.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from s3pipe.backends import caller_keys
from s3pipe.backends.base import Capability
from s3pipe.backends.caller_keys import RootForUnknownKeys, access_key_of, signed_as
from s3pipe.backends.embedded import CALLER_KEYS, EmbeddedBackend
from s3pipe.backends.external import ExternalBackend, Flavour

ROOT = "test"
DUMMY = Credentials("DUMMY", "DUMMY")
#: A key MiniStack issued (IAM CreateAccessKey, or a function's execution-role session).
ISSUED = Credentials("ASIA0123456789ABCDEF", "secret", "session-token")


def signed(
    credentials: Credentials, *, service: str = "s3", url: str = "http://127.0.0.1:4566/bucket/a%20b.json"
) -> AWSRequest:
    request = AWSRequest(method="GET", url=url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    botocore.auth.SigV4Auth(credentials, service, "ap-northeast-1").add_auth(request)
    return request


def presigned(credentials: Credentials) -> str:
    request = AWSRequest(method="GET", url="http://127.0.0.1:4566/bucket/server-log.json?versionId=v1")
    botocore.auth.S3SigV4QueryAuth(credentials, "s3", "ap-northeast-1", expires=60).add_auth(request)
    return str(request.url)


def scope_of(request: AWSRequest | str) -> dict[str, Any]:
    """The ASGI scope an ASGI server builds for ``request`` (a signed request, or a presigned URL)."""
    url = request if isinstance(request, str) else str(request.url)
    headers = [] if isinstance(request, str) else [(n.lower().encode(), v.encode()) for n, v in request.headers.items()]
    parts = urlsplit(url)
    return {"type": "http", "path": parts.path, "query_string": parts.query.encode(), "headers": headers}


class Recorder:
    """The wrapped app: remembers the scope it was given."""

    def __init__(self) -> None:
        self.scopes: list[MutableMapping[str, Any]] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)


def through(scope: dict[str, Any], known: frozenset[str] = frozenset()) -> tuple[MutableMapping[str, Any], list[str]]:
    """Pass ``scope`` through the middleware; what the app saw and which keys were looked up."""
    app, asked = Recorder(), []

    def is_unknown(key: str) -> bool:
        asked.append(key)
        return key not in known

    asyncio.run(RootForUnknownKeys(app, is_unknown, root_key=ROOT)(scope, _no_receive, _no_send))
    return app.scopes[0], asked


async def _no_receive() -> MutableMapping[str, Any]:
    raise AssertionError("the middleware never reads the body")


async def _no_send(message: MutableMapping[str, Any]) -> None:
    raise AssertionError("the middleware never answers itself")


def header(scope: MutableMapping[str, Any], name: bytes) -> bytes | None:
    return next((value for n, value in scope["headers"] if n == name), None)


# ---------------------------------------------------------------------------- which key a request claims


def test_the_key_of_a_sigv4_header() -> None:
    assert access_key_of(scope_of(signed(DUMMY))) == "DUMMY"


def test_the_key_of_a_presigned_url() -> None:
    assert access_key_of(scope_of(presigned(DUMMY))) == "DUMMY"


def test_the_key_of_a_sigv2_header_and_query() -> None:
    assert access_key_of({"headers": [(b"authorization", b"AWS DUMMY:c2lnbmF0dXJl")]}) == "DUMMY"
    assert access_key_of({"headers": [], "query_string": b"AWSAccessKeyId=DUMMY&Expires=1&Signature=x"}) == "DUMMY"


def test_an_anonymous_request_claims_no_key() -> None:
    assert access_key_of({"headers": [(b"host", b"127.0.0.1")], "query_string": b"list-type=2"}) == ""


# ---------------------------------------------------------------------------- the rewrite


def test_an_unknown_key_reaches_the_emulator_as_its_root() -> None:
    request = signed(DUMMY)
    seen, asked = through(scope_of(request))
    authorization = header(seen, b"authorization")
    assert authorization is not None
    assert authorization.startswith(b"AWS4-HMAC-SHA256 Credential=test/")
    original = request.headers["Authorization"].encode()
    assert authorization.split(b"/", 1)[1] == original.split(b"/", 1)[1]  # date, region, service, signature kept
    assert asked == ["DUMMY"]


def test_a_key_the_emulator_issued_keeps_its_identity() -> None:
    scope = scope_of(signed(ISSUED, service="dynamodb", url="http://127.0.0.1:4566/"))
    seen, asked = through(scope, known=frozenset({ISSUED.access_key}))
    assert seen["headers"] == scope["headers"]  # unchanged, session token included
    assert header(seen, b"x-amz-security-token") == b"session-token"
    assert asked == [ISSUED.access_key]


def test_the_root_key_is_never_looked_up() -> None:
    scope = scope_of(signed(Credentials(ROOT, ROOT)))
    seen, asked = through(scope)
    assert seen is scope
    assert asked == []


def test_a_session_token_of_an_unknown_key_is_dropped() -> None:
    """MiniStack refuses its root key with a token it did not issue (InvalidToken): a real SSO profile's token goes."""
    seen, _ = through(scope_of(signed(Credentials("AKIAIOSFODNN7EXAMPLE", "s", "sso-token"))))
    assert header(seen, b"x-amz-security-token") is None
    assert access_key_of(seen) == ROOT


def test_a_presigned_url_of_an_unknown_key() -> None:
    url = presigned(Credentials("DUMMY", "DUMMY", "tok"))
    seen, _ = through(scope_of(url))
    query = dict(parse_qsl(seen["query_string"].decode()))
    original = dict(parse_qsl(urlsplit(url).query))
    assert query["X-Amz-Credential"] == "test/" + original["X-Amz-Credential"].split("/", 1)[1]
    assert "X-Amz-Security-Token" not in query
    assert query["versionId"] == "v1"
    assert query["X-Amz-Signature"] == original["X-Amz-Signature"]


def test_a_sigv2_request_of_an_unknown_key() -> None:
    seen, _ = through({"type": "http", "headers": [(b"authorization", b"AWS DUMMY:c2ln")], "query_string": b""})
    assert header(seen, b"authorization") == b"AWS test:c2ln"


def test_an_unsigned_query_is_left_byte_for_byte() -> None:
    query = b"prefix=t%2Fa+b%2B&list-type=2"
    scope = scope_of(signed(DUMMY)) | {"query_string": query}
    seen, _ = through(scope)
    assert seen["query_string"] == query


def test_lifespan_and_anonymous_scopes_pass_untouched() -> None:
    for scope in ({"type": "lifespan"}, {"type": "http", "headers": [], "query_string": b""}):
        seen, asked = through(dict(scope))
        assert seen == scope
        assert asked == []


def test_signed_as_leaves_the_original_scope_alone() -> None:
    scope = scope_of(signed(Credentials("DUMMY", "DUMMY", "tok")))
    before = list(scope["headers"])
    signed_as(scope, ROOT)
    assert scope["headers"] == before


# ---------------------------------------------------------------------------- wiring


def test_the_embedded_emulator_starts_through_caller_keys() -> None:
    assert Path(caller_keys.__file__).resolve() == CALLER_KEYS.resolve()
    source = CALLER_KEYS.read_text(encoding="utf-8")
    assert "from s3pipe" not in source  # it runs in MiniStack's venv: stdlib only
    assert "import s3pipe" not in source
    assert Capability.ANY_CALLER_CREDENTIALS in EmbeddedBackend.capabilities


def test_a_plain_ministack_with_auth_does_not_accept_any_key() -> None:
    external = ExternalBackend(url="http://127.0.0.1:4566", region="ap-northeast-1")
    external.flavour = Flavour("ministack", "light", "1.5.33", iam_enforced=True)
    assert Capability.ANY_CALLER_CREDENTIALS not in external.effective_capabilities
    external.flavour = Flavour("ministack", "light", "1.5.33", iam_enforced=False)
    assert Capability.ANY_CALLER_CREDENTIALS in external.effective_capabilities


@pytest.mark.skipif(sys.platform == "win32", reason="the launcher is run by path on POSIX")
def test_the_launcher_refuses_to_run_without_ministack(tmp_path: Path) -> None:
    """Outside MiniStack's venv the launcher fails at once (ImportError), it never serves without the rule."""
    import subprocess

    result = subprocess.run(
        [sys.executable, str(CALLER_KEYS)], capture_output=True, text=True, cwd=tmp_path, check=False, timeout=60
    )
    assert result.returncode != 0
    assert "ministack" in result.stderr
