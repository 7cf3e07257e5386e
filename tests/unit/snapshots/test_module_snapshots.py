"""A module stack through the snapshot cache, with a fake emulator, a fake apply and a fake ``terraform plan``.

A restore counts only when Terraform plans no change against the restored emulator; nothing is started here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from typing import Any

import pytest

from s3pipe.backends.embedded import free_loopback_port
from s3pipe.config import HarnessConfig
from s3pipe.errors import TerraformError
from s3pipe.progress import Progress
from s3pipe.snapshots import Placement, SnapshotStore
from s3pipe.snapshots.inputs import module_key_parts
from s3pipe.snapshots.modules import ModuleOpened, ModuleSnapshots
from s3pipe.terraform.cli import PlanCheck

from .fakes import PlanningDeployer
from .test_snapshot_lifecycle import FakeEmulator

VARIABLES = {"table_name": "Orders"}


class ModuleWorld:
    def __init__(self, config: HarnessConfig) -> None:
        self.config = config
        self.module_dir = config.root / "modules" / "table"
        self.module_dir.mkdir(parents=True)
        (self.module_dir / "main.tf").write_text('resource "aws_dynamodb_table" "this" {}\n')
        self.lines: list[str] = []
        self.progress = Progress(write=self.lines.append)
        self.deployer = PlanningDeployer(config, self.progress)
        self.store = SnapshotStore(config.cache_dir / "snapshots")
        self.emulators: list[FakeEmulator] = []
        self.cold_calls: list[dict[str, str]] = []

    def emulator(self, placement: Placement, environment: Mapping[str, str]) -> FakeEmulator:
        emulator = FakeEmulator(self.config, placement, environment)
        self.emulators.append(emulator)
        return emulator

    def cold(self, stack_name: str) -> Any:
        def apply(environment: Mapping[str, str]) -> ModuleOpened:
            self.cold_calls.append(dict(environment))
            backend = self.emulator(Placement(free_loopback_port(), free_loopback_port(), ""), environment)
            endpoint = backend.start()
            workspace = self.deployer.workspace(stack_name)
            workspace.root.mkdir(parents=True, exist_ok=True)
            workspace.state_path.write_text(json.dumps({"endpoint": endpoint.url, "stack": str(workspace.root)}))
            return ModuleOpened(backend, endpoint, {"table": "Orders", "endpoint": endpoint.url})

        return apply

    def open(self, stack_name: str, variables: Mapping[str, Any] = VARIABLES) -> ModuleOpened:
        snapshots = ModuleSnapshots(
            self.config,
            self.progress,
            self.deployer,
            stack_name,
            module_dir=self.module_dir,
            variables=variables,
            store=self.store,
            emulator=self.emulator,
            installed=lambda: {"ministack": "1.5.33"},
        )
        return snapshots.open(self.cold(stack_name))

    def key(self, variables: Mapping[str, Any] = VARIABLES) -> str:
        return module_key_parts(self.config, self.module_dir, variables).key


@pytest.fixture
def world(project: HarnessConfig) -> ModuleWorld:
    return ModuleWorld(project)


# ---------------------------------------------------------------------------- the key


def test_the_key_follows_the_module_files_and_variables_not_the_place_or_the_stack(world: ModuleWorld) -> None:
    first = world.key()
    copy = world.config.root / "elsewhere" / "table"
    shutil.copytree(world.module_dir, copy)
    assert module_key_parts(world.config, copy, VARIABLES).key == first  # no machine path in the key

    assert world.key({"table_name": "Invoices"}) != first
    (world.module_dir / "main.tf").write_text('resource "aws_dynamodb_table" "other" {}\n')
    assert world.key() != first


def test_a_module_key_never_equals_a_pipeline_key_with_the_same_files(world: ModuleWorld) -> None:
    parts = module_key_parts(world.config, world.module_dir, VARIABLES)
    assert parts.lambda_sha256 == "none (module stack)"


# ---------------------------------------------------------------------------- the good paths


def test_the_first_open_applies_stores_then_restores_and_verifies_with_a_plan(world: ModuleWorld) -> None:
    opened = world.open("module-table")

    [cold] = world.cold_calls
    assert cold["PERSIST_STATE"] == "1"
    applied, restored = world.emulators
    assert applied.stopped  # gracefully: that is when MiniStack writes its state
    assert opened.backend is restored
    assert restored.port != applied.port
    assert opened.outputs == {"table": "Orders", "endpoint": restored.url}
    [(stack, url, state)] = world.deployer.plans
    assert (stack, url) == ("module-table", restored.url)
    assert json.loads(state)["endpoint"] == restored.url  # the state was rebased before the plan
    assert any(f"none usable for key {world.key()}: applying, then storing one" in line for line in world.lines)


def test_another_stack_of_the_same_module_and_variables_restores_without_applying(world: ModuleWorld) -> None:
    world.open("module-table")
    world.cold_calls.clear()
    world.lines.clear()

    opened = world.open("module-table-again")

    assert world.cold_calls == []
    assert opened.outputs["endpoint"] == opened.endpoint.url
    workspace = world.deployer.workspace("module-table-again")
    state = json.loads(workspace.state_path.read_text())
    assert state == {"endpoint": opened.endpoint.url, "stack": str(workspace.root)}
    [restore] = [line for line in world.lines if "restore" in line]
    assert f"snapshot {world.key()} on {opened.endpoint.url}, its plan was clean when first restored" in restore
    assert len(world.deployer.plans) == 1  # planned once, on the first restore, in the session that created it


def test_a_verification_of_another_version_does_not_count(world: ModuleWorld) -> None:
    world.open("module-table")
    marker = world.store.path_for(world.key()) / "verified.json"
    marker.write_text(json.dumps({"terraform plan clean": 0}))

    world.open("module-table-again")

    assert len(world.deployer.plans) == 2
    assert json.loads(marker.read_text())["terraform plan clean"] == 1


def test_other_variables_apply_afresh(world: ModuleWorld) -> None:
    world.open("module-table")
    world.cold_calls.clear()

    world.open("module-table", {"table_name": "Invoices"})

    assert len(world.cold_calls) == 1
    assert world.store.path_for(world.key({"table_name": "Invoices"})).is_dir()


# ---------------------------------------------------------------------------- a restore Terraform does not trust


def test_a_restore_whose_plan_is_not_clean_is_discarded_and_the_module_applied(world: ModuleWorld) -> None:
    world.deployer.answer = PlanCheck(clean=False, changes=["aws_dynamodb_table.this (create)"], seconds=0.1)

    opened = world.open("module-table")

    [discarded] = [line for line in world.lines if "discarded" in line]
    assert (
        f"discarded snapshot {world.key()}: terraform plan against it is not clean "
        "(exit 2: aws_dynamodb_table.this (create)); applying instead"
    ) in discarded
    assert len(world.cold_calls) == 2  # the apply that stored it, and the apply after it was discarded
    assert world.cold_calls[-1] == {}
    rejected = world.emulators[-2]
    assert rejected.stopped
    assert opened.backend is world.emulators[-1]
    assert not world.store.path_for(world.key()).exists()


def test_a_plan_that_fails_discards_the_snapshot_saying_why(world: ModuleWorld) -> None:
    world.deployer.answer = TerraformError.command_failed(
        ["terraform", "plan"], "/w", 1, ["Error: reading DynamoDB Table (Orders): connection refused"], []
    )

    world.open("module-table")

    assert any(
        "terraform plan against it failed (`terraform plan` failed; Error: reading DynamoDB Table (Orders): "
        "connection refused); applying instead" in line
        for line in world.lines
    )
    assert world.cold_calls[-1] == {}  # applied again, without persistence: no second snapshot of a bad one


def test_a_half_written_snapshot_is_discarded_and_the_module_applied(world: ModuleWorld) -> None:
    world.open("module-table")
    (world.store.path_for(world.key()) / "manifest.json").unlink()
    world.cold_calls.clear()
    world.deployer.plans.clear()

    world.open("module-table-again")

    assert any(f"discarded: snapshot {world.key()} is half-written (no manifest.json)" in line for line in world.lines)
    assert len(world.cold_calls) == 1
    assert len(world.deployer.plans) == 1  # the new snapshot, verified
