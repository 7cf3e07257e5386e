"""Warm reuse decisions and session close, with a fake record, backend and deployer (nothing is started)."""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import pytest
from botocore.exceptions import ClientError

from s3pipe.backends.base import Backend, Capability, Credentials, Endpoint, Health, Probes
from s3pipe.backends.embedded import EmbeddedBackend
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, StackRecord, StackSettings, settings_hash
from s3pipe.lambda_zip import build_lambda_zip
from s3pipe.progress import Progress
from s3pipe.session import AttachedBackend, StackSession
from s3pipe.stack import Stack, StackOutputs
from s3pipe.terraform.workspace import content_hash, module_files

URL = "http://127.0.0.1:45999"
REGION = "ap-northeast-1"
EMULATOR_PID = 424_242
OTHER_SESSION_PID = 515_151


def _closed_loopback_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


#: Where a recorded function gateway would be (nothing listens: a lookup of its journal fails at once).
GATEWAY_URL = _closed_loopback_url()


def outputs(prefix: str = "s3p-dev-abc123") -> dict[str, Any]:
    names = {
        "bucket": f"{prefix}-raw-logs",
        "queue": f"{prefix}-queue",
        "dlq": f"{prefix}-dlq",
        "function": f"{prefix}-ingest",
        "table": f"{prefix}-server-logs",
    }
    arn = "arn:aws:{}:ap-northeast-1:000000000000:{}"
    return {
        "region": REGION,
        "name_prefix": prefix,
        "bucket_name": names["bucket"],
        "bucket_arn": f"arn:aws:s3:::{names['bucket']}",
        "queue_name": names["queue"],
        "queue_url": f"{URL}/000000000000/{names['queue']}",
        "queue_arn": arn.format("sqs", names["queue"]),
        "dlq_name": names["dlq"],
        "dlq_url": f"{URL}/000000000000/{names['dlq']}",
        "dlq_arn": arn.format("sqs", names["dlq"]),
        "function_name": names["function"],
        "function_arn": arn.format("lambda", f"function:{names['function']}"),
        "role_name": names["function"],
        "role_arn": f"arn:aws:iam::000000000000:role/{names['function']}",
        "table_name": names["table"],
        "table_arn": arn.format("dynamodb", f"table/{names['table']}"),
        "log_group_name": f"/aws/lambda/{names['function']}",
        "event_source_mapping_uuid": "uuid-1",
        "accepted_suffixes": [".json", ".jsonl", ".log", ".gz"],
        "visibility_timeout_seconds": 10,
        "max_receive_count": 3,
        "lambda_timeout": 10,
    }


