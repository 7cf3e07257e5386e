"""A cold session with snapshots: restore a matching snapshot, or apply once, snapshot, and go on from the copy.

Restore: fill a fresh MiniStack STATE_DIR from the snapshot with this session's ports, start the
emulator on them, run the canary, write the stack record and Terraform state. Any failure discards
the snapshot with one line and the session applies as it always did.

Create: under the key's lock (so two xdist workers do not both apply), apply with MiniStack's
persistence on, stop the emulator gracefully (it writes its state), store the snapshot, and then
continue exactly as a later session would: restore it into a fresh emulator and run the canary.
The flow is :class:`~s3pipe.snapshots.flow.SnapshotFlow`'s; the canary and the stack record are this module's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3pipe.backends.base import Backend, Endpoint
from s3pipe.backends.embedded import EmbeddedBackend
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, StackRecord, StackSettings, settings_hash
from s3pipe.lambda_zip import LambdaArtifact
from s3pipe.progress import Progress
from s3pipe.snapshots.canary import run_canary
from s3pipe.snapshots.flow import LOCK_TIMEOUT, PLAN_CHECK, STATE_DIR_NAME, EmulatorFactory, SnapshotFlow
from s3pipe.snapshots.inputs import key_parts
from s3pipe.snapshots.key import KeyParts
from s3pipe.snapshots.ministack import REQUIRED_STATE_FILES
from s3pipe.snapshots.store import Snapshot, SnapshotStore, Unusable
from s3pipe.stack import Stack, StackOutputs

__all__ = ["LOCK_TIMEOUT", "STATE_DIR_NAME", "Opened", "SessionSnapshots"]


@dataclass
class Opened:
    """A started backend with the stack on it."""

    backend: Backend
    endpoint: Endpoint
    stack: Stack
    gateway_url: str | None

    def snapshot_outputs(self) -> Mapping[str, Any]:
        return self.stack.outputs.to_json()

    def restarted(self, backend: EmbeddedBackend, endpoint: Endpoint) -> Opened:
        return Opened(backend, endpoint, self.stack, backend.function_endpoint_url)


#: Start the backend with these extra emulator variables and apply the module (the session's cold path).
ColdStart = Callable[[Mapping[str, str]], Opened]
#: The session's settings for a name prefix.
SettingsFor = Callable[[str], StackSettings]
Canary = Callable[[Stack, str], str | None]


class SessionSnapshots(SnapshotFlow[Opened]):
    """Open one named pipeline stack through the snapshot cache (embedded backend); the canary verifies a restore."""

    required_state_files = REQUIRED_STATE_FILES

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
        verify_plan: bool = False,
        lock_timeout: float = LOCK_TIMEOUT,
        emulator: EmulatorFactory | None = None,
        installed: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        super().__init__(
            config,
            progress,
            deployer,
            stack_name,
            port=port,
            store=store,
            lock_timeout=lock_timeout,
            emulator=emulator,
            installed=installed,
        )
        self.settings_for = settings_for
        self.extra_files = extra_files
        self.canary = canary
        #: A handler of your own: the event-path canary proves the path, a clean plan (once) the resources.
        self.verify_plan = verify_plan

    def key_parts(self, artifact: LambdaArtifact) -> KeyParts:
        settings = self.settings_for("-")
        variables = settings.to_variables(self.config.region, self.workspace.artifacts / "lambda.zip")
        return key_parts(self.config, variables, artifact.sha256)

    def open(self, cold: ColdStart) -> Opened:
        """Restore the snapshot of this key, or apply (``cold``) and store one; fall back to ``cold`` with a line."""
        artifact = self.deployer.build_artifact(self.workspace, self.extra_files)
        return self.open_through(self.key_parts(artifact), cold, lambda snapshot: self._restore(snapshot, artifact))

    def _restore(self, snapshot: Snapshot, artifact: LambdaArtifact) -> Opened | Unusable:
        started = self._start_restored(snapshot)
        if isinstance(started, Unusable):
            return started
        backend, endpoint = started.backend, started.endpoint
        try:
            outputs = StackOutputs.from_terraform(started.restored.outputs)
        except ValueError as error:
            backend.stop()
            return Unusable(f"it does not restore ({type(error).__name__}: {error})")
        gateway_url = backend.function_endpoint_url
        stack = Stack(
            name=self.stack_name,
            outputs=outputs,
            endpoint=endpoint,
            backend=backend.name,
            capabilities=backend.effective_capabilities,
            workdir=str(self.workspace.workdir),
            emulator_log=backend.log_file,
        )
        checks = "canary passed"
        if self.verify_plan:
            planned = not snapshot.verified_by(PLAN_CHECK)
            if problem := self.verified_plan(snapshot, started, self._infra_dir, self._variables(stack, artifact)):
                backend.stop()
                self.workspace.forget_state()
                return Unusable(problem)
            checks = ("plan clean" if planned else "plan clean when first restored") + ", event path works"
        if problem := self.canary(stack, artifact.base64sha256):
            backend.stop()
            return Unusable(f"canary failed: {problem}")
        self._record(stack, backend, artifact, started.restored.terraform_state)
        stack.timings = {"restore": started.seconds}
        self.progress.done("restore", started.seconds, f"snapshot {snapshot.key} on {endpoint.url}, {checks}")
        return Opened(backend, endpoint, stack, gateway_url)

    @property
    def _infra_dir(self) -> Path:
        return self.config.path(self.config.infra_dir)

    def _variables(self, stack: Stack, artifact: LambdaArtifact) -> dict[str, Any]:
        """The variables the module was applied with (as the deploy passes them), for the plan."""
        settings = self.settings_for(stack.outputs.name_prefix)
        variables = settings.to_variables(stack.endpoint.region, artifact.path, self.config.zip_variable)
        return self.deployer.module_variables(self._infra_dir, variables, settings)

    def _record(
        self,
        stack: Stack,
        backend: EmbeddedBackend,
        artifact: LambdaArtifact,
        terraform_state: str | None,
    ) -> None:
        """What a deploy leaves: the module in ``work/``, Terraform's state, ``stack.json``."""
        workspace = self.workspace
        infra_hash = workspace.sync(self.config.path(self.config.infra_dir))
        if terraform_state is not None:
            workspace.state_path.write_text(terraform_state, encoding="utf-8")
        settings = self.settings_for(stack.outputs.name_prefix)
        zip_variable = self.config.zip_variable
        variables = settings.to_variables(stack.endpoint.region, artifact.path, zip_variable)
        record = StackRecord.running(
            self.stack_name,
            backend,
            stack.endpoint,
            infra_hash=infra_hash,
            lambda_sha256=artifact.sha256,
            # as Deployer.deploy records it, so the next session's reuse check matches a restored stack too
            settings_hash=settings_hash(variables, zip_variable, self.config.outputs),
            outputs=stack.outputs.to_json(),
            owner_pid=os.getpid(),
        )
        record.save(workspace.record_path)
