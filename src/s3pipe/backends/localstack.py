"""Backend ``localstack``: LocalStack in a Docker container, started through Testcontainers.

Testcontainers' stock LocalStack module is not used: it defaults to image 2.0.1, passes no auth
token, waits on a log line and does not mount the Docker socket, so Lambda functions could not
run. Instead a plain ``DockerContainer`` is configured here (:func:`container_spec` is the whole
configuration, as data):

- a pinned, overridable image (``--s3pipe-localstack-image`` / ``S3PIPE_LOCALSTACK_IMAGE``);
- ``LOCALSTACK_AUTH_TOKEN`` passed through when it is set;
- the Docker socket mounted, so LocalStack can start one container per Lambda execution
  environment; those containers join a network of their own (``LAMBDA_DOCKER_NETWORK``), reach
  LocalStack by its IP address there (LocalStack looks it up itself: ``HOSTNAME_FROM_LAMBDA`` is
  deliberately not set, see :func:`container_spec`), and carry two labels: ours, so
  :meth:`LocalStackBackend.stop` removes them, and Testcontainers' session label, so Ryuk reaps
  them if the test process dies;
- port 4566 published on 127.0.0.1 only, on a free port, and queue URLs of the form the aws
  provider can read back (``SQS_ENDPOINT_STRATEGY=off``: ``http://127.0.0.1:<port>/<account>/<name>``);
- start-up waits on ``/_localstack/health`` (not on a log line) and, on failure, shows the
  container's last log lines. An image that refuses to run without an account (exit code 55,
  every ``latest`` since 2026-03-23) gets a message of its own.

Testcontainers and the Docker SDK are imported only when the backend starts, so the package
works without the ``localstack`` extra.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, cast

from s3pipe.backends.base import Backend, Capability, Credentials, Endpoint, Health
from s3pipe.backends.embedded import free_loopback_port
from s3pipe.backends.health import REQUIRED_SERVICES, probe_health, wait_until_healthy
from s3pipe.errors import BackendUnavailable, tail
from s3pipe.progress import Progress, silent

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    from s3pipe.config import HarnessConfig

LOCALSTACK_PORT = 4566
#: The last release that starts without an account: 4.14.0 (2026-02-26). From 2026.03.0 on, and on
#: ``latest`` since 2026-03-23, the image exits with code 55 unless LOCALSTACK_AUTH_TOKEN is set.
LAST_TOKENLESS_TAG = "4.14.0"
LAST_TOKENLESS_IMAGE = f"localstack/localstack:{LAST_TOKENLESS_TAG}"
AUTH_TOKEN_VARIABLE = "LOCALSTACK_AUTH_TOKEN"  # noqa: S105 - a variable name, not a secret
LICENSE_EXIT_CODE = 55
#: What the license check prints before exiting (LocalStack 2026.03+).
LICENSE_LOG_MARKERS = ("license activation failed", "LocalStack requires an account", "exit code 55")

#: Where the Docker socket is mounted inside the LocalStack container.
CONTAINER_DOCKER_SOCKET = "/var/run/docker.sock"
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
SOCKET_OVERRIDE_VARIABLE = "TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE"
#: Label on the LocalStack container and on every Lambda container it starts; value: the instance id.
OWNER_LABEL = "s3pipe.localstack"
TESTCONTAINERS_SESSION_LABEL = "org.testcontainers.session-id"
#: LocalStack's alias on its network (for containers that address it by name; Lambda containers
#: get its IP address, see :func:`container_spec`).
NETWORK_ALIAS = "localstack"
#: How LocalStack builds queue URLs: ``off`` = ``http://<LOCALSTACK_HOST>/<account>/<name>``, the
#: only form both loopback and readable by the aws provider (see :func:`container_spec`).
SQS_ENDPOINT_STRATEGY = "off"
#: Seconds LocalStack waits for a Lambda runtime container to come up (its default, 20, is short
#: for a first start on a CI runner).
LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT = 60


class LocalStackUnavailable(BackendUnavailable):
    """LocalStack cannot run here: no Testcontainers, no Docker engine, or no account for the image."""

    @classmethod
    def testcontainers_missing(cls, detail: str) -> LocalStackUnavailable:
        return cls(
            "The LocalStack backend needs the `testcontainers` package, which is not installed",
            tried="import testcontainers (the optional extra `localstack`)",
            seen=detail,
            fix=(
                "pip install 's3-event-pipeline[localstack]' (testcontainers>=4.8), or use the default "
                "backend: --s3pipe-backend embedded"
            ),
        )

    @classmethod
    def docker_unreachable(cls, where: str, detail: str) -> LocalStackUnavailable:
        return cls(
            "No Docker engine answers, so LocalStack cannot be started",
            tried=f"connect to the Docker engine at {where}",
            seen=[f"no engine answered: {detail}"],
            fix=(
                "start Docker (or point DOCKER_HOST at a running engine), or run without Docker: "
                "--s3pipe-backend embedded (MiniStack as a local process, the default)"
            ),
        )

    @classmethod
    def auth_token_required(
        cls, image: str, exit_code: int | None, token_set: bool, log_tail: Sequence[str]
    ) -> LocalStackUnavailable:
        token = (
            f"{AUTH_TOKEN_VARIABLE} is set but was refused (expired, revoked, or not entitled to this image)"
            if token_set
            else f"{AUTH_TOKEN_VARIABLE} is not set"
        )
        return cls(
            f"LocalStack image {image} refuses to run without a LocalStack account",
            tried=f"start {image} and wait for /_localstack/health",
            seen=[
                f"the container exited with code {exit_code} (license activation failed)",
                token,
                *log_tail,
            ],
            fix=(
                f"set {AUTH_TOKEN_VARIABLE} to a LocalStack auth token (https://app.localstack.cloud/"
                f"settings/auth-tokens); or pin the last release that runs without an account, "
                f"--s3pipe-localstack-image {LAST_TOKENLESS_IMAGE} (S3PIPE_LOCALSTACK_IMAGE); "
                "or use the embedded emulator, which needs neither Docker nor an account: "
                "--s3pipe-backend embedded"
            ),
        )

    @classmethod
    def container_failed(cls, image: str, detail: str) -> LocalStackUnavailable:
        return cls(
            f"Docker could not start a container from {image}",
            tried=f"pull (if missing) and start {image} with port {LOCALSTACK_PORT} on 127.0.0.1",
            seen=detail,
            fix=(
                "check the image name (--s3pipe-localstack-image / S3PIPE_LOCALSTACK_IMAGE), that the "
                "registry is reachable, and that Docker can bind a loopback port; then retry"
            ),
        )


# ---------------------------------------------------------------------------- configuration as data


@dataclass(frozen=True)
class ContainerSpec:
    """Everything Docker is told about the LocalStack container."""

    image: str
    name: str
    instance: str
    network: str
    alias: str
    host_ip: str
    host_port: int
    env: Mapping[str, str] = field(repr=False)  # may hold LOCALSTACK_AUTH_TOKEN
    volumes: tuple[tuple[str, str, str], ...]
    labels: Mapping[str, str]

    @property
    def url(self) -> str:
        return f"http://{self.host_ip}:{self.host_port}"

    @property
    def port_bindings(self) -> dict[str, tuple[str, int]]:
        return {f"{LOCALSTACK_PORT}/tcp": (self.host_ip, self.host_port)}


def docker_socket_path(environ: Mapping[str, str], platform: str = sys.platform) -> str:
    """The engine's socket as a path on the Docker host (what gets mounted into LocalStack).

    ``TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE`` wins (Docker Desktop, Colima: set it to
    /var/run/docker.sock); on Linux a ``unix://`` DOCKER_HOST is the socket itself (rootless
    Docker); otherwise /var/run/docker.sock.
    """
    if override := environ.get(SOCKET_OVERRIDE_VARIABLE, "").strip():
        return override
    docker_host = environ.get("DOCKER_HOST", "").strip()
    if platform.startswith("linux") and docker_host.startswith("unix://"):
        return docker_host.removeprefix("unix://")
    return DEFAULT_DOCKER_SOCKET


def container_spec(
    *,
    image: str,
    instance: str,
    host_port: int,
    session_id: str,
    environ: Mapping[str, str],
) -> ContainerSpec:
    """The LocalStack container for one backend instance (pure: no Docker needed)."""
    network = f"{instance}-net"
    lambda_labels = f"-l {TESTCONTAINERS_SESSION_LABEL}={session_id} -l {OWNER_LABEL}={instance}"
    env = {
        "SERVICES": ",".join(REQUIRED_SERVICES),
        # URLs LocalStack hands out (queue URLs...) point at the published loopback port.
        "LOCALSTACK_HOST": f"127.0.0.1:{host_port}",
        # Queue URLs as `{scheme}://{LOCALSTACK_HOST}/{account}/{name}` (LocalStack 4.14.0,
        # services/sqs/models.py SqsQueue.url: "off" adds no region part). The aws provider (v5,
        # internal/service/sqs/queue.go queueNameFromURL) reads the queue's name back from its URL
        # on every read and accepts exactly two path segments, else "SQS Queue URL (...) is in the
        # incorrect format": "path" (/queue/<region>/<account>/<name>) fails every apply, and the
        # default "standard" (host sqs.<region>.127.0.0.1) is no loopback host for the guard.
        "SQS_ENDPOINT_STRATEGY": SQS_ENDPOINT_STRATEGY,
        "MAIN_CONTAINER_NAME": instance,
        # Lambda: sibling containers through the mounted socket, on our network, labelled.
        "DOCKER_HOST": f"unix://{CONTAINER_DOCKER_SOCKET}",
        # Lambda containers reach LocalStack at its IP address on this network. HOSTNAME_FROM_LAMBDA
        # is deliberately not set: LocalStack 4.14.0 uses it as the Lambda container's DNS server
        # when its DNS server runs, the default (lambda_/networking.py get_main_endpoint_from_container,
        # invocation/docker_runtime_executor.py `container_config.dns`), and the Docker Engine refuses
        # to start a container whose nameserver is not an IP address ("bad nameserver address",
        # moby libnetwork/sandbox_dns_unix.go). Unset, LocalStack uses its own IP on the first
        # network of LAMBDA_DOCKER_NETWORK, for the DNS server and for AWS_ENDPOINT_URL alike.
        "LAMBDA_DOCKER_NETWORK": network,
        "LAMBDA_DOCKER_FLAGS": lambda_labels,
        "LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT": str(LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT),
        "LAMBDA_REMOVE_CONTAINERS": "1",
    }
    if token := environ.get(AUTH_TOKEN_VARIABLE, "").strip():
        env[AUTH_TOKEN_VARIABLE] = token
    return ContainerSpec(
        image=image,
        name=instance,
        instance=instance,
        network=network,
        alias=NETWORK_ALIAS,
        host_ip="127.0.0.1",
        host_port=host_port,
        env=env,
        volumes=((docker_socket_path(environ), CONTAINER_DOCKER_SOCKET, "rw"),),
        labels={OWNER_LABEL: instance},
    )


def is_license_failure(exit_code: int | None, log_lines: Sequence[str]) -> bool:
    """Did the container stop because the image needs an account (exit 55 or the license message)?"""
    if exit_code == LICENSE_EXIT_CODE:
        return True
    text = "\n".join(log_lines).lower()
    return any(marker.lower() in text for marker in LICENSE_LOG_MARKERS)


def build_container(spec: ContainerSpec, network: Network | None = None) -> DockerContainer:
    """A Testcontainers ``DockerContainer`` configured from ``spec`` (not started)."""
    from testcontainers.core.container import DockerContainer

    container = DockerContainer(spec.image).with_name(spec.name)
    for key, value in spec.env.items():
        container.with_env(key, value)
    for host, inside, mode in spec.volumes:
        container.with_volume_mapping(host, inside, mode)
    # Testcontainers types ports as {port: host_port}; Docker also takes (host_ip, host_port).
    cast("dict[str, object]", container.ports).update(spec.port_bindings)
    container.with_kwargs(labels=dict(spec.labels))
    if network is not None:
        container.with_network(network).with_network_aliases(spec.alias)
    return container


# ---------------------------------------------------------------------------- Docker, behind a seam


class RunningContainer(Protocol):
    def state(self) -> tuple[str, int | None]:
        """Docker status (``running``, ``exited``...) and the exit code once stopped."""

    def logs(self, lines: int) -> list[str]: ...

    def remove(self) -> None: ...


class ContainerRuntime(Protocol):
    session_id: str

    def run(self, spec: ContainerSpec) -> RunningContainer: ...

    def remove_labelled(self, label: str, value: str) -> int:
        """Remove every container carrying ``label=value``; return how many."""

    def remove_network(self, name: str) -> None: ...


def _docker_errors() -> tuple[type[Exception], type[Exception]]:
    errors: Any = importlib.import_module("docker.errors")
    return errors.DockerException, errors.NotFound


def _docker_location(environ: Mapping[str, str]) -> str:
    if host := environ.get("DOCKER_HOST", "").strip():
        return f"DOCKER_HOST={host}"
    return f"unix://{DEFAULT_DOCKER_SOCKET} (the default; DOCKER_HOST is not set)"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


class _TestcontainersContainer:
    def __init__(self, container: DockerContainer, not_found: type[Exception]) -> None:
        self._container = container
        self._not_found = not_found

    def state(self) -> tuple[str, int | None]:
        wrapped = self._container.get_wrapped_container()
        wrapped.reload()
        status = str(wrapped.status)
        if status in {"exited", "dead"}:
            code = wrapped.attrs.get("State", {}).get("ExitCode")
            return status, int(code) if code is not None else None
        return status, None

    def logs(self, lines: int) -> list[str]:
        raw = self._container.get_wrapped_container().logs(tail=lines)
        return bytes(raw).decode("utf-8", "replace").splitlines()

    def remove(self) -> None:
        with contextlib.suppress(self._not_found):
            self._container.stop(force=True, delete_volume=True)


class DockerRuntime:
    """The real runtime: Testcontainers and the Docker SDK, connected on construction."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        try:
            from testcontainers.core.docker_client import DockerClient
            from testcontainers.core.labels import SESSION_ID
        except ImportError as error:
            raise LocalStackUnavailable.testcontainers_missing(_one_line(error)) from None
        docker_exception, self._not_found = _docker_errors()
        self.session_id = SESSION_ID
        self._environ = environ
        try:
            self._client = DockerClient()
        except (docker_exception, OSError) as error:
            raise LocalStackUnavailable.docker_unreachable(_docker_location(environ), _one_line(error)) from None
        self._networks: dict[str, Network] = {}

    def run(self, spec: ContainerSpec) -> RunningContainer:
        from testcontainers.core.network import Network

        try:
            network = Network()
            network.name = spec.network
            network.create()
            self._networks[spec.network] = network
            container = build_container(spec, network)
            container.start()
        except Exception as error:  # Docker, registry or Ryuk failures: one message, no library traceback
            with contextlib.suppress(Exception):
                self.remove_labelled(OWNER_LABEL, spec.instance)
                self.remove_network(spec.network)
            raise LocalStackUnavailable.container_failed(
                spec.image, f"{type(error).__name__}: {_one_line(error)}"
            ) from None
        return _TestcontainersContainer(container, self._not_found)

    def remove_labelled(self, label: str, value: str) -> int:
        removed = 0
        for container in self._client.client.containers.list(all=True, filters={"label": f"{label}={value}"}):
            try:
                container.remove(force=True, v=True)
                removed += 1
            except self._not_found:
                pass
        return removed

    def remove_network(self, name: str) -> None:
        network = self._networks.pop(name, None)
        if network is None:
            return
        with contextlib.suppress(self._not_found, AssertionError):
            network.remove()


