"""Any Terraform module, not only a pipeline: applied on a backend, handed over as raw outputs + clients.

Below the pipeline layer (no output roles, no handler zip, no helpers): for modules that are not
this pipeline at all. The same backends, endpoint guard and Terraform driver as the pipeline's
stack; each module stack gets its own backend instance and workspace.

On the embedded backend (with ``snapshots`` on) a module stack opens through the same snapshot
cache as the pipeline's (:mod:`s3pipe.snapshots.flow`), keyed by the module's files, its variables
and the MiniStack/Terraform/provider versions, not by the stack's name: the first open applies and
stores a snapshot, later ones restore it on new ports. No canary knows an arbitrary module, so
Terraform verifies a restore: ``terraform plan -detailed-exitcode`` against the restored emulator
must find nothing to change, or the snapshot is discarded (one line saying why) and the module is
applied. Not yet: warm reuse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3pipe.backends.base import Backend, Capability, Endpoint
from s3pipe.backends.embedded import EmbeddedBackend
from s3pipe.backends.registry import backend_class as registered_backend_class
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, Guard
from s3pipe.errors import HarnessError
from s3pipe.progress import Progress
from s3pipe.snapshots.flow import EmulatorFactory, SnapshotFlow, add_emulator_environment
from s3pipe.snapshots.inputs import module_key_parts
from s3pipe.snapshots.store import Snapshot, SnapshotStore, Unusable
from s3pipe.stack import make_client

#: Changes named in the line that discards a snapshot whose plan is not clean.
_CHANGES_SHOWN = 3


@dataclass
class ModuleStack:
    """A deployed module: its Terraform outputs as they are, and boto3 clients for its endpoint."""

    name: str
    outputs: dict[str, Any]
    endpoint: Endpoint
    backend: str
    capabilities: frozenset[Capability]
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on the stack's endpoint (cached per service)."""
        if service not in self._clients:
            self._clients[service] = make_client(self.endpoint, service)
        return self._clients[service]

    def output(self, name: str) -> Any:
        """One output by name; a missing one fails naming those the module has."""
        if name not in self.outputs:
            raise KeyError(
                f"module stack {self.name!r} has no output {name!r} (it has: {', '.join(sorted(self.outputs))})"
            )
        return self.outputs[name]


@dataclass
class ModuleOpened:
    """A started backend with the module applied (or restored) on it."""

    backend: Backend
    endpoint: Endpoint
    outputs: dict[str, Any]

    def snapshot_outputs(self) -> Mapping[str, Any]:
        return self.outputs

    def restarted(self, backend: EmbeddedBackend, endpoint: Endpoint) -> ModuleOpened:
        return ModuleOpened(backend, endpoint, self.outputs)


#: Start a backend with these extra emulator variables and apply the module.
ModuleColdStart = Callable[[Mapping[str, str]], ModuleOpened]