class FakeBackend(Backend):
    """Records what the session does with it."""

    name: ClassVar[str] = "fake"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.LAMBDA_EXECUTION, Capability.REDRIVE})
    is_emulator: ClassVar[bool] = True
    instances: ClassVar[list[FakeBackend]] = []

    def __init__(self) -> None:
        self.calls: list[str] = []
        FakeBackend.instances.append(self)

    @classmethod
    def from_config(cls, config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Self:
        return cls()

    @property
    def pid(self) -> int | None:
        return EMULATOR_PID

    @property
    def log_file(self) -> str | None:
        return "/s/logs/fake.log"

    def start(self) -> Endpoint:
        self.calls.append("start")
        return Endpoint(URL, REGION, Credentials.fake())

    def health(self) -> Health:
        return Health(True, "fake")

    def detach(self) -> None:
        self.calls.append("detach")

    def stop(self) -> None:
        self.calls.append("stop")


class FakeEmbedded(FakeBackend):
    """Behaves like ``embedded``: owns its emulator, reusable warm, function gateway; its real reuse checks."""

    name: ClassVar[str] = "embedded"
    owns_emulator: ClassVar[bool] = True
    supports_warm_reuse: ClassVar[bool] = True
    has_function_gateway: ClassVar[bool] = True

    @classmethod
    def reuse_problem(cls, record: StackRecord, probes: Probes) -> str | None:
        return EmbeddedBackend.reuse_problem(record, probes)


class FakeExternal(FakeBackend):
    """Behaves like ``external``: reusable warm, its resources outlive the session."""

    name: ClassVar[str] = "external"
    supports_warm_reuse: ClassVar[bool] = True


class RealResourcesBackend(FakeBackend):
    name: ClassVar[str] = "aws"
    is_emulator: ClassVar[bool] = False


#: The stand-in for each configured backend name.
FAKES: dict[str, type[FakeBackend]] = {"embedded": FakeEmbedded, "external": FakeExternal}


class FakeDeployer(Deployer):
    """Terraform replaced: records each deploy, writes the record a real deploy writes, returns a Stack."""

    def __init__(self, config: HarnessConfig, progress: Progress) -> None:
        super().__init__(config, progress)
        self.deploys: list[dict[str, Any]] = []
        self.destroyed: list[str] = []
        self.destroy_error: Exception | None = None

    def deploy(
        self,
        stack_name: str,
        backend: Backend,
        endpoint: Endpoint,
        settings: StackSettings,
        extra_files: Mapping[str, bytes] | None = None,
    ) -> Stack:
        workspace = self.workspace(stack_name)
        self.deploys.append({"backend": backend, "settings": settings, "stale_state": workspace.state_path.exists()})
        workspace.root.mkdir(parents=True, exist_ok=True)
        result = outputs(settings.name_prefix)
        current_record(self.config, settings, owner_pid=os.getpid(), outputs_=result).save(workspace.record_path)
        return Stack(stack_name, StackOutputs.from_terraform(result), endpoint, backend.name, backend.capabilities)

    def destroy(self, stack_name: str, endpoint: Endpoint) -> None:
        self.destroyed.append(f"destroy {stack_name} {endpoint.url}")
        if self.destroy_error is not None:
            raise self.destroy_error


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "main.tf").write_text('resource "aws_sqs_queue" "q" {}\n')
    (tmp_path / "lambda" / "log_ingest").mkdir(parents=True)
    (tmp_path / "lambda" / "log_ingest" / "handler.py").write_text("def handler(event, context):\n    return {}\n")
    return tmp_path


@pytest.fixture
def config(project: Path) -> HarnessConfig:
    return HarnessConfig.resolve(project, environ={"S3PIPE_BACKEND": "embedded"})


@pytest.fixture
def external_config(project: Path) -> HarnessConfig:
    """Backend 'external': warm reuse without the embedded backend's emulator and gateway checks."""
    return HarnessConfig.resolve(project, environ={"S3PIPE_BACKEND": "external", "S3PIPE_ENDPOINT_URL": URL})


@pytest.fixture
def progress_lines() -> list[str]:
    return []


@pytest.fixture
def alive() -> set[int]:
    """Pids the fake ``pid_alive`` reports as running (the emulator's by default)."""
    return {EMULATOR_PID}


@pytest.fixture
def probes() -> dict[str, Health]:
    """Health answers per URL for the fake probes (endpoint and gateway); unknown URLs do not answer."""
    return {URL: Health(True, "version 1.5.33, 8 services"), GATEWAY_URL: Health(True, "gateway")}


@pytest.fixture
def fake_backends() -> list[FakeBackend]:
    FakeBackend.instances = []
    return FakeBackend.instances


@pytest.fixture
def deployer(config: HarnessConfig) -> FakeDeployer:
    return FakeDeployer(config, Progress())


@pytest.fixture
def deploys(deployer: FakeDeployer) -> list[dict[str, Any]]:
    return deployer.deploys


class SessionFactory(Protocol):
    def __call__(
        self, config: HarnessConfig, *, backend_class: type[Backend] | None = None, **kwargs: Any
    ) -> StackSession: ...


@pytest.fixture
def make_session(
    progress_lines: list[str], alive: set[int], probes: dict[str, Health], deployer: FakeDeployer
) -> SessionFactory:
    """Sessions on the fakes: stand-in probes, Terraform replaced, a fake backend per configured name."""

    def probe(url: str) -> Health:
        return probes.get(url, Health(False, "URLError: refused"))

    fake_probes = Probes(pid_alive=lambda pid: pid in alive, health=probe, gateway=probe)

    def make(config: HarnessConfig, *, backend_class: type[Backend] | None = None, **kwargs: Any) -> StackSession:
        deployer.config = config
        return StackSession(
            config,
            Progress(write=progress_lines.append),
            "dev",
            backend_class=backend_class or FAKES[config.backend],
            deployer=deployer,
            probes=fake_probes,
            **kwargs,
        )

    return make


