"""Shared fixtures of the harness unit tests: nothing here needs Docker, an emulator or AWS.

``suite`` runs a throwaway pytest project in a subprocess. It is pytest's own ``pytester`` when
that plugin is enabled (``-p pytester`` in addopts, or ``pytest_plugins`` in the root conftest);
otherwise a small stand-in with the same ``makepyfile``/``runpytest_subprocess`` interface.
(``pytest_plugins`` cannot live here: pytest refuses it in a conftest below the rootdir once
collection has started, which is the case under ``pytest tests/unit``.)
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Variables that would change which backend a child pytest run selects.
_HARNESS_PREFIXES = ("S3PIPE_", "PYTEST_ADDOPTS", "PYTEST_XDIST")


class SubprocessSuite:
    """The part of ``pytest.Pytester`` these tests use, for runs where the plugin is not enabled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def makepyfile(self, **files: str) -> None:
        for name, source in files.items():
            (self.path / f"{name}.py").write_text(textwrap.dedent(source))

    def runpytest_subprocess(self, *args: str) -> pytest.RunResult:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_HARNESS_PREFIXES)}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
        started = time.monotonic()
        done = subprocess.run(command, cwd=self.path, env=env, capture_output=True, text=True, timeout=180, check=False)
        return pytest.RunResult(
            done.returncode, done.stdout.splitlines(), done.stderr.splitlines(), time.monotonic() - started
        )


@pytest.fixture
def suite(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in list(os.environ):
        if name.startswith("S3PIPE_"):
            monkeypatch.delenv(name)
    if request.config.pluginmanager.has_plugin("pytester"):
        return request.getfixturevalue("pytester")
    return SubprocessSuite(tmp_path)


class HealthServer:
    """A ``/_localstack/health`` endpoint on 127.0.0.1 whose answer the test controls."""

    def __init__(self) -> None:
        self.payload: Any = {}
        self.status = 200
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                body = json.dumps(server.payload).encode()
                self.send_response(server.status if self.path == "/_localstack/health" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    def answer(self, edition: str, version: str, *, ready: bool = True) -> None:
        """Answer like an emulator of that edition/version, with every service ready (or starting)."""
        services = ("s3", "sqs", "lambda", "dynamodb", "iam", "sts", "logs", "kinesis")
        state = "available" if ready else "initializing"
        self.payload = {"edition": edition, "version": version, "services": dict.fromkeys(services, state)}

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def health_server() -> Iterator[HealthServer]:
    server = HealthServer()
    try:
        yield server
    finally:
        server.close()
