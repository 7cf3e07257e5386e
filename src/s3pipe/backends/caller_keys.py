"""Any credentials from outside, as on LocalStack; keys the emulator issued keep their identity (stdlib only).

Run as ``python caller_keys.py`` with MiniStack's interpreter (the supervisor does): it starts MiniStack
(``ministack.app.main``) with its ASGI app wrapped in :class:`RootForUnknownKeys`, in the same process
and on the same port, so nothing else changes (no extra hop, no second port, snapshots untouched).

Why: with ``AUTH=true`` (IAM enforced, so a missing permission in the function's role fails here as on
AWS) MiniStack accepts as its root caller only ``test``, a 12-digit account id, or the one key named in
its own ``AWS_ACCESS_KEY_ID``; any other key is ``InvalidAccessKeyId`` / ``UnrecognizedClientException``.
The seed article's reader has ``DUMMY``/``DUMMY`` configured, and LocalStack accepts any key. MiniStack
has no setting for "any key", so this is the smallest piece in front of it:

* a request whose access key MiniStack does not know (its own resolver answers
  ``UnrecognizedClientException``) is passed on as signed by MiniStack's root key: the key id in the
  ``Authorization`` header (SigV4 or SigV2) or the presigned query is replaced, and a session token is
  dropped (MiniStack checks neither the signature nor a token of its root key);
* every key MiniStack knows passes unchanged and keeps its identity and policies: its root keys, keys
  created through IAM in it, STS sessions, and the deployed function's execution-role credentials
  (an inactive, deleted-and-reused or expired key is refused by MiniStack as AWS would refuse it).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: ``AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, ...`` (SigV4 header).
_SIGV4_HEADER = re.compile(rb"^(?P<head>\s*AWS4-[A-Z0-9-]+\s+Credential=)(?P<key>[^/,\s]*)(?P<tail>/.*)$", re.DOTALL)
#: ``AWS <key>:<signature>`` (SigV2 header, still accepted by S3).
_SIGV2_HEADER = re.compile(rb"^(?P<head>\s*AWS\s+)(?P<key>[^:\s]+)(?P<tail>:.*)$", re.DOTALL)
_TOKEN_HEADER = b"x-amz-security-token"
_TOKEN_PARAMETERS = frozenset({"X-Amz-Security-Token", "x-amz-security-token"})


def access_key_of(scope: Scope) -> str:
    """The access key id a request claims (SigV4/SigV2 header, else presigned query); ``""`` if none."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            for pattern in (_SIGV4_HEADER, _SIGV2_HEADER):
                if match := pattern.match(value):
                    key: bytes = match.group("key")
                    return key.decode("latin-1")
            return ""
    query: bytes = scope.get("query_string", b"")
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name == "X-Amz-Credential":
            return value.split("/", 1)[0]
        if name == "AWSAccessKeyId":
            return value
    return ""


def signed_as(scope: Scope, root_key: str) -> Scope:
    """A copy of ``scope`` claiming ``root_key`` instead of its own key, without a session token."""
    encoded = root_key.encode("latin-1")
    headers = []
    for name, value in scope.get("headers", ()):
        lowered = name.lower()
        if lowered == _TOKEN_HEADER:
            continue
        headers.append((name, _header_signed_as(value, encoded) if lowered == b"authorization" else value))
    changed = dict(scope)
    changed["headers"] = headers
    query = scope.get("query_string", b"")
    if query:
        changed["query_string"] = _query_signed_as(query, root_key)
    return changed


def _header_signed_as(authorization: bytes, root_key: bytes) -> bytes:
    for pattern in (_SIGV4_HEADER, _SIGV2_HEADER):
        if match := pattern.match(authorization):
            return bytes(match.group("head") + root_key + match.group("tail"))
    return authorization


def _query_signed_as(query: bytes, root_key: str) -> bytes:
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    if not any(name in ("X-Amz-Credential", "AWSAccessKeyId") for name, _ in pairs):
        return query  # not presigned: leave the query byte for byte (S3 keys, list markers...)
    rewritten = [
        (name, _parameter_signed_as(name, value, root_key)) for name, value in pairs if name not in _TOKEN_PARAMETERS
    ]
    return urlencode(rewritten, quote_via=quote, safe="-_.~").encode("latin-1")


def _parameter_signed_as(name: str, value: str, root_key: str) -> str:
    if name == "X-Amz-Credential":
        return root_key + "/" + value.split("/", 1)[1] if "/" in value else root_key
    if name == "AWSAccessKeyId":
        return root_key
    return value


class RootForUnknownKeys:
    """ASGI middleware: a request signed with a key the emulator does not know is passed on as its root's."""

    def __init__(self, app: ASGIApp, is_unknown: Callable[[str], bool], *, root_key: str) -> None:
        self.app = app
        self.is_unknown = is_unknown
        self.root_key = root_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http":
            key = access_key_of(scope)
            if key and key != self.root_key and self.is_unknown(key):
                scope = signed_as(scope, self.root_key)
        await self.app(scope, receive, send)


def ministack_does_not_know(key: str) -> bool:
    """MiniStack's own answer: not one of its root keys, not an IAM key of any account, not an STS session."""
    evaluator: Any = importlib.import_module("ministack.core.iam_evaluator")
    if evaluator.is_root_access_key(key):
        return False
    try:
        if evaluator.find_iam_access_key_account(key):
            return False
    except evaluator.AmbiguousAccessKeyError:
        return False  # MiniStack refuses it itself, as AWS would
    resolved = evaluator.resolve_credential(key)
    return isinstance(resolved, evaluator.CredentialResolutionError) and resolved.code == "UnrecognizedClientException"


def main() -> None:
    """Start MiniStack as ``python -m ministack`` would, with :class:`RootForUnknownKeys` in front of its app."""
    ministack_app: Any = importlib.import_module("ministack.app")
    root_key = os.environ.get("AWS_ACCESS_KEY_ID") or "test"
    ministack_app.app = RootForUnknownKeys(ministack_app.app, ministack_does_not_know, root_key=root_key)
    ministack_app.main()


if __name__ == "__main__":
    main()