def current_record(
    config: HarnessConfig,
    settings: StackSettings | None = None,
    *,
    outputs_: dict[str, Any] | None = None,
    **changes: Any,
) -> StackRecord:
    """A record that matches the project as it is now (so only ``changes`` make it stale)."""
    settings = settings or StackSettings(name_prefix="s3p-dev-abc123")
    infra = config.path(config.infra_dir)
    workspace = Deployer(config, Progress()).workspace("dev")
    artifact = build_lambda_zip(config.path(config.lambda_dir), workspace.root.parent / "probe" / "lambda.zip")
    values: dict[str, Any] = {
        "name": "dev",
        "backend": config.backend,
        "endpoint_url": URL,
        "region": REGION,
        "infra_hash": content_hash(module_files(infra), infra),
        "lambda_sha256": artifact.sha256,
        "settings_hash": settings_hash(settings.to_variables(REGION, workspace.artifacts / "lambda.zip")),
        "outputs": outputs_ or outputs(settings.name_prefix),
        "emulator_pid": EMULATOR_PID,
        "emulator_log": "/s/logs/ministack.log",
        "owner_pid": None,
    }
    if config.backend == "embedded" and "gateway_url" in {f.name for f in dataclasses.fields(StackRecord)}:
        values["gateway_url"] = GATEWAY_URL  # the embedded backend records its function gateway
    values.update(changes)
    return StackRecord(**values)


def save(config: HarnessConfig, record: StackRecord) -> Path:
    workspace = Deployer(config, Progress()).workspace("dev")
    workspace.root.mkdir(parents=True, exist_ok=True)
    record.save(workspace.record_path)
    return workspace.record_path


SETTINGS = StackSettings(name_prefix="s3p-dev-abc123")


# ---------------------------------------------------------------------------- evaluate_reuse


@pytest.mark.usefixtures("alive", "probes")
def test_no_record_is_not_reusable(make_session: SessionFactory, config: HarnessConfig) -> None:
    decision = make_session(config).evaluate_reuse(None, SETTINGS)
    assert (decision.reusable, decision.reason) == (False, "no warm stack recorded")


@pytest.mark.usefixtures("alive", "probes")
def test_a_record_of_another_backend_is_not_reusable(make_session: SessionFactory, config: HarnessConfig) -> None:
    record = current_record(config, backend="localstack")
    decision = make_session(config).evaluate_reuse(record, SETTINGS)
    assert not decision.reusable
    assert decision.reason == "recorded stack runs on backend 'localstack'"


@pytest.mark.usefixtures("alive", "probes")
def test_a_record_without_endpoint_is_not_reusable(make_session: SessionFactory, config: HarnessConfig) -> None:
    decision = make_session(config).evaluate_reuse(current_record(config, endpoint_url=None), SETTINGS)
    assert not decision.reusable
    assert "no endpoint" in decision.reason


@pytest.mark.usefixtures("probes")
def test_a_dead_emulator_is_not_reusable(make_session: SessionFactory, config: HarnessConfig, alive: set[int]) -> None:
    alive.clear()
    decision = make_session(config).evaluate_reuse(current_record(config), SETTINGS)
    assert not decision.reusable
    assert decision.reason == f"its emulator (pid {EMULATOR_PID}) is gone"


@pytest.mark.usefixtures("alive")
def test_an_endpoint_that_does_not_answer_is_not_reusable(
    make_session: SessionFactory, config: HarnessConfig, probes: dict[str, Health]
) -> None:
    probes[URL] = Health(False, "not ready: lambda=absent")
    decision = make_session(config).evaluate_reuse(current_record(config), SETTINGS)
    assert not decision.reusable
    assert decision.reason == f"{URL} does not answer (not ready: lambda=absent)"


@pytest.mark.usefixtures("probes")
def test_a_stack_owned_by_another_live_session_is_not_reusable(
    make_session: SessionFactory, config: HarnessConfig, alive: set[int]
) -> None:
    alive.add(OTHER_SESSION_PID)
    record = current_record(config, owner_pid=OTHER_SESSION_PID)
    decision = make_session(config).evaluate_reuse(record, SETTINGS)
    assert not decision.reusable
    assert decision.reason == f"it is in use by another live session (pid {OTHER_SESSION_PID})"


