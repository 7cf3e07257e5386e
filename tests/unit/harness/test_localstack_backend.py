"""The LocalStack backend without Docker: its container configuration as data, and every error path.

The Testcontainers runtime is replaced by a fake for the lifecycle tests; the real runtime is only
exercised against a Docker socket that does not exist.
"""

from __future__ import annotations

import ipaddress
import sys
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from s3pipe.backends import health as health_module
from s3pipe.backends import localstack
from s3pipe.backends.base import Capability, Health
from s3pipe.backends.health import REQUIRED_SERVICES
from s3pipe.backends.localstack import (
    AUTH_TOKEN_VARIABLE,
    LAST_TOKENLESS_IMAGE,
    OWNER_LABEL,
    TESTCONTAINERS_SESSION_LABEL,
    ContainerSpec,
    DockerRuntime,
    LocalStackBackend,
    LocalStackUnavailable,
    build_container,
    container_spec,
    docker_socket_path,
    is_license_failure,
)
from s3pipe.backends.registry import create_backend
from s3pipe.config import DEFAULT_LOCALSTACK_IMAGE, HarnessConfig
from s3pipe.errors import EmulatorError, HarnessError
from s3pipe.guard import host_of, is_loopback_host
from s3pipe.progress import Progress

IMAGE = "localstack/localstack:4.14.0"
LICENSE_LOG = [
    "LocalStack version: 2026.3.1.dev3",
    "Localstack returning with exit code 55. Reason: ",
    "The license activation failed for the following reason:",
    "No credentials were found in the environment. Please make sure to either set the "
    "LOCALSTACK_AUTH_TOKEN variable to a valid auth token.",
    "LocalStack requires an account to run.",
]


def spec(**environ: str) -> ContainerSpec:
    return container_spec(
        image=IMAGE, instance="s3pipe-localstack-abcd", host_port=45123, session_id="sid-1", environ=environ
    )


# ---------------------------------------------------------------------------- configuration


def test_container_publishes_4566_on_a_loopback_port_only() -> None:
    configured = spec()
    assert configured.port_bindings == {"4566/tcp": ("127.0.0.1", 45123)}
    assert configured.url == "http://127.0.0.1:45123"


def test_container_runs_the_requested_image_under_the_instance_name() -> None:
    configured = spec()
    assert configured.image == IMAGE
    assert configured.name == "s3pipe-localstack-abcd"
    assert configured.labels == {OWNER_LABEL: "s3pipe-localstack-abcd"}


def test_container_mounts_the_docker_socket_read_write_for_lambda() -> None:
    configured = spec()
    assert configured.volumes == (("/var/run/docker.sock", "/var/run/docker.sock", "rw"),)
    assert configured.env["DOCKER_HOST"] == "unix:///var/run/docker.sock"


def lambda_nameserver(env: Mapping[str, str], ip_on_lambda_network: str) -> str:
    """The DNS server LocalStack 4.14.0 gives a Lambda container while its own DNS server runs (the
    default): LAMBDA_DOCKER_DNS if set, else HOSTNAME_FROM_LAMBDA if set, else its own IP on the
    first LAMBDA_DOCKER_NETWORK (invocation/docker_runtime_executor.py, lambda_/networking.py)."""
    return (
        env.get("LAMBDA_DOCKER_DNS", "").strip() or env.get("HOSTNAME_FROM_LAMBDA", "").strip() or ip_on_lambda_network
    )


def test_lambda_containers_join_a_network_of_their_own_and_reach_localstack_by_its_ip_there() -> None:
    configured = spec()
    assert configured.env["LAMBDA_DOCKER_NETWORK"] == configured.network == "s3pipe-localstack-abcd-net"
    assert configured.alias == "localstack"  # LocalStack's alias on that network, for containers that name it
    # LocalStack 4.14.0 makes HOSTNAME_FROM_LAMBDA the Lambda containers' DNS server, and the Docker
    # Engine refuses a nameserver that is not an IP address ("bad nameserver address", moby
    # libnetwork/sandbox_dns_unix.go): neither it nor LAMBDA_DOCKER_DNS may be set.
    assert "HOSTNAME_FROM_LAMBDA" not in configured.env
    assert "LAMBDA_DOCKER_DNS" not in configured.env
    assert int(configured.env["LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT"]) >= 60
    assert configured.env["LAMBDA_REMOVE_CONTAINERS"] == "1"


