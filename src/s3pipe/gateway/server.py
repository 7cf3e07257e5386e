"""The function gateway's HTTP side: a recording, fault-injecting reverse proxy to the emulator.

Run as ``python -m s3pipe.gateway --upstream URL [--port 0] [--port-file PATH] [--journal PATH]``,
started by ``backends/supervisor.py`` in the emulator's process group, so it dies with the emulator.
The function's ``AWS_ENDPOINT_URL`` points here; Terraform and the test clients talk to the emulator
directly. Stdlib only.

* Every request is forwarded verbatim (method, path, query, headers including the SigV4
  ``Authorization``, body) on a keep-alive upstream connection per thread; large bodies are piped
  in chunks both ways, never buffered whole. ``X-Forwarded-Proto: https`` is added: the function
  talks to AWS over TLS, and an emulator enforcing IAM evaluates ``aws:SecureTransport`` from it.
* Every call is appended to the journal (:mod:`s3pipe.gateway.journal`), classified by
  :func:`s3pipe.gateway.classify.classify_request`.
* Faults follow a seeded plan (:mod:`s3pipe.gateway.faults`) the tests set through the control API
  under ``/_s3pipe/`` (never forwarded): ``PUT/DELETE/GET /_s3pipe/faults``,
  ``GET /_s3pipe/calls?since=N``, ``GET /_s3pipe/health``.
"""

from __future__ import annotations

import enum
import http.client
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, assert_never
from urllib.parse import parse_qs, urlsplit

from s3pipe.gateway.classify import DEFAULT_ACCOUNT, SIGV4_CREDENTIAL, Classified, classify_request
from s3pipe.gateway.faults import (
    FaultEngine,
    FaultRule,
    PlanError,
    fault_response,
    merge_unprocessed,
    parse_plan,
    split_batch_write,
)
from s3pipe.gateway.journal import Journal, error_code, journal_entry
from s3pipe.gateway.signing import Resigner

CONTROL_PREFIX = "/_s3pipe/"
CHUNK = 64 * 1024
#: Request bodies up to this size are buffered (parsed for the journal, replayable on a stale connection).
BUFFER_LIMIT = 32 * 1024 * 1024
#: S3 bodies are object data: only small ones (DeleteObjects XML...) are buffered.
S3_BUFFER_LIMIT = 1024 * 1024
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)


class ControlRoute(enum.Enum):
    """The control API under ``/_s3pipe/``: (method, route)."""

    HEALTH = ("GET", "health")
    CALLS = ("GET", "calls")
    GET_FAULTS = ("GET", "faults")
    SET_FAULTS = ("PUT", "faults")
    CLEAR_FAULTS = ("DELETE", "faults")

    @classmethod
    def of(cls, method: str, route: str) -> ControlRoute | None:
        return next((member for member in cls if member.value == (method, route)), None)