@pytest.mark.usefixtures("alive", "probes")
@pytest.mark.parametrize("owner", [OTHER_SESSION_PID, "self"])
def test_a_dead_owner_or_this_process_does_not_block_reuse(
    make_session: SessionFactory, config: HarnessConfig, owner: object
) -> None:
    owner_pid = os.getpid() if owner == "self" else OTHER_SESSION_PID  # the other one is not alive
    decision = make_session(config).evaluate_reuse(current_record(config, owner_pid=owner_pid), SETTINGS)
    assert (decision.reusable, decision.reason) == (True, "unchanged")


@pytest.mark.usefixtures("alive", "probes")
def test_changed_infra_is_not_reusable(make_session: SessionFactory, config: HarnessConfig) -> None:
    record = current_record(config)
    (config.path(config.infra_dir) / "extra.tf").write_text('resource "aws_sqs_queue" "r" {}\n')
    decision = make_session(config).evaluate_reuse(record, SETTINGS)
    assert not decision.reusable
    assert "infra/ changed" in decision.reason


@pytest.mark.usefixtures("alive", "probes")
def test_changed_settings_are_not_reusable(make_session: SessionFactory, config: HarnessConfig) -> None:
    record = current_record(config)
    decision = make_session(config).evaluate_reuse(
        record, StackSettings(name_prefix="s3p-dev-abc123", max_receive_count=5)
    )
    assert (decision.reusable, decision.reason) == (False, "stack settings changed")


@pytest.mark.usefixtures("alive", "probes")
def test_a_changed_handler_redeploys_the_function_only(make_session: SessionFactory, config: HarnessConfig) -> None:
    record = current_record(config)
    (config.path(config.lambda_dir) / "log_ingest" / "handler.py").write_text("def handler(e, c):\n    return 1\n")
    decision = make_session(config).evaluate_reuse(record, SETTINGS)
    assert decision.reusable
    assert decision.lambda_only
    assert "handler changed" in decision.reason


@pytest.mark.usefixtures("alive", "probes")
def test_extra_files_count_as_a_handler_change(make_session: SessionFactory, config: HarnessConfig) -> None:
    session = make_session(config, extra_files={"f.py": b"x"})
    decision = session.evaluate_reuse(current_record(config), SETTINGS)
    assert decision.lambda_only


@pytest.mark.usefixtures("alive", "probes")
def test_an_unchanged_stack_is_reusable(make_session: SessionFactory, config: HarnessConfig) -> None:
    decision = make_session(config).evaluate_reuse(current_record(config), SETTINGS)
    assert (decision.reusable, decision.reason, decision.lambda_only) == (True, "unchanged", False)


@pytest.mark.usefixtures("probes")
def test_external_backend_does_not_check_the_emulator_pid(
    make_session: SessionFactory, project: Path, alive: set[int]
) -> None:
    alive.clear()
    config = HarnessConfig.resolve(project, environ={"S3PIPE_BACKEND": "external", "S3PIPE_ENDPOINT_URL": URL})
    record = current_record(config, backend="external", emulator_pid=None)
    decision = make_session(config).evaluate_reuse(record, SETTINGS)
    assert decision.reusable


# ---------------------------------------------------------------------------- open


@pytest.mark.usefixtures("alive", "probes")
def test_open_without_record_starts_a_backend_and_deploys(
    make_session: SessionFactory,
    config: HarnessConfig,
    progress_lines: list[str],
    fake_backends: list[FakeBackend],
    deploys: list[dict[str, Any]],
) -> None:
    session = make_session(config)
    stack = session.open()
    [backend] = fake_backends
    assert backend.calls == ["start"]
    assert len(deploys) == 1
    assert stack.outputs.name_prefix.startswith("s3p-dev-")
    assert not any("not reusing" in line for line in progress_lines)


def leave_state(config: HarnessConfig) -> Path:
    """What an earlier run leaves: state, its backup and an initialised working copy, but no record."""
    workspace = Deployer(config, Progress()).workspace("dev")
    (workspace.workdir / ".terraform").mkdir(parents=True)
    workspace.state_path.write_text('{"resources": ["from an emulator that is gone"]}')
    workspace.state_path.with_name("terraform.tfstate.backup").write_text("{}")
    return workspace.root


