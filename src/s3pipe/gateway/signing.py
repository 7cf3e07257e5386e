"""SigV4 re-signing of a request whose body the gateway rewrote (stdlib only).

The ``unprocessed`` fault forwards only part of a BatchWriteItem: the function's signature no
longer covers the body, and an emulator that checks signatures (MiniStack with ``AUTH=true``)
answers InvalidSignatureException. :class:`Resigner` signs such a request again with the
emulator's root test key, keeping the original's date, region, service and signed headers.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=[0-9a-f]+"
)
#: Headers that belong to the function's own (temporary) credentials, not to the root key.
_CREDENTIAL_HEADERS = frozenset({"x-amz-security-token"})


@dataclass(frozen=True)
class Resigner:
    """Signs rewritten requests with one key pair (the emulator's root test key by default)."""

    access_key_id: str
    secret_access_key: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Resigner:
        """The key the emulator beside the gateway treats as root: its own ``AWS_*`` variables, else ``test``."""
        env = os.environ if environ is None else environ
        return cls(env.get("AWS_ACCESS_KEY_ID") or "test", env.get("AWS_SECRET_ACCESS_KEY") or "test")

    def resign(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> list[tuple[str, str]]:
        """``headers`` for ``body``: Content-Length and the payload hash updated and, when the request was
        signed with a SigV4 ``Authorization`` header, signed again. Unsigned requests keep their headers."""
        sized = [
            (n, str(len(body)) if n.lower() == "content-length" else v)
            for n, v in headers
            if n.lower() not in _CREDENTIAL_HEADERS
        ]
        authorization = next((v for n, v in headers if n.lower() == "authorization"), "")
        match = _AUTHORIZATION.match(authorization.strip())
        if match is None:
            return [(n, v) for n, v in headers if n.lower() != "content-length"] + [("Content-Length", str(len(body)))]
        payload_hash = hashlib.sha256(body).hexdigest()
        sized = [(n, payload_hash if n.lower() == "x-amz-content-sha256" else v) for n, v in sized]
        signed = [h for h in match.group("signed").split(";") if h and h not in _CREDENTIAL_HEADERS]
        lowered: dict[str, str] = {}
        for name, value in sized:
            lowered.setdefault(name.lower(), value)
        amz_date = lowered.get("x-amz-date", "")
        split = urlsplit(target)
        query = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in parse_qsl(split.query, True))
        canonical = "\n".join(
            [
                method.upper(),
                quote(split.path or "/", safe="-_.~/"),
                "&".join(f"{k}={v}" for k, v in query),
                "".join(f"{h}:{' '.join(lowered.get(h, '').split())}\n" for h in signed),
                ";".join(signed),
                payload_hash,
            ]
        )
        date, region, service = match.group("date"), match.group("region"), match.group("service")
        scope = f"{date}/{region}/{service}/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.secret_access_key).encode()
        for part in (date, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        value = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key_id}/{scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={signature}"
        )
        return [(n, value if n.lower() == "authorization" else v) for n, v in sized]
