"""Fakes of the snapshot unit tests: MiniStack state and Terraform state as those tools write them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from s3pipe.backends.base import Backend, Endpoint
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer
from s3pipe.errors import TerraformError
from s3pipe.progress import Progress
from s3pipe.snapshots import KeyParts, Placement, SnapshotContent
from s3pipe.terraform.cli import PlanCheck, Terraform

OLD = Placement(emulator_port=43561, gateway_port=51563, workspace="/home/dev/project/.s3pipe/stacks/pytest-gw0")
NEW = Placement(emulator_port=60445, gateway_port=58281, workspace="/ci/work/.s3pipe/stacks/pytest-gw1")
QUEUE = "s3p-pytest-gw0-26e5d6-queue"


def parts(**changes: Any) -> KeyParts:
    values: dict[str, Any] = {
        "infra_hash": "a" * 64,
        "lambda_sha256": "b" * 64,
        "variables": {"region": "ap-northeast-1", "batch_size": 10},
        "emulator": "embedded ministack==1.5.33",
        "terraform": "1.11.4",
        "provider": "plugin dir 5.100.0",
    }
    values.update(changes)
    return KeyParts(**values)


def write_emulator_state(directory: Path, placement: Placement = OLD) -> Path:
    """What MiniStack writes on a graceful stop, with the ports of ``placement`` where MiniStack puts them."""
    directory.mkdir(parents=True, exist_ok=True)
    port, gateway = placement.emulator_port, placement.gateway_port
    url = f"http://localhost:{port}/000000000000/{QUEUE}"
    sqs = {"queues": {"__account_region_scoped__": True, "data": {f"000000000000\x00ap-northeast-1\x00{url!r}": {}}}}
    (directory / "sqs.json").write_text(json.dumps({"__ministack_format__": 2, "payload": sqs}))
    environment = {
        "DLQ_URL": f"http://127.0.0.1:{port}/000000000000/dlq",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{gateway}",
    }
    (directory / "lambda.json").write_text(json.dumps({"payload": {"functions": {"env": environment}}}))
    (directory / "s3.json").write_text(json.dumps({"payload": {"buckets_meta": {}}}))
    (directory / "lambda-blobs").mkdir(exist_ok=True)
    # a zip can contain any bytes, also ones that look like a port: blobs are copied untouched
    (directory / "lambda-blobs" / "c0ffee").write_bytes(b"PK\x03\x04 localhost:43561 \xff\xfe")
    (directory / "sqs.json.tmp").write_text("a temporary file MiniStack left behind")
    return directory


def content(tmp_path: Path, placement: Placement = OLD, **changes: Any) -> SnapshotContent:
    state = write_emulator_state(tmp_path / "emulator-state", placement)
    tfstate = tmp_path / "terraform.tfstate"
    tfstate.write_text(
        json.dumps(
            {
                "outputs": {"queue_url": f"http://127.0.0.1:{placement.emulator_port}/000000000000/{QUEUE}"},
                "filename": f"{placement.workspace}/artifacts/lambda.zip",
            }
        )
    )
    values: dict[str, Any] = {
        "emulator_state": state,
        "outputs": {
            "queue_url": f"http://127.0.0.1:{placement.emulator_port}/000000000000/{QUEUE}",
            "name_prefix": "p",
        },
        "placement": placement,
        "stack": "pytest-gw0",
        "versions": {"ministack": "1.5.33", "terraform": "1.11.4"},
        "terraform_state": tfstate,
        "required": ("sqs.json", "lambda.json"),
    }
    values.update(changes)
    return SnapshotContent(**values)


class PlanOnly(Terraform):
    """A Terraform whose plan answers what the test chose (no binary is run)."""

    def __init__(self, answer: PlanCheck | TerraformError) -> None:
        self.answer = answer

    def plan_is_clean(self) -> PlanCheck:
        if isinstance(self.answer, TerraformError):
            raise self.answer
        return self.answer


class PlanningDeployer(Deployer):
    """Prepares the workspace as the real one would be asked to, and plans with :class:`PlanOnly`."""

    def __init__(self, config: HarnessConfig, progress: Progress) -> None:
        super().__init__(config, progress)
        self.answer: PlanCheck | TerraformError = PlanCheck(clean=True, changes=[], seconds=0.1)
        #: (stack, endpoint URL, the Terraform state in the workspace) per plan
        self.plans: list[tuple[str, str | None, str]] = []

    def prepare_module(
        self, stack_name: str, backend: Backend, endpoint: Endpoint, module_dir: Path, variables: Mapping[str, Any]
    ) -> tuple[Terraform, str]:
        state = self.workspace(stack_name).state_path.read_text()
        self.plans.append((stack_name, endpoint.url, state))
        return PlanOnly(self.answer), "hash"
