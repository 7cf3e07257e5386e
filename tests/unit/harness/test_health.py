"""Health probing against a tiny local ``/_localstack/health`` server whose answers the test controls."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from s3pipe.backends.base import Health
from s3pipe.backends.health import REQUIRED_SERVICES, probe_health, wait_until_healthy
from s3pipe.errors import EmulatorError


@pytest.fixture(autouse=True)
def no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib would send even 127.0.0.1 through an HTTP(S)_PROXY of the environment: keep these tests local."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_every_required_service_ready_is_healthy(health_server: Any) -> None:
    health_server.answer("light", "1.5.33")
    health = probe_health(health_server.url)
    assert health.healthy
    assert health.detail == "version 1.5.33, 8 services"


def test_running_counts_as_ready(health_server: Any) -> None:
    health_server.payload = {"services": dict.fromkeys(REQUIRED_SERVICES, "running")}
    health = probe_health(health_server.url)
    assert health.healthy
    assert health.detail == f"version ?, {len(REQUIRED_SERVICES)} services"


def test_missing_and_starting_services_are_named(health_server: Any) -> None:
    states = dict.fromkeys(REQUIRED_SERVICES, "available")
    del states["lambda"]
    states["logs"] = "initializing"
    health_server.payload = {"version": "4.14.0", "services": states}

    health = probe_health(health_server.url)

    assert not health.healthy
    assert health.detail == "not ready: lambda=absent, logs=initializing"


def test_only_the_requested_services_matter(health_server: Any) -> None:
    health_server.payload = {"services": {"s3": "available", "sqs": "disabled"}}
    assert probe_health(health_server.url, services=("s3",)).healthy
    assert probe_health(health_server.url, services=("s3", "sqs")).detail == "not ready: sqs=disabled"


@pytest.mark.parametrize("payload", [[], "text", {}, {"services": {}}])
def test_an_answer_without_services_is_unhealthy(health_server: Any, payload: object) -> None:
    health_server.payload = payload
    health = probe_health(health_server.url)
    assert not health.healthy
    assert health.detail.startswith("not ready: s3=absent, sqs=absent")


@pytest.mark.parametrize("services", [None, ["s3", "sqs"]])
def test_services_that_are_not_an_object_are_unhealthy(health_server: Any, services: object) -> None:
    health_server.payload = {"version": "x", "services": services}
    assert not probe_health(health_server.url).healthy


def test_an_error_status_is_unhealthy(health_server: Any) -> None:
    health_server.answer("light", "1.5.33")
    health_server.status = 503
    health = probe_health(health_server.url)
    assert not health.healthy
    assert health.detail.startswith("HTTPError")
    assert "503" in health.detail


def test_a_refused_connection_is_unhealthy() -> None:
    health = probe_health(closed_port_url(), timeout=2)
    assert not health.healthy
    assert health.detail.startswith("URLError")
    assert "refused" in health.detail.lower()


# ---------------------------------------------------------------------------- wait_until_healthy


def test_wait_returns_once_healthy(health_server: Any) -> None:
    health_server.answer("light", "1.5.33", ready=False)
    polls: list[int] = []

    def exit_code() -> int | None:
        polls.append(1)
        if len(polls) == 3:
            health_server.answer("light", "1.5.33")  # becomes ready while we wait
        return None

    health = wait_until_healthy("MiniStack", health_server.url, timeout=10, exit_code=exit_code, interval=0.001)

    assert health.healthy
    assert len(polls) == 3


def test_a_process_that_exited_fails_fast_with_its_log(health_server: Any) -> None:
    health_server.answer("light", "1.5.33", ready=False)
    with pytest.raises(EmulatorError) as raised:
        wait_until_healthy(
            "MiniStack",
            health_server.url,
            timeout=60,
            exit_code=lambda: 3,
            log_tail=lambda: ["OSError: [Errno 98] Address already in use"],
            log_path="/s/logs/ministack-4566.log",
        )
    error = raised.value
    assert error.summary == "MiniStack exited before it became healthy"
    assert error.seen == [
        "exit code 3",
        "log: /s/logs/ministack-4566.log",
        "OSError: [Errno 98] Address already in use",
    ]
    assert health_server.requests == 0, "no health probe once the process is known to be dead"


def test_timeout_reports_the_last_answer_and_the_log_tail(health_server: Any) -> None:
    health_server.answer("light", "1.5.33", ready=False)
    with pytest.raises(EmulatorError) as raised:
        wait_until_healthy(
            "MiniStack", health_server.url, timeout=0.2, log_tail=lambda: ["still booting"], interval=0.01
        )
    error = raised.value
    assert error.summary == "MiniStack did not become healthy within 0 s"
    assert error.seen[0].startswith("last health answer: not ready: s3=initializing")
    assert error.seen[1:] == ["still booting"]
    assert health_server.requests >= 2


def test_timeout_against_nothing_reports_the_connection_error() -> None:
    with pytest.raises(EmulatorError) as raised:
        wait_until_healthy("LocalStack", closed_port_url(), timeout=0.1, interval=0.01)
    assert raised.value.seen[0].startswith("last health answer: URLError")


def test_another_server_is_polled_with_its_own_probe_and_named_by_its_own_path() -> None:
    asked: list[tuple[str, float]] = []

    def probe(url: str, timeout: float) -> Health:
        asked.append((url, timeout))
        return Health(len(asked) >= 3, f"answer {len(asked)}")

    assert wait_until_healthy("gateway", "http://127.0.0.1:9", timeout=10, probe=probe, interval=0.001).healthy
    assert [url for url, _ in asked] == ["http://127.0.0.1:9"] * 3

    with pytest.raises(EmulatorError) as raised:
        wait_until_healthy(
            "gateway", "http://127.0.0.1:9", timeout=0.05, probe=lambda u, t: Health(False, "no"), interval=0.01,
            health_path="/_s3pipe/health",
        )  # fmt: skip
    assert raised.value.tried == "poll http://127.0.0.1:9/_s3pipe/health until it answers ok"
    assert raised.value.seen[0] == "last health answer: no"
