"""The external backend against a local stand-in health endpoint: attach, identify, never stop."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from s3pipe.backends.base import ONE_POLLER_CAPABILITIES, Capability
from s3pipe.backends.embedded import EmbeddedBackend
from s3pipe.backends.external import (
    CONSERVATIVE_CAPABILITIES,
    ExternalBackend,
    ExternalEndpointError,
    Flavour,
)
from s3pipe.backends.localstack import LocalStackBackend
from s3pipe.backends.registry import create_backend
from s3pipe.config import HarnessConfig
from s3pipe.errors import EmulatorError
from s3pipe.progress import Progress


def external(url: str | None, **kwargs: Any) -> ExternalBackend:
    return ExternalBackend(url=url, region="ap-northeast-1", **kwargs)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_url_is_a_clear_error(tmp_path: Path) -> None:
    config = HarnessConfig.resolve(tmp_path, environ={"S3PIPE_BACKEND": "external"})
    with pytest.raises(ExternalEndpointError) as raised:
        create_backend(config, Progress(write=lambda _line: None))
    message = str(raised.value)
    assert "needs the URL of a running emulator" in message
    assert "--s3pipe-endpoint-url" in message
    assert "S3PIPE_ENDPOINT_URL" in message


@pytest.mark.parametrize("url", ["localhost:4566", "ftp://127.0.0.1:4566", "http://"])
def test_malformed_url_is_refused(url: str) -> None:
    with pytest.raises(ExternalEndpointError, match="is not an http"):
        external(url)


def test_url_is_normalised() -> None:
    assert external("http://127.0.0.1:4566/").url == "http://127.0.0.1:4566"


def test_start_attaches_to_a_healthy_ministack_with_fake_credentials(health_server: Any) -> None:
    health_server.answer("light", "1.5.33")
    backend = external(health_server.url)

    endpoint = backend.start()

    assert endpoint.url == health_server.url
    assert endpoint.credentials.is_fake
    assert backend.flavour == Flavour("ministack", "light", "1.5.33")
    assert backend.health().healthy


def test_stop_leaves_the_target_running(health_server: Any) -> None:
    health_server.answer("community", "4.14.0")
    backend = external(health_server.url)
    backend.start()
    backend.stop()
    backend.detach()
    assert backend.health().healthy, "the emulator still answers after stop()"


def test_unreachable_endpoint_fails_fast_with_how_to_start_one() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    with pytest.raises(EmulatorError) as raised:
        external(url, start_timeout=30).start()
    assert time.monotonic() - started < 10, "a refused connection does not wait for the start timeout"
    message = str(raised.value)
    assert f"No AWS emulator answers at {url}" in message
    assert "s3pipe up" in message


def test_an_emulator_still_starting_is_given_the_start_timeout(health_server: Any) -> None:
    health_server.answer("community", "4.14.0", ready=False)
    timer = threading.Timer(0.4, lambda: health_server.answer("community", "4.14.0"))
    timer.start()
    try:
        endpoint = external(health_server.url, start_timeout=10).start()
    finally:
        timer.cancel()
    assert endpoint.url == health_server.url


def test_an_emulator_missing_a_service_times_out_naming_it(health_server: Any) -> None:
    health_server.answer("light", "1.5.33")
    del health_server.payload["services"]["lambda"]
    with pytest.raises(EmulatorError, match="lambda=absent"):
        external(health_server.url, start_timeout=0.5).start()


def test_a_non_json_health_answer_is_unreachable(health_server: Any) -> None:
    health_server.payload = ["not", "an", "object"]
    with pytest.raises(EmulatorError, match="not a JSON object"):
        external(health_server.url).start()


@pytest.mark.parametrize(
    ("edition", "product"),
    [("light", "ministack"), ("community", "localstack"), ("pro", "localstack"), ("", "unknown")],
)
def test_flavour_from_health(edition: str, product: str) -> None:
    assert Flavour.from_health({"edition": edition, "version": "1"}).product == product


def test_capabilities_are_conservative_until_the_emulator_is_identified(health_server: Any) -> None:
    # every emulator runs one poller per mapping (base.ONE_POLLER_CAPABILITIES), whichever it turns out to be
    assert ExternalBackend.capabilities == CONSERVATIVE_CAPABILITIES | ONE_POLLER_CAPABILITIES
    assert EmbeddedBackend.capabilities & LocalStackBackend.capabilities >= CONSERVATIVE_CAPABILITIES
    assert Capability.IAM_ENFORCEMENT not in CONSERVATIVE_CAPABILITIES

    backend = external(health_server.url)
    assert backend.effective_capabilities == ExternalBackend.capabilities
    health_server.answer("light", "1.5.33")
    backend.start()
    assert backend.effective_capabilities == EmbeddedBackend.capabilities - {Capability.IAM_ENFORCEMENT}
    health_server.payload["auth"] = "enabled"  # MiniStack started with AUTH=true
    backend.start()
    assert backend.flavour == Flavour("ministack", "light", "1.5.33", iam_enforced=True)
    # a plain MiniStack with AUTH=true knows only its own keys (s3pipe's caller_keys is not in front of it)
    assert backend.effective_capabilities == EmbeddedBackend.capabilities - {Capability.ANY_CALLER_CREDENTIALS}
    health_server.answer("community", "4.14.0")
    backend.start()
    assert backend.effective_capabilities == LocalStackBackend.capabilities
    health_server.answer("floci", "0.9")
    backend.start()
    assert backend.effective_capabilities == ExternalBackend.capabilities


def test_external_is_an_emulator_for_the_guard() -> None:
    assert ExternalBackend.is_emulator