@pytest.mark.usefixtures("fake_backends")
def test_a_new_emulator_is_never_applied_with_state_left_by_an_earlier_run(
    make_session: SessionFactory, config: HarnessConfig, deploys: list[dict[str, Any]]
) -> None:
    root = leave_state(config)
    make_session(config).open()
    assert [call["stale_state"] for call in deploys] == [False]
    assert not (root / "terraform.tfstate.backup").exists()
    assert (root / "work" / ".terraform").is_dir()  # `terraform init` stays valid: no repeated init


@pytest.mark.usefixtures("fake_backends")
def test_an_external_endpoint_keeps_its_state(
    make_session: SessionFactory,
    external_config: HarnessConfig,
    deploys: list[dict[str, Any]],
) -> None:
    leave_state(external_config)
    make_session(external_config).open()
    assert [call["stale_state"] for call in deploys] == [True]  # its resources outlive this session


@pytest.mark.usefixtures("alive", "probes")
def test_open_reuses_an_unchanged_warm_stack_without_deploying(
    make_session: SessionFactory,
    external_config: HarnessConfig,
    progress_lines: list[str],
    fake_backends: list[FakeBackend],
    deploys: list[dict[str, Any]],
) -> None:
    save(external_config, current_record(external_config))
    session = make_session(external_config)
    stack = session.open()
    assert deploys == []
    assert all(backend.calls == [] for backend in fake_backends)
    assert isinstance(session.backend, AttachedBackend)
    assert stack.backend == FakeExternal.name
    assert stack.capabilities == FakeExternal.capabilities
    assert stack.outputs.name_prefix == "s3p-dev-abc123"
    assert any("warm stack 'dev'" in line and "unchanged" in line for line in progress_lines)


