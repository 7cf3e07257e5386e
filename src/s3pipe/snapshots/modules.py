"""A module stack through the snapshot cache (:mod:`s3pipe.module_stack`): the pipeline's flow
(:mod:`.flow`), verified by Terraform instead of a canary.

No canary knows an arbitrary module, so a restore counts only when ``terraform plan
-detailed-exitcode`` against the restored emulator finds nothing to change; otherwise the snapshot
is discarded with one line saying why and the module is applied.
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
from s3pipe.errors import HarnessError
from s3pipe.progress import Progress
from s3pipe.snapshots.flow import EmulatorFactory, SnapshotFlow
from s3pipe.snapshots.inputs import module_key_parts
from s3pipe.snapshots.store import Snapshot, SnapshotStore, Unusable

#: Changes named in the line that discards a snapshot whose plan is not clean.
_CHANGES_SHOWN = 3


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