class ModuleSnapshots(SnapshotFlow[ModuleOpened]):
    """Open a module stack through the snapshot cache; a restore counts only when Terraform plans no change."""

    def __init__(
        self,
        config: HarnessConfig,
        progress: Progress,
        deployer: Deployer,
        stack_name: str,
        *,
        module_dir: Path,
        variables: Mapping[str, Any],
        store: SnapshotStore | None = None,
        emulator: EmulatorFactory | None = None,
        installed: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        super().__init__(config, progress, deployer, stack_name, store=store, emulator=emulator, installed=installed)
        self.module_dir = module_dir
        self.variables = dict(variables)

    def open(self, cold: ModuleColdStart) -> ModuleOpened:
        """Restore the snapshot of this module and variables, or apply (``cold``) and store one."""
        parts = module_key_parts(self.config, self.module_dir, self.variables)
        return self.open_through(parts, cold, self._restore)

    def _restore(self, snapshot: Snapshot) -> ModuleOpened | Unusable:
        started = self._start_restored(snapshot)
        if isinstance(started, Unusable):
            return started
        backend, endpoint = started.backend, started.endpoint
        problem = self._plan_problem(backend, endpoint, started.restored.terraform_state)
        if problem is not None:
            backend.stop()
            self.workspace.forget_state()
            return Unusable(problem)
        self.progress.done("restore", started.seconds, f"snapshot {snapshot.key} on {endpoint.url}, plan clean")
        return ModuleOpened(backend, endpoint, started.restored.outputs)

    def _plan_problem(self, backend: Backend, endpoint: Endpoint, terraform_state: str | None) -> str | None:
        """None when ``terraform plan`` finds the restored resources as the restored state names them."""
        if terraform_state is None:
            return "it holds no Terraform state to verify it with"
        self.workspace.state_path.write_text(terraform_state, encoding="utf-8")
        try:
            terraform, _hash = self.deployer.prepare_module(
                self.stack_name, backend, endpoint, self.module_dir, self.variables
            )
            with self.progress.timed("plan"):
                check = terraform.plan_is_clean()
        except HarnessError as error:
            return f"terraform plan against it failed ({'; '.join([error.summary, *error.seen[-1:]])})"
        if check.clean:
            return None
        shown = ", ".join(check.changes[:_CHANGES_SHOWN]) or "no change listed"
        more = f" and {len(check.changes) - _CHANGES_SHOWN} more" if len(check.changes) > _CHANGES_SHOWN else ""
        return f"terraform plan against it is not clean (exit 2: {shown}{more})"


class ModuleSession:
    """Apply ``module_dir`` with ``variables`` on the configured backend; close stops it (or destroys, on AWS)."""

    def __init__(
        self,
        config: HarnessConfig,
        progress: Progress,
        stack_name: str,
        module_dir: Path,
        variables: Mapping[str, Any] | None = None,
        *,
        guard: Guard | None = None,
        backend_class: type[Backend] | None = None,
        deployer: Deployer | None = None,
        store: SnapshotStore | None = None,
    ) -> None:
        self.config = config
        self.progress = progress
        self.stack_name = stack_name
        self.module_dir = config.path(module_dir)
        self.variables = dict(variables or {})
        self.backend_class = backend_class or registered_backend_class(config.backend)
        self.deployer = deployer or Deployer(config, progress, guard)
        self.store = store
        self.backend: Backend | None = None
        self.endpoint: Endpoint | None = None

    def open(self) -> ModuleStack:
        started = time.monotonic()
        if self.config.snapshots and self.backend_class.supports_snapshots:
            snapshots = ModuleSnapshots(
                self.config,
                self.progress,
                self.deployer,
                self.stack_name,
                module_dir=self.module_dir,
                variables=self.variables,
                store=self.store,
            )
            opened = snapshots.open(self._cold_start)
        else:
            opened = self._cold_start({})
        self.backend, self.endpoint = opened.backend, opened.endpoint
        self.progress.done("ready", time.monotonic() - started, f"module stack {self.stack_name!r}")
        return ModuleStack(
            self.stack_name, opened.outputs, opened.endpoint, opened.backend.name, opened.backend.effective_capabilities
        )

    def _cold_start(self, emulator_environment: Mapping[str, str]) -> ModuleOpened:
        """Start a new backend (with these extra emulator variables) and apply the module."""
        if self.backend_class.owns_emulator:  # a fresh emulator holds none of the resources an old state names
            self.deployer.workspace(self.stack_name).forget_state()
        backend = self.backend_class.from_config(self.config, self.progress, port=0)
        add_emulator_environment(backend, emulator_environment)
        self.backend = backend
        endpoint = self.endpoint = backend.start()
        outputs, _hash = self.deployer.apply_module(self.stack_name, backend, endpoint, self.module_dir, self.variables)
        return ModuleOpened(backend, endpoint, outputs)

    def close(self) -> None:
        backend, self.backend = self.backend, None
        if backend is None:
            return
        try:
            if not backend.is_emulator and self.endpoint is not None:
                self.deployer.destroy(self.stack_name, self.endpoint)
        finally:
            backend.stop()
            if backend.is_emulator:
                self.deployer.workspace(self.stack_name).forget_state()
