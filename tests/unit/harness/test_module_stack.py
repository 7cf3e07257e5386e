"""The generic module stack's lifecycle, with a stand-in backend and Terraform replaced."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import pytest

from s3pipe.backends.base import Backend, Capability, Credentials, Endpoint, Health
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer
from s3pipe.module_stack import ModuleSession
from s3pipe.progress import Progress

URL = "http://127.0.0.1:45998"


class Emulator(Backend):
    name: ClassVar[str] = "embedded"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.LAMBDA_EXECUTION})
    owns_emulator: ClassVar[bool] = True
    started: ClassVar[list[Emulator]] = []

    def __init__(self, port: int | None) -> None:
        self.port = port
        self.calls: list[str] = []
        Emulator.started.append(self)

    @classmethod
    def from_config(cls, config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Self:
        return cls(port)

    def start(self) -> Endpoint:
        self.calls.append("start")
        return Endpoint(URL, "ap-northeast-1", Credentials.fake())

    def health(self) -> Health:
        return Health(True, "fake")

    def stop(self) -> None:
        self.calls.append("stop")


class RealAccount(Emulator):
    name: ClassVar[str] = "aws"
    is_emulator: ClassVar[bool] = False
    owns_emulator: ClassVar[bool] = False


class Applier(Deployer):
    def __init__(self, config: HarnessConfig) -> None:
        super().__init__(config, Progress(write=lambda _line: None))
        self.applied: list[tuple[str, Path, dict[str, Any]]] = []
        self.destroyed: list[str] = []

    def apply_module(  # noqa: PLR0917 - Deployer.apply_module's signature
        self,
        stack_name: str,
        backend: Backend,
        endpoint: Endpoint,
        module_dir: Path,
        variables: Mapping[str, Any],
        label: str = "",
    ) -> tuple[dict[str, Any], str]:
        self.applied.append((stack_name, module_dir, dict(variables)))
        self.workspace(stack_name).state_path.parent.mkdir(parents=True, exist_ok=True)
        self.workspace(stack_name).state_path.write_text("{}")
        return {"table": variables["table_name"]}, "hash"

    def destroy(self, stack_name: str, endpoint: Endpoint) -> None:
        self.destroyed.append(stack_name)


@pytest.fixture
def config(tmp_path: Path) -> HarnessConfig:
    Emulator.started = []
    return HarnessConfig.resolve(tmp_path, environ={"S3PIPE_PORT": "4566"})


def session(config: HarnessConfig, backend: type[Backend], applier: Applier) -> ModuleSession:
    return ModuleSession(
        config,
        Progress(write=lambda _line: None),
        "module-table",
        Path("modules/table"),
        {"table_name": "T"},
        backend_class=backend,
        deployer=applier,
    )


def test_open_applies_the_module_with_its_variables_on_a_backend_of_its_own(config: HarnessConfig) -> None:
    applier = Applier(config)
    stack = session(config, Emulator, applier).open()

    assert applier.applied == [("module-table", config.root / "modules" / "table", {"table_name": "T"})]
    assert (stack.outputs, stack.endpoint.url, stack.backend) == ({"table": "T"}, URL, "embedded")
    [backend] = Emulator.started
    assert backend.port == 0  # a free port, whatever the pipeline's emulator uses
    with pytest.raises(KeyError, match="has no output 'queue' \\(it has: table\\)"):
        stack.output("queue")


def test_close_stops_the_emulator_and_forgets_its_state(config: HarnessConfig) -> None:
    applier = Applier(config)
    module = session(config, Emulator, applier)
    module.open()
    module.close()
    module.close()  # idempotent
    assert Emulator.started[0].calls == ["start", "stop"]
    assert applier.destroyed == []
    assert not applier.workspace("module-table").state_path.exists()


def test_close_destroys_real_resources(config: HarnessConfig) -> None:
    applier = Applier(config)
    module = session(config, RealAccount, applier)
    module.open()
    module.close()
    assert applier.destroyed == ["module-table"]
    assert Emulator.started[0].calls == ["start", "stop"]