def test_lambda_containers_get_an_ip_address_as_their_nameserver() -> None:
    nameserver = lambda_nameserver(spec().env, "172.18.0.2")
    assert ipaddress.ip_address(nameserver) == ipaddress.ip_address("172.18.0.2")
    # what the old setting produced: a name, which Docker Engine refuses ("bad nameserver address")
    with pytest.raises(ValueError, match="localstack"):
        ipaddress.ip_address(lambda_nameserver({"HOSTNAME_FROM_LAMBDA": "localstack"}, "172.18.0.2"))


def test_lambda_containers_are_labelled_for_stop_and_for_ryuk() -> None:
    flags = spec().env["LAMBDA_DOCKER_FLAGS"].split()
    assert flags == [
        "-l",
        f"{TESTCONTAINERS_SESSION_LABEL}=sid-1",
        "-l",
        f"{OWNER_LABEL}=s3pipe-localstack-abcd",
    ]


def localstack_queue_url(env: Mapping[str, str], region: str, account: str, name: str) -> str:
    """The queue URL LocalStack 4.14.0 hands out (services/sqs/models.py ``SqsQueue.url``; config.py:
    the strategy defaults to "standard"; "dynamic", which follows the request's host, is left out)."""
    host = env["LOCALSTACK_HOST"]
    match env.get("SQS_ENDPOINT_STRATEGY") or "standard":
        case "standard":
            base = f"http://sqs.{region}.{host}"
        case "domain":
            base = f"http://{'' if region == 'us-east-1' else region + '.'}queue.{host}"
        case "path":
            base = f"http://{host}/queue/{region}"
        case _:
            base = f"http://{host}"
    return f"{base}/{account}/{name}"


def provider_queue_name(url: str) -> str:
    """The aws provider's (v5) ``queueNameFromURL`` (internal/service/sqs/queue.go), which every read
    of an ``aws_sqs_queue`` runs on the queue's URL: exactly two path segments, account and name."""
    parts = urllib.parse.urlsplit(url).path.split("/")
    if len(parts) != 3:
        raise ValueError(f"SQS Queue URL ({url}) is in the incorrect format")
    return parts[2]


def test_container_starts_the_services_the_stack_needs_and_hands_out_loopback_urls() -> None:
    configured = spec()
    assert configured.env["SERVICES"].split(",") == list(REQUIRED_SERVICES)
    assert configured.env["LOCALSTACK_HOST"] == "127.0.0.1:45123"
    # "off": http://<LOCALSTACK_HOST>/<account>/<name> (LocalStack 4.14.0 services/sqs/models.py),
    # the one form the aws provider reads back (v5 internal/service/sqs/queue.go queueNameFromURL)
    assert configured.env["SQS_ENDPOINT_STRATEGY"] == "off"


def test_queue_urls_are_loopback_and_readable_by_the_aws_provider() -> None:
    configured = spec()
    url = localstack_queue_url(configured.env, "ap-northeast-1", "000000000000", "s3p-t-000000-queue")
    assert url == "http://127.0.0.1:45123/000000000000/s3p-t-000000-queue"
    assert provider_queue_name(url) == "s3p-t-000000-queue"
    backend = LocalStackBackend(image=IMAGE, region="ap-northeast-1")
    assert is_loopback_host(host_of(url), backend.own_hosts)  # the guard's test of every URL it checks


@pytest.mark.parametrize(
    ("strategy", "why"),
    [
        ("path", "is in the incorrect format"),  # /queue/<region>/<account>/<name>: every apply fails
        ("standard", "not loopback"),  # host sqs.<region>.127.0.0.1: neither loopback nor resolvable
        ("domain", "not loopback"),
    ],
)
def test_the_other_queue_url_strategies_would_break_the_apply_or_the_guard(strategy: str, why: str) -> None:
    env = {**spec().env, "SQS_ENDPOINT_STRATEGY": strategy}
    url = localstack_queue_url(env, "ap-northeast-1", "000000000000", "q")
    if why == "not loopback":
        assert not is_loopback_host(host_of(url))
    else:
        with pytest.raises(ValueError, match=why):
            provider_queue_name(url)


