"""Any Terraform module, not only a pipeline: applied on a backend, handed over as raw outputs + clients.

Below the pipeline layer (no output roles, no handler zip, no helpers): for modules that are not
this pipeline at all. The same backends, endpoint guard and Terraform driver as the pipeline's
stack; each module stack gets its own backend instance and workspace.

On the embedded backend (with ``snapshots`` on) a module stack opens through the same snapshot
cache as the pipeline's (:mod:`s3pipe.snapshots.modules`), keyed by the module's files, its variables
and the MiniStack/Terraform/provider versions, not by the stack's name: the first open applies and
stores a snapshot, later ones restore it on new ports. No canary knows an arbitrary module, so
Terraform verifies a restore: ``terraform plan -detailed-exitcode`` against the restored emulator
must find nothing to change, or the snapshot is discarded (one line saying why) and the module is
applied.

Warm reuse as the pipeline's stack has it: with ``keep`` a module stack's emulator is left running and
recorded in its workspace's ``stack.json``; with ``reuse`` the next session attaches to it (no Terraform
run) while it answers, no other live session owns it, and the module's files and variables are unchanged;
otherwise one line says why, the recorded emulator is stopped, and the stack opens as above.
``s3pipe down --stack <name>`` (:func:`s3pipe.session.stop_stack`) stops a kept module stack too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from s3pipe.aws.isolation import refuse_leftover_state
from s3pipe.backends.attached import AttachedBackend
from s3pipe.backends.base import Backend, Capability, Endpoint, Probes
from s3pipe.backends.probes import real_probes
from s3pipe.backends.registry import backend_class as registered_backend_class
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, Guard, StackRecord, StackSettings, settings_hash
from s3pipe.progress import Progress
from s3pipe.region import for_module
from s3pipe.snapshots.flow import add_emulator_environment
from s3pipe.snapshots.modules import ModuleOpened, ModuleSnapshots
from s3pipe.snapshots.store import SnapshotStore
from s3pipe.stack import make_client
from s3pipe.terraform.workspace import content_hash, module_files
from s3pipe.warm import NO_RECORD, attach_problem, claim, release_claim, retire


@dataclass
class ModuleStack:
    """A deployed module: its Terraform outputs as they are, and boto3 clients for its endpoint."""

    name: str
    outputs: dict[str, Any]
    endpoint: Endpoint
    backend: str
    capabilities: frozenset[Capability]
    #: The fresh name prefix the module received on a backend that requires isolation (AWS); "" elsewhere.
    name_prefix: str = ""
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


class ModuleSession:
    """Apply ``module_dir`` with ``variables`` on the configured backend (or attach to it warm); close stops it.

    Close destroys the resources on AWS; with ``keep`` (and a backend that supports warm reuse) it leaves
    the emulator running and records it for the next session instead.
    """

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
        probes: Probes | None = None,
    ) -> None:
        self.module_dir = config.path(module_dir)
        #: the module stack's region: the configured one when given, else the module's own literal one
        self.config, self.region = for_module(config, self.module_dir)
        config = self.config
        self.progress = progress
        self.stack_name = stack_name
        self.variables = dict(variables or {})
        self.backend_class = backend_class or registered_backend_class(config.backend)
        self.deployer = deployer or Deployer(config, progress, guard)
        self.store = store
        self.probes = probes or real_probes()
        self.backend: Backend | None = None
        self.endpoint: Endpoint | None = None
        self.outputs: dict[str, Any] = {}
        self._attached = False
        #: An apply was started on real resources: close destroys whatever state it left.
        self._applying = False
        self.name_prefix = ""

    @property
    def record_path(self) -> Path:
        return self.deployer.workspace(self.stack_name).record_path

    @cached_property
    def _hashes(self) -> tuple[str, str]:
        """What a warm module stack must match: the module's files (read once per session) and the variables."""
        return content_hash(module_files(self.module_dir), self.module_dir), settings_hash(self.variables, "")

    def reuse_problem(self, record: StackRecord | None) -> str | None:
        """Why the recorded module stack cannot be attached to; None when it can."""
        if record is None:
            return NO_RECORD
        if problem := attach_problem(record, self.backend_class, self.probes):
            return problem
        module_hash, variables_hash = self._hashes
        if module_hash != record.infra_hash:
            return f"the module's files in {self.module_dir} changed since it was applied (different content hash)"
        if variables_hash != record.settings_hash:
            return "its variables changed"
        if record.region != self.config.region:
            return f"it runs in {record.region}, this session's region is {self.region}"
        return None

    def open(self) -> ModuleStack:
        started = time.monotonic()
        self.progress.stage("region", f"module stack {self.stack_name!r}: {self.region}")
        record = StackRecord.load(self.record_path)
        if self.config.reuse and self.backend_class.supports_warm_reuse:
            problem = self.reuse_problem(record)
            if problem is None and record is not None:
                return self._attach(record, started)
            if record is not None:
                self.progress.stage("reuse", f"not reusing module stack {self.stack_name!r}: {problem}")
        if record is not None and self.backend_class.owns_emulator:
            retire(
                record,
                self.record_path,
                stack_name=self.stack_name,
                alive=self.probes.pid_alive,
                progress=self.progress,
                fix="wait for that run to end, or give this module stack its own name: factory(..., name=...)",
            )
            self.record_path.unlink(missing_ok=True)
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
        self.backend, self.endpoint, self.outputs = opened.backend, opened.endpoint, opened.outputs
        self.progress.done("ready", time.monotonic() - started, f"module stack {self.stack_name!r}")
        capabilities = opened.backend.effective_capabilities
        return ModuleStack(
            self.stack_name, opened.outputs, opened.endpoint, opened.backend.name, capabilities, self.name_prefix
        )

    def _attach(self, record: StackRecord, started: float) -> ModuleStack:
        """Use the recorded emulator as it is: no apply, no restore."""
        assert record.endpoint_url is not None
        original = self.backend_class
        url, pid = record.endpoint_url, record.emulator_pid
        backend = AttachedBackend(original, url, record.region, pid, record.emulator_log)
        self.backend, self.endpoint, self.outputs, self._attached = backend, backend.start(), record.outputs, True
        self.progress.stage("reuse", f"warm module stack {self.stack_name!r} on {self.endpoint.url}: unchanged")
        claim(record, self.record_path)
        self.progress.done("ready", time.monotonic() - started, f"warm module stack {self.stack_name!r}")
        return ModuleStack(self.stack_name, dict(record.outputs), self.endpoint, original.name, original.capabilities)

    def _cold_start(self, emulator_environment: Mapping[str, str]) -> ModuleOpened:
        """Start a new backend (with these extra emulator variables) and apply the module."""
        if self.backend_class.owns_emulator:  # a fresh emulator holds none of the resources an old state names
            self.deployer.workspace(self.stack_name).forget_state()
        backend = self.backend_class.from_config(self.config, self.progress, port=0)
        add_emulator_environment(backend, emulator_environment)
        self.backend = backend
        endpoint = self.endpoint = backend.start()
        variables = self.variables
        if backend.requires_isolation:  # AWS: a fresh prefix for this run, never a state an earlier run left
            refuse_leftover_state(self.stack_name, self.deployer.workspace(self.stack_name).state_path)
            self.name_prefix = StackSettings.unique_prefix(self.stack_name)
            variables = {**variables, self.config.name_prefix_variable: self.name_prefix}
        self._applying = not backend.is_emulator
        if self._applying:  # remembered until destroyed, so `s3pipe down --stack` finds it after a failed destroy
            self.record_path.parent.mkdir(parents=True, exist_ok=True)
            self._record(backend, endpoint).save(self.record_path)
        outputs, _hash = self.deployer.apply_module(self.stack_name, backend, endpoint, self.module_dir, variables)
        return ModuleOpened(backend, endpoint, outputs)

    def close(self, *, keep: bool | None = None) -> None:
        """Stop the backend (destroy first on AWS); with ``keep`` leave it running and record it instead.

        A warm stack this session attached to is never stopped here (``s3pipe down`` stops it).
        """
        keep = self.config.keep if keep is None else keep
        backend, self.backend = self.backend, None
        if backend is None:
            return
        if self._attached:
            release_claim(self.record_path)
            return
        if keep and self.backend_class.supports_warm_reuse and self.endpoint is not None:
            backend.detach()
            self._record(backend, self.endpoint).save(self.record_path)
            self.progress.stage("keep", f"module stack {self.stack_name!r} left running on {self.endpoint.url}")
            return
        try:
            if not backend.is_emulator and self.endpoint is not None and self._applying:
                self.deployer.destroy(self.stack_name, self.endpoint)
                self.record_path.unlink(missing_ok=True)
        finally:
            backend.stop()
            if backend.is_emulator:
                self.deployer.workspace(self.stack_name).forget_state()
                self.record_path.unlink(missing_ok=True)

    def _record(self, backend: Backend, endpoint: Endpoint) -> StackRecord:
        """What the next session checks before attaching: the emulator, the module's and variables' hashes."""
        module_hash, variables_hash = self._hashes
        return StackRecord.running(
            self.stack_name,
            backend,
            endpoint,
            infra_hash=module_hash,
            lambda_sha256="",
            settings_hash=variables_hash,
            outputs=self.outputs,
            run_id=self.config.run_id,
        )