class GatewayServer(ThreadingHTTPServer):
    """The gateway: a threaded HTTP server forwarding to ``upstream`` (``http://host:port``)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        upstream: str,
        journal: Journal | None = None,
        *,
        account: str = DEFAULT_ACCOUNT,
        resigner: Resigner | None = None,
    ) -> None:
        parsed = urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be an http://host:port URL, got {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.journal = journal if journal is not None else Journal(None)
        self.account = account
        self.faults = FaultEngine()
        self.resigner = resigner if resigner is not None else Resigner.from_environment()
        self._local = threading.local()
        self._thread: threading.Thread | None = None
        super().__init__(address, GatewayHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A function worker that goes away mid-connection (killed at its timeout) is not an error."""
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def upstream_connection(self, *, fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's keep-alive connection to the emulator, and whether it was used before."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and not fresh:
            return conn, True
        if conn is not None:
            conn.close()
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=300)
        conn.connect()
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._local.conn = conn
        return conn, False

    def drop_upstream_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def health(self) -> dict[str, Any]:
        """The control API's ``GET /_s3pipe/health`` answer."""
        return {
            "status": "ok",
            "upstream": self.upstream,
            "calls": len(self.journal),
            "dropped": self.journal.dropped,
            "capacity": self.journal.capacity,
            "journal": str(self.journal.path) if self.journal.path else None,
            "pid": os.getpid(),
            "faults": self.faults.state(),
        }

    def start_background(self) -> GatewayServer:
        """Serve on a daemon thread (tests); :meth:`stop` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="s3pipe-gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _ClientGone(Exception):
    """The function closed its connection while the response was being relayed."""


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: GatewayServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the journal is the record."""

    # ------------------------------------------------------------------ request side
    def _dispatch(self) -> None:
        if self.path.startswith(CONTROL_PREFIX):
            self._control()
            return
        self._clock = time.monotonic()
        headers = list(self.headers.items())
        lowered = {name.lower(): value for name, value in headers}
        body = self._read_body(lowered)
        call = classify_request(
            self.command,
            self.path,
            lowered,
            body if isinstance(body, bytes) else None,
            default_account=self.server.account,
        )
        entry = journal_entry(call, self.command, self.path, lowered)
        self._pending: dict[str, Any] | None = entry
        try:
            rule = self.server.faults.pick(call, entry["sdk"].get("invocation"))
            if rule is not None:
                entry["fault"] = rule.fault
            if rule is None or not self._inject(rule, call, headers, body, entry):
                self._forward(headers, body, {})
        except _ClientGone:
            entry["error"] = "the function closed the connection"
            self.close_connection = True
        except (OSError, http.client.HTTPException) as error:
            entry["error"] = f"{type(error).__name__}: {error}"
            self.server.drop_upstream_connection()
            message = json.dumps({"message": f"s3pipe gateway: upstream {self.server.upstream} failed: {error}"})
            try:
                self._send_local(502, [("Content-Type", "application/json")], message.encode())
            except OSError:
                self.close_connection = True
        finally:
            self._commit()

    # every HTTP method takes the same path (names fixed by BaseHTTPRequestHandler)
    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch  # noqa: N815

    def _commit(self, status: int | None = None, response_bytes: int | None = None) -> None:
        """Journal the pending call (once). Called before the last bytes of the answer go out where
        possible, so a call is in the journal by the time its caller has the answer."""
        entry, self._pending = getattr(self, "_pending", None), None
        if entry is None:
            return
        if status is not None:
            entry["status"] = status
        if response_bytes is not None:
            entry["response_bytes"] = response_bytes
        entry["duration_ms"] = round((time.monotonic() - self._clock) * 1000, 3)
        self.server.journal.append(entry)

    def _inject(
        self,
        rule: FaultRule,
        call: Classified,
        headers: list[tuple[str, str]],
        body: bytes | Iterator[bytes],
        entry: dict[str, Any],
    ) -> bool:
        """Apply a fault; True when the call was answered here, False when it is still to be forwarded."""
        match rule.fault:
            case "throttle" | "server_error":
                if not isinstance(body, bytes):
                    for _ in body:  # drain what the function sends before answering
                        pass
                content_type = next((v for n, v in headers if n.lower() == "content-type"), "")
                status, fault_headers, payload = fault_response(rule.fault, call, self.command, content_type)
                self._send_local(status, fault_headers, payload)
                return True
            case "delay":
                entry["delay_ms"] = rule.delay_ms
                time.sleep(rule.delay_ms / 1000)
                return False
            case "unprocessed":
                return self._hold_back(rule, headers, body, entry)
            case unreachable:
                assert_never(unreachable)

    def _hold_back(
        self, rule: FaultRule, headers: list[tuple[str, str]], body: bytes | Iterator[bytes], entry: dict[str, Any]
    ) -> bool:
        """The ``unprocessed`` fault: forward part of a BatchWriteItem, answer the rest as UnprocessedItems."""
        if not isinstance(body, bytes):
            return False
        try:
            forward_body, held, count = split_batch_write(body, rule.unprocessed_fraction, self.server.faults.sample)
        except (ValueError, AttributeError, TypeError):  # not a BatchWriteItem body: let the emulator answer it
            return False
        entry["unprocessed"] = count
        if forward_body is None:
            payload = merge_unprocessed(b"", held)
            self._send_local(200, [("Content-Type", "application/x-amz-json-1.0")], payload)
            return True
        self._forward(self.server.resigner.resign(self.command, self.path, headers, forward_body), forward_body, held)
        return True

    def _read_body(self, headers: Mapping[str, str]) -> bytes | Iterator[bytes]:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._relay_chunked()
        length = int(headers.get("content-length") or 0)
        scope = SIGV4_CREDENTIAL.search(headers.get("authorization", ""))
        signed_for = scope.group(3) if scope else ("" if "x-amz-target" in headers else "s3")
        limit = S3_BUFFER_LIMIT if signed_for == "s3" else BUFFER_LIMIT
        if length <= limit:
            return self.rfile.read(length) if length else b""
        return self._relay_fixed(length)

    def _relay_fixed(self, length: int) -> Iterator[bytes]:
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(CHUNK, remaining))
            if not chunk:
                raise _ClientGone
            remaining -= len(chunk)
            yield chunk

    def _relay_chunked(self) -> Iterator[bytes]:
        """The raw chunked framing, passed on verbatim (the upstream request keeps Transfer-Encoding)."""
        while True:
            size_line = self.rfile.readline(1024)
            if not size_line:
                raise _ClientGone
            yield size_line
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:
                    trailer = self.rfile.readline(8192)
                    yield trailer
                    if trailer in (b"\r\n", b"\n", b""):
                        return
            remaining = size + 2  # data and its CRLF
            while remaining > 0:
                chunk = self.rfile.read(min(CHUNK, remaining))
                if not chunk:
                    raise _ClientGone
                remaining -= len(chunk)
                yield chunk

    # ------------------------------------------------------------------ upstream
    def _send_upstream(
        self, headers: Sequence[tuple[str, str]], body: bytes | Iterator[bytes]
    ) -> http.client.HTTPResponse:
        chunked = any(n.lower() == "transfer-encoding" and "chunked" in v.lower() for n, v in headers)
        for attempt in range(2):
            conn, reused = self.server.upstream_connection(fresh=attempt > 0)
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP:
                        conn.putheader(name, value)
                if not any(n.lower() == "x-forwarded-proto" for n, _ in headers):
                    conn.putheader("X-Forwarded-Proto", "https")  # the function's calls go over TLS on AWS
                if chunked:
                    conn.putheader("Transfer-Encoding", "chunked")
                if isinstance(body, bytes):
                    conn.endheaders(body or None)
                else:
                    conn.endheaders()
                    for chunk in body:
                        conn.send(chunk)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if attempt == 0 and reused and isinstance(body, bytes):
                    continue  # the emulator closed an idle keep-alive connection: replay once
                raise
        raise AssertionError("unreachable")

    def _forward(
        self, headers: Sequence[tuple[str, str]], body: bytes | Iterator[bytes], held: Mapping[str, list[Any]]
    ) -> None:
        response = self._send_upstream(headers, body)
        status = response.status
        if self._pending is not None:
            self._pending["status"] = status
        if held and status == 200:
            payload = merge_unprocessed(response.read(), held)
            kept = [(n, v) for n, v in response.getheaders() if n.lower() not in ("content-length", "x-amz-crc32")]
            self._send_local(status, kept, payload, reason=response.reason)
            return
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        length = response.getheader("content-length")
        small = not response.chunked and length is not None and length.isdigit() and int(length) <= CHUNK
        payload = response.read() if no_body or small else b""  # small answers: journalled before they go out
        self.send_response_only(status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if not no_body and response.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif not no_body and length is None:
            self.send_header("Connection", "close")  # a close-delimited body
        if no_body or small:
            if (
                status >= 400
                and self._pending is not None
                and (code := error_code(dict(response.getheaders()), payload))
            ):
                self._pending["error_code"] = code  # e.g. the emulator's AccessDeniedException
            self._commit(status, len(payload))
            self.end_headers()
            if payload and not no_body:
                self.wfile.write(payload)
        else:
            self.end_headers()
            self._commit(status, self._relay_response(response))
        if response.will_close:
            self.server.drop_upstream_connection()

    def _relay_response(self, response: http.client.HTTPResponse) -> int:
        """Pipe the upstream body to the function in chunks (re-chunked when the upstream chunked it)."""
        sent = 0
        try:
            while chunk := response.read1(CHUNK):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if response.chunked else chunk)
                sent += len(chunk)
            if response.chunked:
                self.wfile.write(b"0\r\n\r\n")
            response.read()  # marks the response complete, so the connection can carry the next request
        except (BrokenPipeError, ConnectionResetError) as error:
            self.server.drop_upstream_connection()  # its response is only partly read
            raise _ClientGone from error
        return sent

    def _send_local(
        self, status: int, headers: Sequence[tuple[str, str]], body: bytes, *, reason: str | None = None
    ) -> None:
        self.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self._commit(status, len(body))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    # ------------------------------------------------------------------ control API
    def _control(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        route = ControlRoute.of(self.command, split.path[len(CONTROL_PREFIX) :].strip("/"))
        faults = self.server.faults
        match route:
            case None:
                self._reply(404, {"error": f"no control route {self.command} {split.path}"})
            case ControlRoute.HEALTH:
                self._reply(200, self.server.health())
            case ControlRoute.CALLS:
                raw_since = (parse_qs(split.query).get("since") or ["0"])[0]
                try:
                    since = int(raw_since)
                except ValueError:
                    self._reply(400, {"error": f"since must be an integer, got {raw_since!r}"})
                    return
                journal = self.server.journal
                calls, next_seq = journal.read(since)
                dropped = journal.dropped_since(since)
                self._reply(200, {"next": next_seq, "calls": calls, "dropped": dropped, "capacity": journal.capacity})
            case ControlRoute.GET_FAULTS:
                self._reply(200, faults.state())
            case ControlRoute.SET_FAULTS:
                try:
                    plan = parse_plan(json.loads(raw or b"{}"))
                except (PlanError, ValueError) as error:
                    self._reply(400, {"error": str(error)})
                    return
                faults.set_plan(plan)
                self._reply(200, faults.state())
            case ControlRoute.CLEAR_FAULTS:
                faults.clear()
                self._reply(200, faults.state())
            case unreachable:
                assert_never(unreachable)

    def _reply(self, status: int, document: Any) -> None:
        self._send_local(status, [("Content-Type", "application/json")], json.dumps(document).encode())