def test_auth_token_is_passed_only_when_set() -> None:
    assert AUTH_TOKEN_VARIABLE not in spec().env
    assert AUTH_TOKEN_VARIABLE not in spec(LOCALSTACK_AUTH_TOKEN="  ").env
    assert spec(LOCALSTACK_AUTH_TOKEN="ls-token").env[AUTH_TOKEN_VARIABLE] == "ls-token"


def test_nothing_else_from_the_host_environment_reaches_the_container() -> None:
    configured = spec(AWS_ACCESS_KEY_ID="AKIAREAL", AWS_SECRET_ACCESS_KEY="secret", AWS_PROFILE="prod")
    assert not [name for name in configured.env if name.startswith("AWS_")]


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({}, "linux", "/var/run/docker.sock"),
        ({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}, "linux", "/run/user/1000/docker.sock"),
        ({"DOCKER_HOST": "unix:///Users/me/.docker/run/docker.sock"}, "darwin", "/var/run/docker.sock"),
        ({"DOCKER_HOST": "tcp://10.0.0.2:2375"}, "linux", "/var/run/docker.sock"),
        (
            {"TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE": "/custom.sock", "DOCKER_HOST": "unix:///x"},
            "linux",
            "/custom.sock",
        ),
    ],
)
def test_docker_socket_path(environ: Mapping[str, str], platform: str, expected: str) -> None:
    assert docker_socket_path(environ, platform) == expected


def test_default_image_is_pinned_and_overridable(tmp_path: Path) -> None:
    assert ":" in DEFAULT_LOCALSTACK_IMAGE
    assert not DEFAULT_LOCALSTACK_IMAGE.endswith(":latest")
    config = HarnessConfig.resolve(
        tmp_path, environ={"S3PIPE_BACKEND": "localstack", "S3PIPE_LOCALSTACK_IMAGE": LAST_TOKENLESS_IMAGE}
    )
    backend = create_backend(config, Progress(write=lambda _line: None))
    assert isinstance(backend, LocalStackBackend)
    assert backend.image == LAST_TOKENLESS_IMAGE


class FakeDockerClient:
    """Stands in for Testcontainers' DockerClient so a container object can be built without Docker."""

    def __init__(self, **_kwargs: Any) -> None:
        self.created: list[Any] = []


