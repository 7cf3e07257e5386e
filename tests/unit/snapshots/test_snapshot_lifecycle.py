"""A cold session through the snapshot cache, with a fake emulator and a fake apply (nothing is started).

The fake emulator behaves like MiniStack with PERSIST_STATE=1: a graceful stop writes its state,
with its own ports in the queue URLs and the function's environment, into STATE_DIR.
"""

from __future__ import annotations

import errno
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from s3pipe.backends.base import Credentials, Endpoint
from s3pipe.backends.embedded import EmbeddedBackend, free_loopback_port
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, StackRecord, StackSettings, settings_hash
from s3pipe.errors import EmulatorError
from s3pipe.progress import Progress
from s3pipe.snapshots import Placement, SnapshotStore
from s3pipe.snapshots.inputs import default_key_parts
from s3pipe.snapshots.lifecycle import Opened, SessionSnapshots
from s3pipe.snapshots.ministack import REQUIRED_STATE_FILES
from s3pipe.stack import Stack, StackOutputs
from s3pipe.terraform.cli import PlanCheck

from .fakes import PlanningDeployer, write_emulator_state

PREFIX = "s3p-pytest-gw0-abc123"


def stack_outputs(port: int) -> dict[str, Any]:
    arn = "arn:aws:{}:ap-northeast-1:000000000000:{}"
    url = f"http://127.0.0.1:{port}/000000000000"
    return {
        "region": "ap-northeast-1",
        "name_prefix": PREFIX,
        "bucket_name": f"{PREFIX}-raw-logs",
        "bucket_arn": f"arn:aws:s3:::{PREFIX}-raw-logs",
        "queue_name": f"{PREFIX}-queue",
        "queue_url": f"{url}/{PREFIX}-queue",
        "queue_arn": arn.format("sqs", f"{PREFIX}-queue"),
        "dlq_name": f"{PREFIX}-dlq",
        "dlq_url": f"{url}/{PREFIX}-dlq",
        "dlq_arn": arn.format("sqs", f"{PREFIX}-dlq"),
        "function_name": f"{PREFIX}-ingest",
        "function_arn": arn.format("lambda", f"function:{PREFIX}-ingest"),
        "role_name": f"{PREFIX}-ingest",
        "role_arn": f"arn:aws:iam::000000000000:role/{PREFIX}-ingest",
        "table_name": f"{PREFIX}-server-logs",
        "table_arn": arn.format("dynamodb", f"table/{PREFIX}-server-logs"),
        "log_group_name": f"/aws/lambda/{PREFIX}-ingest",
        "event_source_mapping_uuid": "uuid-1",
        "accepted_suffixes": [".json", ".jsonl"],
        "visibility_timeout_seconds": 10,
        "max_receive_count": 3,
        "lambda_timeout": 10,
    }


class FakeEmulator(EmbeddedBackend):
    """An embedded backend that starts nothing; its graceful stop writes MiniStack-like state."""

    def __init__(self, config: HarnessConfig, placement: Placement, environment: Mapping[str, str]) -> None:
        super().__init__(
            region=config.region,
            log_dir=config.path(config.state_dir) / "logs",
            cache_dir=config.cache_dir,
            spec=config.ministack_spec,
            port=placement.emulator_port,
            gateway_port=placement.gateway_port or 0,
            environment=environment,
        )
        self.loaded: dict[str, str] = {}
        self.stopped = False
        self.fail_start = False

    def start(self) -> Endpoint:
        if self.fail_start:
            raise EmulatorError.unreachable(self.url if self.port else "http://127.0.0.1:1", "fake start failure")
        self.port = self.requested_port
        self.gateway_port = self.requested_gateway_port
        state_dir = Path(self.environment.get("STATE_DIR", "/nonexistent"))
        if state_dir.is_dir():
            self.loaded = {p.name: p.read_text() for p in state_dir.glob("*.json")}
        return Endpoint(self.url, self.region, Credentials.fake())

    def stop(self) -> None:
        if not self.stopped and self.environment.get("PERSIST_STATE") == "1" and self.port:
            workspace = str(Path(self.environment["STATE_DIR"]).parent)
            write_emulator_state(
                Path(self.environment["STATE_DIR"]), Placement(self.port, self.gateway_port, workspace)
            )
            for name in REQUIRED_STATE_FILES:
                path = Path(self.environment["STATE_DIR"]) / name
                if not path.exists():
                    path.write_text(json.dumps({"__ministack_format__": 2, "payload": {}}))
        self.stopped = True


