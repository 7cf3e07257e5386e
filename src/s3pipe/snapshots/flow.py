"""Restore-or-create, shared by the pipeline's stack (:mod:`.lifecycle`) and any module's (``s3pipe.module_stack``).

Under the key's lock (so two xdist workers do not both apply): the stored snapshot, or a cold apply
with MiniStack's persistence on, a graceful stop (MiniStack writes its state), the snapshot stored,
and then the same restore a later session does. The restore itself, and how it is verified, is the
caller's: a restore that fails discards the snapshot with one line and the caller applies as usual.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, Protocol, Self, TypeVar

from s3pipe.backends.base import Backend, Endpoint
from s3pipe.backends.embedded import EmbeddedBackend, free_loopback_port
from s3pipe.backends.ministack_env import ensure_ministack_python
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer
from s3pipe.errors import HarnessError
from s3pipe.progress import Progress
from s3pipe.snapshots.inputs import installed_ministack_version
from s3pipe.snapshots.key import KeyParts
from s3pipe.snapshots.ministack import persistence_environment
from s3pipe.snapshots.rebase import Placement
from s3pipe.snapshots.store import (
    Restored,
    Snapshot,
    SnapshotContent,
    SnapshotStore,
    SnapshotWriteError,
    Unusable,
    default_snapshot_root,
)
from s3pipe.terraform.workspace import StackWorkspace

#: How long a session waits for another process that is creating the same snapshot (a cold apply takes ~60 s).
LOCK_TIMEOUT = 300.0
#: The emulator's working STATE_DIR inside the stack's workspace.
STATE_DIR_NAME = "emulator-state"
#: The verification a snapshot needs once: ``terraform plan`` finds the restored resources as the state names them.
PLAN_CHECK = "terraform plan clean"
#: Changes named in the line that discards a snapshot whose plan is not clean.
_CHANGES_SHOWN = 3


class Started(Protocol):
    """A started backend with a stack on it, as the caller's cold path and restore return it."""

    @property
    def backend(self) -> Backend: ...

    def snapshot_outputs(self) -> Mapping[str, Any]:
        """The outputs to store with the snapshot."""
        ...

    def restarted(self, backend: EmbeddedBackend, endpoint: Endpoint) -> Self:
        """The same stack on a backend started again from the same state and ports."""
        ...


StartedT = TypeVar("StartedT", bound=Started)
#: Start the backend with these extra emulator variables and apply the module (the caller's cold path).
ColdStart = Callable[[Mapping[str, str]], StartedT]
#: An embedded backend (not started) for a placement, with these extra emulator variables.
EmulatorFactory = Callable[[Placement, Mapping[str, str]], EmbeddedBackend]


def add_emulator_environment(backend: Backend, environment: Mapping[str, str]) -> None:
    """Extra emulator variables (MiniStack's persistence) for a backend about to start: the embedded one only."""
    if not environment:
        return
    if not isinstance(backend, EmbeddedBackend):
        raise TypeError(f"emulator variables need the embedded backend, not {backend.name!r}")
    backend.environment.update(environment)


class Restoring:
    """A snapshot being restored: its state rebased into a fresh STATE_DIR and the emulator started on new ports."""

    def __init__(self, restored: Restored, backend: EmbeddedBackend, endpoint: Endpoint, started: float) -> None:
        self.restored = restored
        self.backend = backend
        self.endpoint = endpoint
        self.started = started

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