def test_build_container_applies_the_spec_without_starting_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    tc_container = pytest.importorskip("testcontainers.core.container")
    tc_network = pytest.importorskip("testcontainers.core.network")
    monkeypatch.setattr(tc_container, "DockerClient", FakeDockerClient)
    monkeypatch.setattr(tc_network, "DockerClient", FakeDockerClient)
    configured = spec(LOCALSTACK_AUTH_TOKEN="ls-token")
    network = tc_network.Network()
    network.name = configured.network

    container = build_container(configured, network)

    assert container.image.endswith(IMAGE)
    assert container.env == dict(configured.env)
    assert container.volumes == {"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}}
    assert container.ports == {"4566/tcp": ("127.0.0.1", 45123)}
    assert container._kwargs == {"labels": {OWNER_LABEL: "s3pipe-localstack-abcd"}}
    assert container._name == "s3pipe-localstack-abcd"
    assert container._network is network
    assert list(container._network_aliases or []) == ["localstack"]
    assert container._container is None  # built, never started


@pytest.mark.parametrize(
    ("code", "lines", "expected"),
    [
        (55, [], True),
        (1, LICENSE_LOG, True),
        (None, ["The license activation failed for the following reason:"], True),
        (1, ["Traceback (most recent call last):", "OSError: [Errno 98] Address in use"], False),
        (0, ["Ready."], False),
    ],
)
def test_license_failure_detection(code: int | None, lines: list[str], expected: bool) -> None:
    assert is_license_failure(code, lines) is expected


# ---------------------------------------------------------------------------- lifecycle with a fake runtime


class FakeContainer:
    def __init__(self, states: list[tuple[str, int | None]], log: list[str]) -> None:
        self.states = states
        self.log = log
        self.removed = 0

    def state(self) -> tuple[str, int | None]:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def logs(self, lines: int) -> list[str]:
        return self.log[-lines:]

    def remove(self) -> None:
        self.removed += 1


class FakeRuntime:
    session_id = "sid-fake"

    def __init__(self, container: FakeContainer) -> None:
        self.container = container
        self.specs: list[ContainerSpec] = []
        self.removed_labels: list[tuple[str, str]] = []
        self.removed_networks: list[str] = []

    def run(self, spec: ContainerSpec) -> FakeContainer:
        self.specs.append(spec)
        return self.container

    def remove_labelled(self, label: str, value: str) -> int:
        self.removed_labels.append((label, value))
        return 2

    def remove_network(self, name: str) -> None:
        self.removed_networks.append(name)


def backend_with(runtime: FakeRuntime, lines: list[str] | None = None, **kwargs: Any) -> LocalStackBackend:
    sink = lines if lines is not None else []
    return LocalStackBackend(
        image=kwargs.pop("image", IMAGE),
        region="ap-northeast-1",
        progress=Progress(write=sink.append),
        environ=kwargs.pop("environ", {}),
        runtime_factory=lambda _environ: runtime,
        **kwargs,
    )


@pytest.fixture
def healthy_after(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Health answers 'not ready' for the first N probes (N = the list's only item), then 'ready'."""
    remaining = [2]

    def probe(url: str, services: Any = REQUIRED_SERVICES, timeout: float = 2.0) -> Health:
        del services, timeout
        if remaining[0] > 0:
            remaining[0] -= 1
            return Health(False, "not ready: lambda=initializing")
        return Health(True, f"{url} ready")

    monkeypatch.setattr(health_module, "probe_health", probe)
    monkeypatch.setattr(localstack, "probe_health", probe)
    return remaining


def test_start_waits_for_health_and_returns_a_loopback_endpoint_with_fake_credentials(
    healthy_after: list[int],
) -> None:
    runtime = FakeRuntime(FakeContainer([("running", None)], ["Ready."]))
    backend = backend_with(runtime, port=45999)

    endpoint = backend.start()

    assert endpoint.url == "http://127.0.0.1:45999"
    assert endpoint.region == "ap-northeast-1"
    assert endpoint.credentials.is_fake
    assert healthy_after == [0]
    assert runtime.specs[0].image == IMAGE
    assert runtime.specs[0].env["LAMBDA_DOCKER_FLAGS"].startswith(f"-l {TESTCONTAINERS_SESSION_LABEL}=sid-fake")
    assert backend.health().healthy
    assert backend.own_hosts == {"localstack", backend.instance}


def test_stop_removes_the_container_its_lambda_containers_and_its_network(healthy_after: list[int]) -> None:
    del healthy_after
    container = FakeContainer([("running", None)], [])
    runtime = FakeRuntime(container)
    lines: list[str] = []
    backend = backend_with(runtime, lines)
    backend.start()

    backend.stop()
    backend.stop()  # idempotent

    assert container.removed == 1
    assert runtime.removed_labels == [(OWNER_LABEL, backend.instance)]
    assert runtime.removed_networks == [f"{backend.instance}-net"]
    assert any("removed 2 Lambda container(s)" in line for line in lines)


def test_stop_keeps_going_when_one_step_fails(healthy_after: list[int]) -> None:
    del healthy_after

    class Stubborn(FakeContainer):
        def remove(self) -> None:
            raise RuntimeError("device busy")

    runtime = FakeRuntime(Stubborn([("running", None)], []))
    lines: list[str] = []
    backend = backend_with(runtime, lines)
    backend.start()
    backend.stop()
    assert runtime.removed_labels
    assert runtime.removed_networks
    assert any("could not remove container" in line and "device busy" in line for line in lines)


def test_detach_leaves_the_container_and_says_ryuk_may_still_reap_it(healthy_after: list[int]) -> None:
    del healthy_after
    container = FakeContainer([("running", None)], [])
    runtime = FakeRuntime(container)
    lines: list[str] = []
    backend = backend_with(runtime, lines)
    backend.start()
    backend.detach()
    backend.stop()
    assert container.removed == 0
    assert runtime.removed_labels == []
    assert any("TESTCONTAINERS_RYUK_DISABLED" in line for line in lines)


def test_exit_code_55_says_which_image_which_token_and_what_to_do_instead() -> None:
    container = FakeContainer([("exited", 55)], LICENSE_LOG)
    runtime = FakeRuntime(container)
    backend = backend_with(runtime, image="localstack/localstack:latest")

    with pytest.raises(LocalStackUnavailable) as raised:
        backend.start()

    message = str(raised.value)
    assert "localstack/localstack:latest refuses to run without a LocalStack account" in message
    assert "exited with code 55" in message
    assert "LOCALSTACK_AUTH_TOKEN is not set" in message
    assert f"--s3pipe-localstack-image {LAST_TOKENLESS_IMAGE}" in message
    assert "--s3pipe-backend embedded" in message
    assert "LocalStack requires an account to run." in message  # the container's own words
    assert container.removed == 1, "a failed start removes its container"
    assert runtime.removed_networks


def test_a_refused_token_is_reported_as_refused() -> None:
    runtime = FakeRuntime(FakeContainer([("exited", 55)], LICENSE_LOG))
    backend = backend_with(runtime, environ={AUTH_TOKEN_VARIABLE: "expired"})
    with pytest.raises(LocalStackUnavailable, match="LOCALSTACK_AUTH_TOKEN is set but was refused"):
        backend.start()
    assert "expired" not in str(runtime.specs[0]), "the token never appears in messages or reprs"


def test_other_early_exits_show_the_exit_code_and_the_last_log_lines() -> None:
    log = ["Starting LocalStack", "ERROR: could not bind 0.0.0.0:4566", "Address already in use"]
    runtime = FakeRuntime(FakeContainer([("exited", 1)], log))
    backend = backend_with(runtime)
    with pytest.raises(EmulatorError) as raised:
        backend.start()
    message = str(raised.value)
    assert "LocalStack exited before it became healthy" in message
    assert "exit code 1" in message
    assert "Address already in use" in message
    assert not isinstance(raised.value, LocalStackUnavailable)


def test_health_timeout_shows_the_last_answer_and_log_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        health_module, "probe_health", lambda *_a, **_k: Health(False, "not ready: lambda=initializing")
    )
    runtime = FakeRuntime(FakeContainer([("running", None)], ["Starting lambda...", "still starting"]))
    backend = backend_with(runtime, start_timeout=0.3)
    with pytest.raises(EmulatorError) as raised:
        backend.start()
    message = str(raised.value)
    assert "did not become healthy within" in message
    assert "lambda=initializing" in message
    assert "still starting" in message
    assert runtime.container.removed == 1


def test_health_before_start_and_after_exit() -> None:
    runtime = FakeRuntime(FakeContainer([("exited", 137)], []))
    backend = backend_with(runtime)
    assert backend.health() == Health(False, "not started")
    backend._container = runtime.container
    backend.spec = spec()
    assert backend.health() == Health(False, "LocalStack container exited with code 137")


# ---------------------------------------------------------------------------- no Docker, no testcontainers


def test_no_docker_engine_fails_with_one_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("testcontainers")
    socket = f"unix://{tmp_path}/no-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", socket)
    backend = LocalStackBackend(image=IMAGE, region="ap-northeast-1")

    with pytest.raises(LocalStackUnavailable) as raised:
        backend.start()

    message = str(raised.value)
    assert message.startswith("No Docker engine answers, so LocalStack cannot be started")
    assert f"DOCKER_HOST={socket}" in message
    assert "no engine answered" in message
    assert "--s3pipe-backend embedded" in message
    assert "Traceback" not in message
    assert raised.value.__suppress_context__, "the docker library's exception chain is not shown"
    assert isinstance(raised.value, HarnessError)


def test_no_docker_host_names_the_default_socket() -> None:
    where = localstack._docker_location({})
    assert where == "unix:///var/run/docker.sock (the default; DOCKER_HOST is not set)"


def test_missing_testcontainers_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "testcontainers.core.docker_client", None)
    with pytest.raises(LocalStackUnavailable) as raised:
        DockerRuntime({})
    message = str(raised.value)
    assert "pip install 's3-event-pipeline[localstack]'" in message
    assert "--s3pipe-backend embedded" in message