class World:
    """The collaborators of one or more sessions, and what they saw."""

    def __init__(self, config: HarnessConfig) -> None:
        self.config = config
        self.lines: list[str] = []
        self.progress = Progress(write=self.lines.append)
        self.deployer = Deployer(config, self.progress)
        self.store = SnapshotStore(config.cache_dir / "snapshots")
        self.emulators: list[FakeEmulator] = []
        self.cold_calls: list[dict[str, str]] = []
        self.canary_calls: list[tuple[str, str]] = []
        self.canary_result: str | None = None
        self.verify_plan = False
        self.fail_next_start = False
        self.installed = {"ministack": "1.5.33"}

    def emulator(self, placement: Placement, environment: Mapping[str, str]) -> FakeEmulator:
        emulator = FakeEmulator(self.config, placement, environment)
        emulator.fail_start, self.fail_next_start = self.fail_next_start, False
        self.emulators.append(emulator)
        return emulator

    def settings_for(self, prefix: str) -> StackSettings:
        return StackSettings(name_prefix=prefix)

    def cold(self, stack_name: str) -> Callable[[Mapping[str, str]], Opened]:
        def apply(environment: Mapping[str, str]) -> Opened:
            self.cold_calls.append(dict(environment))
            placement = Placement(free_loopback_port(), free_loopback_port(), "")
            backend = self.emulator(placement, environment)
            endpoint = backend.start()
            workspace = self.deployer.workspace(stack_name)
            workspace.root.mkdir(parents=True, exist_ok=True)
            workspace.state_path.write_text(
                json.dumps({"url": f"http://127.0.0.1:{backend.port}/q", "zip": f"{workspace.root}/artifacts/x.zip"})
            )
            outputs = StackOutputs.from_terraform(stack_outputs(placement.emulator_port))
            stack = Stack(stack_name, outputs, endpoint, "embedded", backend.capabilities)
            return Opened(backend, endpoint, stack, backend.function_endpoint_url)

        return apply

    def canary(self, stack: Stack, code_sha256: str) -> str | None:
        self.canary_calls.append((str(stack.endpoint.url), code_sha256))
        return self.canary_result

    def open(self, stack_name: str = "pytest-gw0", lock_timeout: float = 5.0) -> Opened:
        snapshots = SessionSnapshots(
            self.config,
            self.progress,
            self.deployer,
            stack_name,
            self.settings_for,
            store=self.store,
            canary=self.canary,
            verify_plan=self.verify_plan,
            lock_timeout=lock_timeout,
            emulator=self.emulator,
            installed=lambda: self.installed,
        )
        return snapshots.open(self.cold(stack_name))

    def snapshot_lines(self) -> list[str]:
        return [line for line in self.lines if "snapshot" in line]


@pytest.fixture
def world(project: HarnessConfig) -> World:
    return World(project)


def key(world: World) -> str:
    return default_key_parts(world.config).key


# ---------------------------------------------------------------------------- the good paths