class FakeLambda:
    """Records code updates; reports the update in progress once, then successful."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, int]] = []
        self.polls = 0

    def update_function_code(self, *, FunctionName: str, ZipFile: bytes) -> dict[str, Any]:  # noqa: N803
        self.updates.append((FunctionName, len(ZipFile)))
        return {}

    def get_function_configuration(self, *, FunctionName: str) -> dict[str, Any]:  # noqa: N803
        self.polls += 1
        return {"LastUpdateStatus": "InProgress" if self.polls == 1 else "Successful"}


@pytest.mark.usefixtures("alive", "probes")
def test_open_with_a_changed_handler_syncs_the_code_without_terraform(  # noqa: PLR0917 - fixtures
    make_session: SessionFactory,
    external_config: HarnessConfig,
    progress_lines: list[str],
    fake_backends: list[FakeBackend],
    deploys: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeLambda()
    monkeypatch.setattr(Stack, "lambda_", property(lambda _self: fake))
    save(external_config, current_record(external_config))
    (external_config.path(external_config.lambda_dir) / "log_ingest" / "handler.py").write_text(
        "def handler(e, c):\n    return 2\n"
    )

    stack = make_session(external_config).open()

    assert deploys == []  # no terraform run
    assert [name for name, _size in fake.updates] == [stack.outputs.function_name]
    assert fake.polls == 2  # waited for LastUpdateStatus=Successful
    assert stack.outputs.name_prefix == "s3p-dev-abc123"  # the warm stack keeps its prefix
    assert all("start" not in backend.calls for backend in fake_backends)
    record = record_on_disk(external_config)
    assert record is not None
    assert record.code_synced_sha256 == record.lambda_sha256
    assert any("code sync" in line for line in progress_lines)


@pytest.mark.usefixtures("probes")
def test_open_replaces_a_stale_stack_and_says_why(  # noqa: PLR0917 - fixtures
    make_session: SessionFactory,
    config: HarnessConfig,
    progress_lines: list[str],
    alive: set[int],
    fake_backends: list[FakeBackend],
    deploys: list[dict[str, Any]],
) -> None:
    alive.clear()
    save(config, current_record(config))
    make_session(config).open()
    assert any("not reusing stack 'dev'" in line and "is gone" in line for line in progress_lines)
    [call] = deploys
    assert call["settings"].name_prefix != "s3p-dev-abc123"  # a fresh stack gets a fresh prefix
    assert fake_backends[-1].calls == ["start"]


# ---------------------------------------------------------------------------- close


def record_on_disk(config: HarnessConfig) -> StackRecord | None:
    return StackRecord.load(Deployer(config, Progress()).workspace("dev").record_path)


@pytest.mark.usefixtures("alive", "probes", "deploys")
def test_close_without_keep_stops_the_backend_it_started_and_forgets_the_record(
    make_session: SessionFactory, config: HarnessConfig, fake_backends: list[FakeBackend]
) -> None:
    session = make_session(config)
    session.open()
    state = Deployer(config, Progress()).workspace("dev").state_path
    state.write_text("{}")  # what the apply left
    session.close(keep=False)
    assert fake_backends[-1].calls == ["start", "stop"]
    assert record_on_disk(config) is None
    assert not state.exists()  # its resources died with the emulator
    assert session.backend is None
    session.close(keep=False)  # idempotent
    assert fake_backends[-1].calls == ["start", "stop"]


@pytest.mark.usefixtures("alive", "probes", "deploys")
def test_close_with_keep_detaches_and_clears_the_owner(
    make_session: SessionFactory, config: HarnessConfig, progress_lines: list[str], fake_backends: list[FakeBackend]
) -> None:
    session = make_session(config)
    session.open()
    before = record_on_disk(config)
    assert before is not None
    assert before.owner_pid == os.getpid()

    session.close(keep=True)

    assert fake_backends[-1].calls == ["start", "detach"]
    after = record_on_disk(config)
    assert after is not None
    assert after.owner_pid is None
    assert any("left running" in line for line in progress_lines)


@pytest.mark.usefixtures("alive", "probes", "deploys")
def test_keep_defaults_to_the_configuration(
    make_session: SessionFactory, project: Path, fake_backends: list[FakeBackend]
) -> None:
    config = HarnessConfig.resolve(project, environ={"S3PIPE_KEEP": "1"})
    session = make_session(config)
    session.open()
    session.close()
    assert fake_backends[-1].calls == ["start", "detach"]


@pytest.mark.usefixtures("alive", "probes", "deploys")
def test_close_never_stops_an_attached_stack(
    make_session: SessionFactory,
    external_config: HarnessConfig,
    fake_backends: list[FakeBackend],
) -> None:
    save(external_config, current_record(external_config))
    session = make_session(external_config)
    session.open()
    session.close(keep=False)
    assert all(backend.calls == [] for backend in fake_backends)
    assert record_on_disk(external_config) is not None  # the warm stack stays findable


@pytest.mark.usefixtures("alive", "probes")
def test_close_destroys_real_resources_before_stopping(
    make_session: SessionFactory, config: HarnessConfig, deployer: FakeDeployer, fake_backends: list[FakeBackend]
) -> None:
    deployer.destroy_error = RuntimeError("destroy failed")
    session = make_session(config, backend_class=RealResourcesBackend)
    session.open()
    with pytest.raises(RuntimeError, match="destroy failed"):
        session.close(keep=False)
    assert deployer.destroyed == [f"destroy dev {URL}"]
    [backend] = fake_backends
    assert backend.calls == ["start", "stop"]  # stopped even though destroy failed
    assert record_on_disk(config) is not None  # real resources: the record is not forgotten


@pytest.mark.usefixtures("probes", "deploys", "fake_backends")
def test_a_stack_attached_by_a_live_session_is_not_reused_by_another(
    make_session: SessionFactory,
    external_config: HarnessConfig,
    alive: set[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    save(external_config, current_record(external_config))
    make_session(external_config).open()  # first session attaches

    alive.add(os.getpid())
    monkeypatch.setattr(os, "getpid", lambda: OTHER_SESSION_PID)  # a second session
    record = record_on_disk(external_config)
    decision = make_session(external_config).evaluate_reuse(record, SETTINGS)
    assert not decision.reusable


# ---------------------------------------------------------------------------- clients


def test_stack_clients_reach_a_loopback_emulator_directly_whatever_the_proxy_environment(
    health_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing_proxy = _closed_loopback_url()
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, refusing_proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    endpoint = Endpoint(health_server.url, REGION, Credentials.fake())
    stack = Stack("dev", StackOutputs.from_terraform(outputs()), endpoint, "embedded", frozenset())

    with pytest.raises(ClientError) as raised:
        stack.s3.list_objects_v2(Bucket="b")

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404  # the emulator answered
    assert health_server.requests == 1