def test_the_backend_module_imports_without_testcontainers() -> None:
    source = Path(localstack.__file__).read_text()
    top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in top_level if "testcontainers" in line or "docker" in line]


# ---------------------------------------------------------------------------- the real runtime, faked client


class FakeLambdaContainer:
    def __init__(self, name: str, removed: list[str]) -> None:
        self.name = name
        self._removed = removed

    def remove(self, force: bool, v: bool) -> None:
        assert force
        assert v
        self._removed.append(self.name)


def test_runtime_removes_containers_by_label(monkeypatch: pytest.MonkeyPatch) -> None:
    removed: list[str] = []
    filters_seen: list[Any] = []

    class Containers:
        def list(self, all: bool, filters: dict[str, str]) -> list[FakeLambdaContainer]:
            assert all
            filters_seen.append(filters)
            return [FakeLambdaContainer("fn-1", removed), FakeLambdaContainer("fn-2", removed)]

    class Client:
        def __init__(self, **_kwargs: Any) -> None:
            self.client = type("Inner", (), {"containers": Containers()})()

    pytest.importorskip("testcontainers")
    monkeypatch.setattr("testcontainers.core.docker_client.DockerClient", Client)
    runtime = DockerRuntime({})

    assert runtime.remove_labelled(OWNER_LABEL, "s3pipe-localstack-1") == 2
    assert filters_seen == [{"label": f"{OWNER_LABEL}=s3pipe-localstack-1"}]
    assert removed == ["fn-1", "fn-2"]