def test_the_first_session_applies_stores_a_snapshot_and_goes_on_from_it(world: World) -> None:
    opened = world.open()

    [cold] = world.cold_calls
    assert cold["PERSIST_STATE"] == "1"
    applied, restored = world.emulators
    assert applied.stopped  # gracefully: that is when MiniStack writes its state
    assert opened.backend is restored
    assert restored.port != applied.port
    assert f"localhost:{restored.port}/000000000000/" in restored.loaded["sqs.json"]
    assert str(applied.port) not in restored.loaded["sqs.json"]
    assert opened.stack.outputs.queue_url.startswith(f"http://127.0.0.1:{restored.port}/")
    artifact = world.deployer.build_artifact(world.deployer.workspace("pytest-gw0"), None)
    assert world.canary_calls == [(restored.url, artifact.base64sha256)]
    assert any(f"none usable for key {key(world)}: applying, then storing one" in line for line in world.lines)
    assert any("stored" in line and key(world) in line for line in world.lines)
    assert (world.store.path_for(key(world)) / "manifest.json").exists()


def test_a_later_session_restores_without_applying(world: World) -> None:
    world.open("pytest-gw0")
    world.cold_calls.clear()

    opened = world.open("pytest-gw1")

    assert world.cold_calls == []
    assert isinstance(opened.backend, FakeEmulator)
    gateway = opened.backend.gateway_port
    assert f'"AWS_ENDPOINT_URL": "http://127.0.0.1:{gateway}"' in opened.backend.loaded["lambda.json"]
    assert opened.gateway_url == f"http://127.0.0.1:{gateway}"
    assert opened.stack.outputs.name_prefix == PREFIX  # the snapshot's resources, names included
    workspace = world.deployer.workspace("pytest-gw1")
    record = StackRecord.load(workspace.record_path)
    assert record is not None
    assert record.endpoint_url == opened.endpoint.url
    assert record.gateway_url == opened.gateway_url
    variables = world.settings_for(PREFIX).to_variables("ap-northeast-1", Path("x.zip"))
    assert record.settings_hash == settings_hash(variables)  # a kept restored stack is reusable warm
    state = workspace.state_path.read_text()
    assert f"127.0.0.1:{opened.backend.port}/q" in state
    assert f"{workspace.root}/artifacts/x.zip" in state


def test_a_restored_stack_is_recorded_as_the_reuse_check_computes_it_with_an_output_mapping(
    project: HarnessConfig,
) -> None:
    mapping = {"bucket": "bucket_name"}
    world = World(project.with_overrides(outputs=mapping, zip_variable="handler_zip"))
    world.open("pytest-gw0")

    world.open("pytest-gw1")

    record = StackRecord.load(world.deployer.workspace("pytest-gw1").record_path)
    assert record is not None
    settings = world.settings_for(PREFIX)
    variables = settings.to_variables("ap-northeast-1", Path("x.zip"), "handler_zip")
    # what StackSession.evaluate_reuse compares: the mapping is part of it, the zip variable is not
    assert record.settings_hash == settings_hash(variables, "handler_zip", mapping)
    assert record.settings_hash != settings_hash(variables)


# ---------------------------------------------------------------------------- bad snapshots fall back


def damage_corrupt(path: Path) -> None:
    file = path / "emulator" / "sqs.json"
    file.write_text(file.read_text() + " ")


def damage_half_written(path: Path) -> None:
    (path / "manifest.json").unlink()


def damage_manifest(path: Path) -> None:
    (path / "manifest.json").write_text("{not json")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (damage_corrupt, "is corrupt: emulator/sqs.json has"),
        (damage_half_written, "is half-written (no manifest.json)"),
        (damage_manifest, "has a corrupt manifest.json (JSONDecodeError"),
    ],
)
def test_a_damaged_snapshot_is_discarded_with_one_line_and_the_session_applies(
    world: World, damage: Callable[[Path], None], reason: str
) -> None:
    world.open()
    damage(world.store.path_for(key(world)))
    world.cold_calls.clear()
    world.lines.clear()

    opened = world.open()

    [discarded] = [line for line in world.lines if "discarded" in line]
    assert f"discarded: snapshot {key(world)} {reason}" in discarded
    assert len(world.cold_calls) == 1
    assert opened.stack.outputs.name_prefix == PREFIX
    assert (world.store.path_for(key(world)) / "manifest.json").exists()  # a good one replaces it