# ---------------------------------------------------------------------------- the backend


class LocalStackBackend(Backend):
    """LocalStack on a loopback port, in a container started through Testcontainers."""

    name: ClassVar[str] = "localstack"
    # Evidence (LocalStack sources, 4.x): the SQS poller of the event source mapping deletes only
    # the messages not listed in batchItemFailures, and treats a missing/empty/unknown itemIdentifier
    # as a failure of the whole batch (pollers/poller.py parse_batch_item_failures, sqs_poller.py);
    # SQS moves messages to the DLQ after maxReceiveCount (sqs/models.py); Lambda output reaches
    # CloudWatch Logs. Not declared: MAPPING_TIMEOUT_VALIDATION (validate_event_source_mapping does
    # not compare the queue's visibility timeout with the function timeout); IAM_ENFORCEMENT (a paid
    # feature); FUNCTION_ENDPOINT_OVERRIDE (the function runs in its own container, where the
    # harness's loopback fault-injection endpoints do not exist); FAST_REDEPLOY (a container per
    # session, no warm reuse); S3_EVENT_SEQUENCER_ORDER (4.14.0 services/s3/notifications.py stamps
    # every event with the same constant sequencer, "0055AED6DCD90281E5"); S3_EVENT_KEY_PLUS_ENCODING
    # (the same file encodes event keys with urllib.parse.quote: a space is %20, AWS writes +).
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.LAMBDA_EXECUTION,
            Capability.PARTIAL_BATCH_RESPONSE,
            Capability.STRICT_BATCH_ITEM_IDENTIFIERS,
            Capability.NULL_FAILURE_LIST_IS_SUCCESS,
            Capability.REDRIVE,
            Capability.LOG_RETRIEVAL,
            # docs.localstack.cloud/aws/capabilities/config/credentials: an arbitrary alphanumeric key
            # (test, DUMMY) is account 000000000000's, and the secret is ignored
            Capability.ANY_CALLER_CREDENTIALS,
        }
    )
    owns_emulator: ClassVar[bool] = True

    @classmethod
    def from_config(cls, config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Self:
        return cls(
            image=config.localstack_image,
            region=config.region,
            start_timeout=config.start_timeout,
            port=config.port if port is None else port,
            progress=progress,
        )

    def __init__(
        self,
        *,
        image: str,
        region: str,
        start_timeout: float = 60.0,
        port: int = 0,
        progress: Progress | None = None,
        environ: Mapping[str, str] | None = None,
        runtime_factory: Callable[[Mapping[str, str]], ContainerRuntime] = DockerRuntime,
    ) -> None:
        self.image = image
        self.region = region
        self.start_timeout = start_timeout
        self.requested_port = port
        self.progress = progress or silent()
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.runtime_factory = runtime_factory
        self.instance = f"s3pipe-localstack-{secrets.token_hex(4)}"
        self.spec: ContainerSpec | None = None
        self._runtime: ContainerRuntime | None = None
        self._container: RunningContainer | None = None
        self._detached = False

    @property
    def url(self) -> str:
        if self.spec is None:
            raise RuntimeError("the localstack backend has not been started")
        return self.spec.url

    @property
    def own_hosts(self) -> frozenset[str]:
        """Its alias and container name on its Docker network (allowed by the guard)."""
        return frozenset({NETWORK_ALIAS, self.instance})

    def start(self) -> Endpoint:
        runtime = self.runtime_factory(self.environ)
        self._runtime = runtime
        spec = container_spec(
            image=self.image,
            instance=self.instance,
            host_port=self.requested_port or free_loopback_port(),
            session_id=runtime.session_id,
            environ=self.environ,
        )
        self.spec = spec
        token = "with" if AUTH_TOKEN_VARIABLE in spec.env else "without"
        self.progress.stage("emulator", f"LocalStack {spec.image} on {spec.url} ({token} {AUTH_TOKEN_VARIABLE})")
        started = time.monotonic()
        try:
            self._container = runtime.run(spec)
            wait_until_healthy(
                "LocalStack",
                spec.url,
                timeout=self.start_timeout,
                exit_code=self._exit_code,
                log_tail=lambda: self.logs(20),
                log_path=f"container {spec.name} (removed after this failure; its last lines follow)",
                interval=0.5,
            )
        except BaseException:
            self.stop()
            raise
        self.progress.done("emulator", time.monotonic() - started, f"LocalStack on {spec.url} ({spec.name})")
        return Endpoint(spec.url, self.region, Credentials.fake())

    def _exit_code(self) -> int | None:
        if self._container is None:
            return None
        status, code = self._container.state()
        if status not in {"exited", "dead"}:
            return None
        lines = self.logs(40)
        if is_license_failure(code, lines):
            raise LocalStackUnavailable.auth_token_required(
                self.image, code, AUTH_TOKEN_VARIABLE in (self.spec.env if self.spec else {}), tail(lines, 12)
            )
        return code if code is not None else -1

    def health(self) -> Health:
        if self._container is None or self.spec is None:
            return Health(False, "not started")
        status, code = self._container.state()
        if status in {"exited", "dead"}:
            return Health(False, f"LocalStack container {status} with code {code}")
        return probe_health(self.spec.url)

    def logs(self, tail_lines: int = 200) -> list[str]:
        if self._container is None:
            return []
        try:
            return tail(self._container.logs(tail_lines), tail_lines)
        except Exception as error:  # logs are best effort: the container may be gone
            return [f"(could not read the container log: {_one_line(error)})"]

    def detach(self) -> None:
        """Keep the container after this session; note that Ryuk still reaps it when the process exits."""
        self._detached = True
        if self.spec is not None:
            self.progress.stage(
                "keep",
                f"LocalStack container {self.spec.name} is left running; Testcontainers' Ryuk removes it "
                "when this process exits unless TESTCONTAINERS_RYUK_DISABLED=true",
            )

    def stop(self) -> None:
        """Remove the LocalStack container, the Lambda containers it started (by label), and its network."""
        container, self._container = self._container, None
        runtime, spec = self._runtime, self.spec
        if self._detached or runtime is None or spec is None:
            return
        self._runtime = None
        steps: list[tuple[str, Callable[[], object]]] = [
            (
                f"Lambda containers labelled {OWNER_LABEL}={self.instance}",
                lambda: self._remove_spawned(runtime),
            ),
            (f"network {spec.network}", lambda: runtime.remove_network(spec.network)),
        ]
        if container is not None:
            steps.insert(0, (f"container {spec.name}", container.remove))
        for what, step in steps:
            try:
                step()
            except Exception as error:  # keep cleaning up; say what is left behind
                self.progress.stage("emulator", f"could not remove {what}: {_one_line(error)}")

    def _remove_spawned(self, runtime: ContainerRuntime) -> None:
        removed = runtime.remove_labelled(OWNER_LABEL, self.instance)
        if removed:
            self.progress.stage("emulator", f"removed {removed} Lambda container(s) of {self.instance}")

    def __repr__(self) -> str:
        return f"LocalStackBackend(image={self.image!r}, url={self.spec.url if self.spec else None!r})"
