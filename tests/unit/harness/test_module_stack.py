"""The generic module stack's lifecycle, with a stand-in backend and Terraform replaced."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import pytest

from s3pipe.backends.attached import AttachedBackend
from s3pipe.backends.base import Backend, Capability, Credentials, Endpoint, Health, Probes
from s3pipe.backends.embedded import EmbeddedBackend
from s3pipe.backends.probes import pid_alive
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, StackRecord
from s3pipe.errors import HarnessError
from s3pipe.module_stack import ModuleSession
from s3pipe.progress import Progress
from s3pipe.session import stop_stack
from s3pipe.terraform.workspace import content_hash, module_files

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


# ---------------------------------------------------------------------------- warm reuse


@pytest.fixture
def emulator_process() -> Iterator[subprocess.Popen[bytes]]:
    """A real process standing in for a kept emulator's supervisor (a replaced stack's is SIGTERMed)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


class WarmEmulator(Emulator):
    """Like ``embedded``: reusable warm, its emulator process is ``emulator_process``; its real reuse checks."""

    supports_warm_reuse: ClassVar[bool] = True
    emulator_pid: ClassVar[int | None] = None

    @classmethod
    def reuse_problem(cls, record: StackRecord, probes: Probes) -> str | None:
        return EmbeddedBackend.reuse_problem(record, probes)

    @property
    def pid(self) -> int | None:
        return WarmEmulator.emulator_pid

    def detach(self) -> None:
        self.calls.append("detach")


class Warm:
    """Module sessions on :class:`WarmEmulator`: real pid checks, the endpoint's health as ``answers`` says."""

    def __init__(self, config: HarnessConfig, project: Path) -> None:
        self.config = config
        self.module = project / "modules" / "table"
        self.applier = Applier(config)
        self.lines: list[str] = []
        self.answers = True

    def session(self, variables: Mapping[str, Any] | None = None, *, keep: bool = False) -> ModuleSession:
        def health(_url: str) -> Health:
            return Health(True, "fake") if self.answers else Health(False, "URLError: refused")

        return ModuleSession(
            dataclasses.replace(self.config, keep=keep),
            Progress(write=self.lines.append),
            "module-table",
            self.module,
            {"table_name": "T"} if variables is None else variables,
            backend_class=WarmEmulator,
            deployer=self.applier,
            probes=Probes(pid_alive=pid_alive, health=health, gateway=health),
        )

    def kept(self) -> StackRecord:
        """Open and close a module stack with keep on: the record it leaves."""
        first = self.session(keep=True)
        first.open()
        first.close()
        record = StackRecord.load(self.record_path)
        assert record is not None
        self.applier.applied.clear()
        self.lines.clear()
        return record

    @property
    def record_path(self) -> Path:
        return self.applier.workspace("module-table").record_path

    def not_reusing(self) -> str:
        [line] = [line for line in self.lines if "not reusing module stack 'module-table'" in line]
        return line


@pytest.fixture
def warm(config: HarnessConfig, emulator_process: subprocess.Popen[bytes]) -> Warm:
    WarmEmulator.emulator_pid = emulator_process.pid
    module = config.root / "modules" / "table"
    module.mkdir(parents=True)
    (module / "main.tf").write_text('resource "aws_dynamodb_table" "t" {}\n')
    return Warm(config, config.root)


def test_close_with_keep_leaves_the_emulator_running_and_records_it(warm: Warm) -> None:
    session = warm.session(keep=True)
    session.open()
    session.close()

    assert Emulator.started[-1].calls == ["start", "detach"]
    record = StackRecord.load(warm.record_path)
    assert record is not None
    module_hash = content_hash(module_files(warm.module), warm.module)
    assert (record.backend, record.endpoint_url, record.infra_hash) == ("embedded", URL, module_hash)
    assert (record.outputs, record.emulator_pid, record.owner_pid) == ({"table": "T"}, WarmEmulator.emulator_pid, None)
    assert record.lambda_sha256 == ""
    assert any("module stack 'module-table' left running" in line for line in warm.lines)


def test_an_unchanged_kept_module_stack_is_attached_without_applying(warm: Warm) -> None:
    warm.kept()
    started = len(Emulator.started)
    session = warm.session()
    stack = session.open()

    assert warm.applier.applied == []
    assert len(Emulator.started) == started  # nothing started
    assert isinstance(session.backend, AttachedBackend)
    assert (stack.outputs, stack.endpoint.url, stack.backend) == ({"table": "T"}, URL, "embedded")
    assert any("warm module stack 'module-table'" in line and "unchanged" in line for line in warm.lines)
    claimed = StackRecord.load(warm.record_path)
    assert claimed is not None
    assert claimed.owner_pid == os.getpid()

    session.close()  # keep off: an attached stack is still never stopped
    released = StackRecord.load(warm.record_path)
    assert released is not None
    assert released.owner_pid is None
    assert pid_alive(WarmEmulator.emulator_pid)


def test_reuse_off_replaces_the_kept_module_stack(warm: Warm, emulator_process: subprocess.Popen[bytes]) -> None:
    warm.kept()
    warm.config = dataclasses.replace(warm.config, reuse=False)
    warm.session().open()
    assert len(warm.applier.applied) == 1
    assert emulator_process.wait(timeout=10) == -signal.SIGTERM


def change_variables(warm: Warm) -> dict[str, Any]:
    return {"table_name": "Other"}


def change_module(warm: Warm) -> None:
    (warm.module / "outputs.tf").write_text('output "table" { value = "T" }\n')


def stop_answering(warm: Warm) -> None:
    warm.answers = False


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (change_variables, "its variables changed"),
        (change_module, "the module's files in "),
        (stop_answering, f"{URL} does not answer (URLError: refused)"),
    ],
)
def test_a_changed_or_silent_module_stack_is_replaced_with_a_line_saying_why(
    warm: Warm, emulator_process: subprocess.Popen[bytes], change: Callable[[Warm], Any], reason: str
) -> None:
    warm.kept()
    variables = change(warm)
    session = warm.session(variables)
    session.open()

    assert reason in warm.not_reusing()
    assert len(warm.applier.applied) == 1
    assert not isinstance(session.backend, AttachedBackend)
    assert emulator_process.wait(timeout=10) == -signal.SIGTERM  # the replaced emulator is stopped
    assert any("stopped the replaced stack's emulator" in line for line in warm.lines)
    assert not warm.record_path.exists()  # the new stack is not kept: nothing recorded


def test_a_module_stack_owned_by_another_live_session_is_neither_reused_nor_stopped(
    warm: Warm, emulator_process: subprocess.Popen[bytes]
) -> None:
    record = warm.kept()
    record.owner_pid = os.getppid()  # a live process that is not this one
    record.save(warm.record_path)

    with pytest.raises(HarnessError, match="in use by another live session"):
        warm.session().open()

    assert f"in use by another live session (pid {os.getppid()})" in warm.not_reusing()
    assert warm.applier.applied == []
    assert emulator_process.poll() is None


def test_stop_stack_stops_a_kept_module_stack(warm: Warm, emulator_process: subprocess.Popen[bytes]) -> None:
    warm.kept()
    assert stop_stack(warm.config, "module-table")
    assert emulator_process.wait(timeout=10) == -signal.SIGTERM
    assert not warm.record_path.exists()
    assert not stop_stack(warm.config, "module-table")  # nothing left to stop