def test_a_snapshot_of_another_emulator_version_is_discarded(world: World) -> None:
    world.open()
    world.installed = {"ministack": "1.5.34"}
    world.cold_calls.clear()

    world.open()

    assert any(
        f"discarded: snapshot {key(world)} was made with ministack 1.5.33, this machine has 1.5.34" in line
        for line in world.lines
    )
    assert len(world.cold_calls) == 1


def test_disk_full_while_storing_keeps_the_applied_stack(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full)

    opened = world.open()

    assert any(
        f"not stored: could not write snapshot {key(world)}: [Errno 28] No space left on device" in line
        for line in world.lines
    )
    applied, restarted = world.emulators
    assert opened.backend is restarted
    assert (restarted.port, restarted.gateway_port) == (applied.port, applied.gateway_port)  # same state, same ports
    assert world.canary_calls == []
    assert not world.store.path_for(key(world)).exists()


def test_a_restored_stack_that_fails_the_canary_is_discarded(world: World) -> None:
    world.open()
    world.canary_result = "no item for s3://b/k within 30 s (the queue is empty)"
    world.cold_calls.clear()
    world.lines.clear()

    world.open()

    assert any(
        f"discarded snapshot {key(world)}: canary failed: no item for s3://b/k within 30 s (the queue is empty); "
        "applying instead" in line
        for line in world.lines
    )
    assert world.cold_calls == [{}]
    assert world.emulators[-2].stopped  # the restored emulator that failed
    assert not world.store.path_for(key(world)).exists()


def test_an_emulator_that_does_not_start_from_the_snapshot_falls_back(world: World) -> None:
    world.open()
    world.fail_next_start = True
    world.cold_calls.clear()

    world.open()

    assert any("the emulator did not start from it" in line for line in world.lines)
    assert world.cold_calls == [{}]


def test_a_creator_holding_the_lock_too_long_means_applying_without_a_snapshot(world: World) -> None:
    with world.store.creating(key(world), timeout=0) as held:
        assert held
        world.open(lock_timeout=0.3)
    assert any(
        f"another process has been creating snapshot {key(world)} for over 0 s: applying without one" in line
        for line in world.lines
    )
    assert world.cold_calls == [{}]


# ---------------------------------------------------------------------------- a handler of your own


@pytest.fixture
def own(project: HarnessConfig) -> World:
    """A world whose module declares the zip variable and whose deployer plans without Terraform."""
    (project.root / "infra" / "variables.tf").write_text('variable "lambda_zip_path" {\n  type = string\n}\n')
    world = World(project)
    world.deployer = PlanningDeployer(project, world.progress)
    world.verify_plan = True
    return world


def test_a_handler_of_your_own_is_restored_its_plan_checked_once_and_its_event_path_every_time(own: World) -> None:
    own.open("pytest-gw0")  # applies, stores, restores: the first restore plans
    own.open("pytest-gw1")  # restores: the plan is not repeated, the canary is
    own.open("pytest-gw2")

    deployer = own.deployer
    assert isinstance(deployer, PlanningDeployer)
    assert [stack for stack, _url, _state in deployer.plans] == ["pytest-gw0"]
    assert len(own.canary_calls) == 3
    restores = [line for line in own.lines if "] restore" in line]
    assert "plan clean, event path works" in restores[0]
    assert all("plan clean when first restored, event path works" in line for line in restores[1:])


def test_a_handler_of_your_own_whose_first_plan_is_not_clean_is_applied(own: World) -> None:
    deployer = own.deployer
    assert isinstance(deployer, PlanningDeployer)
    deployer.answer = PlanCheck(clean=False, changes=["aws_lambda_function.worker (update)"], seconds=0.1)

    own.open("pytest-gw0")

    assert any("terraform plan against it is not clean" in line and "applying instead" in line for line in own.lines)
    assert own.canary_calls == []  # discarded before the canary
    assert not own.store.path_for(key(own)).exists()
