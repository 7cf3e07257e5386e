"""A cold session with snapshots: restore a matching snapshot, or apply once, snapshot, and go on from the copy.

Restore: fill a fresh MiniStack STATE_DIR from the snapshot with this session's ports, start the
emulator on them, run the canary, write the stack record and Terraform state. Any failure discards
the snapshot with one line and the session applies as it always did.

Create: under the key's lock (so two xdist workers do not both apply), apply with MiniStack's
persistence on, stop the emulator gracefully (it writes its state), store the snapshot, and then
continue exactly as a later session would: restore it into a fresh emulator and run the canary.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from s3pipe.backends.base import Backend, Endpoint
from s3pipe.backends.embedded import EmbeddedBackend, free_loopback_port
from s3pipe.backends.ministack_env import ensure_ministack_python
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, StackRecord, StackSettings, settings_hash
from s3pipe.errors import HarnessError
from s3pipe.lambda_zip import LambdaArtifact
from s3pipe.progress import Progress
from s3pipe.snapshots.canary import run_canary
from s3pipe.snapshots.inputs import installed_ministack_version, key_parts
from s3pipe.snapshots.key import KeyParts
from s3pipe.snapshots.ministack import REQUIRED_STATE_FILES, persistence_environment
from s3pipe.snapshots.rebase import Placement
from s3pipe.snapshots.store import (
    Snapshot,
    SnapshotContent,
    SnapshotStore,
    SnapshotWriteError,
    Unusable,
    default_snapshot_root,
)
from s3pipe.stack import Stack, StackOutputs
from s3pipe.terraform.workspace import StackWorkspace

#: How long a session waits for another process that is creating the same snapshot (a cold apply takes ~60 s).
LOCK_TIMEOUT = 300.0
#: The emulator's working STATE_DIR inside the stack's workspace.
STATE_DIR_NAME = "emulator-state"
#: A stand-in for the gateway URL while computing the key (its port becomes a placeholder).
_KEY_GATEWAY_URL = "http://127.0.0.1:1"


@dataclass
class Opened:
    """A started backend with the stack on it."""

    backend: Backend
    endpoint: Endpoint
    stack: Stack
    gateway_url: str | None


#: Start the backend with these extra emulator variables and apply the module (the session's cold path).
ColdStart = Callable[[Mapping[str, str]], Opened]
#: The session's settings for a name prefix and a function gateway URL.
SettingsFor = Callable[[str, str | None], StackSettings]
Canary = Callable[[Stack, str], str | None]
#: An embedded backend (not started) for a placement, with these extra emulator variables.
EmulatorFactory = Callable[[Placement, Mapping[str, str]], EmbeddedBackend]


class SessionSnapshots:
    """Open one named stack through the snapshot cache (embedded backend)."""

    def __init__(
        self,
        config: HarnessConfig,
        progress: Progress,
        deployer: Deployer,
        stack_name: str,
        settings_for: SettingsFor,
        *,
        extra_files: Mapping[str, bytes] | None = None,
        port: int | None = None,
        store: SnapshotStore | None = None,
        canary: Canary = run_canary,
        lock_timeout: float = LOCK_TIMEOUT,
        emulator: EmulatorFactory | None = None,
        installed: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.config = config
        self.progress = progress
        self.deployer = deployer
        self.stack_name = stack_name
        self.settings_for = settings_for
        self.extra_files = extra_files
        self.port = port
        self.store = store or SnapshotStore(default_snapshot_root(config.cache_dir))
        self.canary = canary
        self.lock_timeout = lock_timeout
        self.emulator = emulator or self._embedded_backend
        self.installed = installed or self._installed_versions

    @property
    def workspace(self) -> StackWorkspace:
        return self.deployer.workspace(self.stack_name)

    @property
    def state_dir(self) -> Path:
        return self.workspace.root / STATE_DIR_NAME

    def key_parts(self, artifact: LambdaArtifact) -> KeyParts:
        settings = self.settings_for("-", _KEY_GATEWAY_URL)
        variables = settings.to_variables(self.config.region, self.workspace.artifacts / "lambda.zip")
        return key_parts(self.config, variables, artifact.sha256, _KEY_GATEWAY_URL)

    def _installed_versions(self) -> dict[str, str]:
        python = ensure_ministack_python(
            self.config.ministack_spec, self.config.cache_dir, self.progress, self.config.ministack_python
        )
        version = installed_ministack_version(python)
        return {"ministack": version} if version else {}

    # ------------------------------------------------------------------ open
    def open(self, cold: ColdStart) -> Opened:
        """Restore the snapshot of this key, or apply (``cold``) and store one; fall back to ``cold`` with a line."""
        artifact = self.deployer.build_artifact(self.workspace, self.extra_files)
        parts = self.key_parts(artifact)
        found = self._find_or_create(parts, self.installed(), cold)
        if isinstance(found, Opened):
            return found
        restored = self._restore(found, artifact)  # outside the lock: workers restore in parallel
        if isinstance(restored, Opened):
            return restored
        self.store.discard(parts.key)
        self.progress.stage("snapshot", f"discarded snapshot {parts.key}: {restored.reason}; applying instead")
        return cold({})

    def _find_or_create(self, parts: KeyParts, installed: Mapping[str, str], cold: ColdStart) -> Snapshot | Opened:
        """Under the key's lock: the stored snapshot, or a cold apply that stores one (or, failing that, the stack)."""
        with self.store.creating(parts.key, self.lock_timeout) as held:
            if not held:
                self.progress.stage(
                    "snapshot",
                    f"another process has been creating snapshot {parts.key} for over {self.lock_timeout:.0f} s: "
                    "applying without one",
                )
                return cold({})
            found = self.store.open(parts, installed)
            if isinstance(found, Snapshot):
                return found
            if found.present:
                self.store.discard(parts.key)
                self.progress.stage("snapshot", f"discarded: {found.reason}")
            self.progress.stage("snapshot", f"none usable for key {parts.key}: applying, then storing one")
            opened = cold(persistence_environment(self._fresh_state_dir()))
            snapshot = self._take(parts, opened, installed)
            return snapshot if snapshot is not None else self._restart_in_place(opened)

    # ------------------------------------------------------------------ take
    def _take(self, parts: KeyParts, opened: Opened, installed: Mapping[str, str]) -> Snapshot | None:
        """Stop the freshly applied emulator gracefully and store its state; None (with a line) when that fails."""
        started = time.monotonic()
        backend = opened.backend
        placement = self._placement_of(backend)
        backend.stop()
        content = SnapshotContent(
            emulator_state=self.state_dir,
            outputs=opened.stack.outputs.to_json(),
            placement=placement,
            stack=self.stack_name,
            versions={**installed, "terraform": parts.terraform, "provider": parts.provider},
            terraform_state=self.workspace.state_path,
            required=REQUIRED_STATE_FILES,
        )
        try:
            snapshot = self.store.save(parts, content)
        except SnapshotWriteError as error:
            self.progress.stage("snapshot", f"not stored: {error}")
            return None
        self.progress.done(
            "snapshot", time.monotonic() - started, f"stored {snapshot.manifest.size // 1024} KiB in {snapshot.path}"
        )
        return snapshot

    def _restart_in_place(self, opened: Opened) -> Opened:
        """Without a stored snapshot: the same emulator state, the same ports, started again."""
        placement = self._placement_of(opened.backend)
        backend = self._backend(placement)
        endpoint = backend.start()
        return Opened(backend, endpoint, opened.stack, backend.function_endpoint_url)

    def _placement_of(self, backend: Backend) -> Placement:
        if not isinstance(backend, EmbeddedBackend) or backend.port is None:
            raise TypeError(f"snapshots need a started embedded backend, not {backend!r}")
        return Placement(backend.port, backend.gateway_port, str(self.workspace.root))

    # ------------------------------------------------------------------ restore
    def _fresh_state_dir(self) -> Path:
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.state_dir.mkdir(parents=True)
        return self.state_dir

    def _new_placement(self) -> Placement:
        port = self.port or free_loopback_port()
        gateway_port = free_loopback_port()
        while gateway_port == port:
            gateway_port = free_loopback_port()
        return Placement(port, gateway_port, str(self.workspace.root))

    def _backend(self, placement: Placement) -> EmbeddedBackend:
        return self.emulator(placement, persistence_environment(self.state_dir))

    def _embedded_backend(self, placement: Placement, environment: Mapping[str, str]) -> EmbeddedBackend:
        backend = EmbeddedBackend.from_config(self.config, self.progress, port=placement.emulator_port)
        backend.requested_gateway_port = placement.gateway_port or 0
        backend.environment.update(environment)
        return backend

    def _restore(self, snapshot: Snapshot, artifact: LambdaArtifact) -> Opened | Unusable:
        started = time.monotonic()
        placement = self._new_placement()
        try:
            restored = snapshot.restore_into(self._fresh_state_dir(), placement)
            outputs = StackOutputs.from_terraform(restored.outputs)
        except (OSError, ValueError) as error:
            return Unusable(f"it does not restore ({type(error).__name__}: {error})")
        backend = self._backend(placement)
        try:
            endpoint = backend.start()
        except HarnessError as error:
            backend.stop()
            return Unusable(f"the emulator did not start from it ({error.summary})")
        gateway_url = backend.function_endpoint_url
        stack = Stack(
            name=self.stack_name,
            outputs=outputs,
            endpoint=endpoint,
            backend=backend.name,
            capabilities=backend.effective_capabilities,
            workdir=str(self.workspace.workdir),
        )
        if problem := self.canary(stack, artifact.base64sha256):
            backend.stop()
            return Unusable(f"canary failed: {problem}")
        self._record(stack, backend, artifact, restored.terraform_state, gateway_url)
        stack.timings = {"restore": time.monotonic() - started}
        self.progress.done(
            "restore", time.monotonic() - started, f"snapshot {snapshot.key} on {endpoint.url}, canary passed"
        )
        return Opened(backend, endpoint, stack, gateway_url)

    def _record(
        self,
        stack: Stack,
        backend: EmbeddedBackend,
        artifact: LambdaArtifact,
        terraform_state: str | None,
        gateway_url: str | None,
    ) -> None:
        """What a deploy leaves: the module in ``work/``, Terraform's state, ``stack.json``."""
        workspace = self.workspace
        infra_hash = workspace.sync(self.config.path(self.config.infra_dir))
        if terraform_state is not None:
            workspace.state_path.write_text(terraform_state, encoding="utf-8")
        settings = self.settings_for(stack.outputs.name_prefix, gateway_url)
        variables = settings.to_variables(stack.endpoint.region, artifact.path)
        record = StackRecord(
            name=self.stack_name,
            backend=backend.name,
            endpoint_url=stack.endpoint.url,
            region=stack.endpoint.region,
            infra_hash=infra_hash,
            lambda_sha256=artifact.sha256,
            settings_hash=settings_hash(variables),
            outputs=stack.outputs.to_json(),
            emulator_pid=backend.pid,
            emulator_log=backend.log_file,
            gateway_url=gateway_url,
        )
        record.owner_pid = os.getpid()
        record.save(workspace.record_path)
