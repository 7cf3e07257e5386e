"""A module stack through the snapshot cache (:mod:`s3pipe.module_stack`): the pipeline's flow
(:mod:`.flow`), verified by Terraform instead of a canary.

No canary knows an arbitrary module, so a snapshot counts only when ``terraform plan
-detailed-exitcode`` against its first restore finds nothing to change (recorded with the snapshot:
:meth:`~s3pipe.snapshots.flow.SnapshotFlow.verified_plan`); otherwise it is discarded with one line
saying why and the module is applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3pipe.backends.base import Backend, Endpoint
from s3pipe.backends.embedded import EmbeddedBackend
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer
from s3pipe.progress import Progress
from s3pipe.snapshots.flow import PLAN_CHECK, EmulatorFactory, SnapshotFlow
from s3pipe.snapshots.inputs import module_key_parts
from s3pipe.snapshots.store import Snapshot, SnapshotStore, Unusable


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
        planned = not snapshot.verified_by(PLAN_CHECK)
        problem = self.verified_plan(snapshot, started, self.module_dir, self.variables)
        if problem is not None:
            backend.stop()
            self.workspace.forget_state()
            return Unusable(problem)
        check = "plan clean" if planned else "its plan was clean when first restored"
        self.progress.done("restore", started.seconds, f"snapshot {snapshot.key} on {endpoint.url}, {check}")
        return ModuleOpened(backend, endpoint, started.restored.outputs)