class SnapshotFlow(Generic[StartedT]):
    """Open one named stack through the snapshot cache (embedded backend)."""

    #: Emulator state files a graceful stop must have written (missing -> no snapshot).
    required_state_files: tuple[str, ...] = ()

    def __init__(
        self,
        config: HarnessConfig,
        progress: Progress,
        deployer: Deployer,
        stack_name: str,
        *,
        port: int | None = None,
        store: SnapshotStore | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        emulator: EmulatorFactory | None = None,
        installed: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.config = config
        self.progress = progress
        self.deployer = deployer
        self.stack_name = stack_name
        self.port = port
        self.store = store or SnapshotStore(default_snapshot_root(config.cache_dir))
        self.lock_timeout = lock_timeout
        self.emulator = emulator or self._embedded_backend
        self.installed = installed or self._installed_versions

    @property
    def workspace(self) -> StackWorkspace:
        return self.deployer.workspace(self.stack_name)

    @property
    def state_dir(self) -> Path:
        return self.workspace.root / STATE_DIR_NAME

    def _installed_versions(self) -> dict[str, str]:
        python = ensure_ministack_python(
            self.config.ministack_spec, self.config.cache_dir, self.progress, self.config.ministack_python
        )
        version = installed_ministack_version(python)
        return {"ministack": version} if version else {}

    # ------------------------------------------------------------------ open
    def open_through(
        self,
        parts: KeyParts,
        cold: ColdStart[StartedT],
        restore: Callable[[Snapshot], StartedT | Unusable],
    ) -> StartedT:
        """Restore the snapshot of ``parts``, or apply (``cold``) and store one; fall back to ``cold`` with a line."""
        found = self._find_or_create(parts, self.installed(), cold)
        if not isinstance(found, Snapshot):
            return found
        restored = restore(found)  # outside the lock: workers restore in parallel
        if not isinstance(restored, Unusable):
            return restored
        self.store.discard(parts.key)
        self.progress.stage("snapshot", f"discarded snapshot {parts.key}: {restored.reason}; applying instead")
        return cold({})

    def _find_or_create(
        self, parts: KeyParts, installed: Mapping[str, str], cold: ColdStart[StartedT]
    ) -> Snapshot | StartedT:
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
    def _take(self, parts: KeyParts, opened: StartedT, installed: Mapping[str, str]) -> Snapshot | None:
        """Stop the freshly applied emulator gracefully and store its state; None (with a line) when that fails."""
        started = time.monotonic()
        backend = opened.backend
        placement = self._placement_of(backend)
        backend.stop()
        content = SnapshotContent(
            emulator_state=self.state_dir,
            outputs=opened.snapshot_outputs(),
            placement=placement,
            stack=self.stack_name,
            versions={**installed, "terraform": parts.terraform, "provider": parts.provider},
            terraform_state=self.workspace.state_path,
            required=self.required_state_files,
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

    def _restart_in_place(self, opened: StartedT) -> StartedT:
        """Without a stored snapshot: the same emulator state, the same ports, started again."""
        placement = self._placement_of(opened.backend)
        backend = self._backend(placement)
        return opened.restarted(backend, backend.start())

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

    def verified_plan(
        self,
        snapshot: Snapshot,
        restoring: Restoring,
        module_dir: Path,
        variables: Mapping[str, Any],
    ) -> str | None:
        """None when Terraform finds the restored resources as the restored state names them; one line otherwise.

        Checked once per snapshot, on its first restore (in the session that created it), and recorded with it:
        a restore is a function of the snapshot's bytes and the MiniStack version, both part of the key, so a
        later restore of the same snapshot finds what the first one found. The state is written either way.
        """
        terraform_state = restoring.restored.terraform_state
        if terraform_state is None:
            return "it holds no Terraform state to verify it with"
        self.workspace.state_path.write_text(terraform_state, encoding="utf-8")
        if snapshot.verified_by(PLAN_CHECK):
            return None
        try:
            terraform, _hash = self.deployer.prepare_module(
                self.stack_name, restoring.backend, restoring.endpoint, module_dir, variables
            )
            with self.progress.timed("plan"):
                check = terraform.plan_is_clean()
        except HarnessError as error:
            return f"terraform plan against it failed ({'; '.join([error.summary, *error.seen[-1:]])})"
        if not check.clean:
            shown = ", ".join(check.changes[:_CHANGES_SHOWN]) or "no change listed"
            more = f" and {len(check.changes) - _CHANGES_SHOWN} more" if len(check.changes) > _CHANGES_SHOWN else ""
            return f"terraform plan against it is not clean (exit 2: {shown}{more})"
        self.store.mark_verified(snapshot, PLAN_CHECK)
        return None

    def _start_restored(self, snapshot: Snapshot) -> Restoring | Unusable:
        """The snapshot's state rebased onto new ports and the emulator started from it (the caller verifies)."""
        started = time.monotonic()
        placement = self._new_placement()
        try:
            restored = snapshot.restore_into(self._fresh_state_dir(), placement)
        except (OSError, ValueError) as error:
            return Unusable(f"it does not restore ({type(error).__name__}: {error})")
        backend = self._backend(placement)
        try:
            endpoint = backend.start()
        except HarnessError as error:
            backend.stop()
            return Unusable(f"the emulator did not start from it ({error.summary})")
        return Restoring(restored, backend, endpoint, started)