def test_running_container_reports_state_exit_code_and_logs() -> None:
    class Wrapped:
        status = "exited"
        attrs: dict[str, Any] = {"State": {"ExitCode": 55}}  # noqa: RUF012

        def reload(self) -> None: ...

        def logs(self, tail: int) -> bytes:
            return "\n".join(LICENSE_LOG[-tail:]).encode()

    class Container:
        def get_wrapped_container(self) -> Wrapped:
            return Wrapped()

    running = localstack._TestcontainersContainer(Container(), KeyError)  # type: ignore[arg-type]
    assert running.state() == ("exited", 55)
    assert running.logs(2) == LICENSE_LOG[-2:]


# ---------------------------------------------------------------------------- capabilities


def test_capabilities_declare_what_localstack_supports() -> None:
    caps = LocalStackBackend.capabilities
    assert {
        Capability.LAMBDA_EXECUTION,
        Capability.PARTIAL_BATCH_RESPONSE,
        Capability.STRICT_BATCH_ITEM_IDENTIFIERS,
        Capability.REDRIVE,
        Capability.LOG_RETRIEVAL,
    } <= caps
    assert Capability.IAM_ENFORCEMENT not in caps  # a paid feature
    assert Capability.MAPPING_TIMEOUT_VALIDATION not in caps
    assert Capability.FUNCTION_ENDPOINT_OVERRIDE not in caps
    assert LocalStackBackend.is_emulator


def test_a_container_that_cannot_start_is_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("testcontainers")

    class Client:
        def __init__(self, **_kwargs: Any) -> None:
            containers = type("Containers", (), {"list": lambda _self, **_k: []})()
            self.client = type("Inner", (), {"containers": containers})()

        def client_networks_create(self, name: str, _param: Any) -> Any:
            raise RuntimeError(f"pull access denied for {name}")

    monkeypatch.setattr("testcontainers.core.docker_client.DockerClient", Client)
    monkeypatch.setattr("testcontainers.core.network.DockerClient", Client)
    runtime = DockerRuntime({})
    with pytest.raises(LocalStackUnavailable) as raised:
        runtime.run(spec())
    message = str(raised.value)
    assert message.startswith(f"Docker could not start a container from {IMAGE}")
    assert "RuntimeError: pull access denied" in message
    assert "S3PIPE_LOCALSTACK_IMAGE" in message
