"""One stack's lifecycle for a pytest session or a CLI command: reuse or start, deploy, hand over, stop.

Warm reuse: a stack left running (``s3pipe up`` or ``--s3pipe-keep``) is found through its
``stack.json`` record. If its emulator still answers and the module and settings are unchanged,
the session attaches without starting anything; a changed handler is redeployed with a
refresh-less apply that only touches the function; anything else is redeployed or replaced,
with a line saying why.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from s3pipe.aws.isolation import refuse_leftover_state
from s3pipe.backends.attached import AttachedBackend
from s3pipe.backends.base import Backend, Credentials, Endpoint, Probes
from s3pipe.backends.probes import pid_alive, real_probes
from s3pipe.backends.registry import BACKEND_CLASSES
from s3pipe.backends.registry import backend_class as registered_backend_class
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, Guard, StackRecord, StackSettings, settings_hash
from s3pipe.errors import HarnessError
from s3pipe.lambda_zip import LambdaArtifact
from s3pipe.progress import Progress
from s3pipe.region import for_module
from s3pipe.snapshots.canary import canary_can_check, run_canary, run_event_path_canary
from s3pipe.snapshots.flow import add_emulator_environment
from s3pipe.snapshots.lifecycle import STATE_DIR_NAME, Opened, SessionSnapshots
from s3pipe.stack import Stack, StackOutputs
from s3pipe.terraform.workspace import content_hash, module_files
from s3pipe.warm import NO_RECORD, attach_problem, claim, release_claim, retire, stop_emulator

__all__ = ["AttachedBackend", "ReuseDecision", "StackSession", "pid_alive", "stop_emulator", "stop_stack"]


#: How long a handler-only code update may take to become active.
CODE_SYNC_TIMEOUT = 60.0
#: Written by ``s3pipe up`` into the stack's workspace: the process that keeps the stack running.
UP_PID_FILE = "up.pid"


def stop_stack(config: HarnessConfig, stack_name: str) -> bool:
    """Stop a stack's `s3pipe up` process and emulator (on AWS: destroy it); forget its record.

    True if something was running.
    """
    workspace = Deployer(config, Progress()).workspace(stack_name)
    record = StackRecord.load(workspace.record_path)
    if record is not None and record.backend in BACKEND_CLASSES and not BACKEND_CLASSES[record.backend].is_emulator:
        destroy_recorded(config, record)
        return True
    up_pid_file = workspace.root / UP_PID_FILE
    stopped = False
    if up_pid_file.exists():
        pid = int(up_pid_file.read_text().strip() or 0)
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            stopped = True
        up_pid_file.unlink(missing_ok=True)
    if record is not None and stop_emulator(record):
        stopped = True
    workspace.record_path.unlink(missing_ok=True)
    return stopped


def destroy_recorded(config: HarnessConfig, record: StackRecord, progress: Progress | None = None) -> None:
    """``terraform destroy`` a recorded stack of real resources in its working copy, then forget its record.

    Terraform runs with the caller's credentials; the working copy's override still pins the account the
    stack was applied in (``allowed_account_ids``), so other credentials are refused, not obeyed.
    """
    deployer = Deployer(config, progress or Progress())
    session = boto3.Session(region_name=record.region)
    endpoint = Endpoint(None, record.region, Credentials("", ""), session=session, account_id=record.account_id)
    deployer.destroy(record.name, endpoint, run_id=record.run_id)
    deployer.workspace(record.name).record_path.unlink(missing_ok=True)


@dataclass
class ReuseDecision:
    reusable: bool
    reason: str
    #: Only the handler changed: its zip, built while deciding, is pushed as is.
    artifact: LambdaArtifact | None = None

    @property
    def lambda_only(self) -> bool:
        return self.artifact is not None


class StackSession:
    """Open (reuse or deploy) and close one named stack.

    Collaborators come in as arguments, each with the real one as default: ``backend_class`` (from
    the registry by ``config.backend``), ``deployer`` (Terraform) and ``probes`` (pids, health
    endpoints, the function gateway). What the session does differently per backend it reads from
    the class: ``supports_warm_reuse``, ``owns_emulator``, ``reuse_problem``, ``has_function_gateway``.
    """

    def __init__(
        self,
        config: HarnessConfig,
        progress: Progress,
        stack_name: str,
        settings: Mapping[str, Any] | None = None,
        *,
        guard: Guard | None = None,
        extra_files: Mapping[str, bytes] | None = None,
        port: int | None = None,
        backend_class: type[Backend] | None = None,
        deployer: Deployer | None = None,
        probes: Probes | None = None,
    ) -> None:
        #: the stack's region: the configured one when given, else the module's own literal one
        self.config, self.region = for_module(config, config.path(config.infra_dir))
        config = self.config
        self.progress = progress
        self.stack_name = stack_name
        self.settings_overrides = dict(settings or {})
        self.backend_class = backend_class or registered_backend_class(config.backend)
        self.deployer = deployer or Deployer(config, progress, guard)
        self.probes = probes or real_probes()
        self.extra_files = extra_files
        self.port = port
        self.backend: Backend | None = None
        self.endpoint: Endpoint | None = None
        self.stack: Stack | None = None
        self._started_backend = False
        #: An apply was started on real resources: close destroys whatever state it left.
        self._applying = False

    # ------------------------------------------------------------------ reuse
    def _settings(self, record: StackRecord | None) -> StackSettings:
        """Test-friendly defaults plus overrides; the name prefix is kept from a recorded stack (never on a
        backend that requires isolation: a fresh one every run, so a just-deleted name is never reused).

        The function gateway needs no variable: the emulator names it as every function's endpoint.
        """
        keep_prefix = record is not None and not self.backend_class.requires_isolation
        prefix = str(record.outputs.get("name_prefix")) if record and keep_prefix else None
        prefix = prefix or StackSettings.unique_prefix(self.stack_name)
        return self._settings_for(prefix)

    def _settings_for(self, prefix: str) -> StackSettings:
        return StackSettings(name_prefix=prefix, **self.settings_overrides)

    def evaluate_reuse(self, record: StackRecord | None, settings: StackSettings) -> ReuseDecision:
        if record is None:
            return ReuseDecision(False, NO_RECORD)
        if problem := attach_problem(record, self.backend_class, self.probes):
            return ReuseDecision(False, problem)
        if record.region != self.config.region:
            return ReuseDecision(False, f"it runs in {record.region}, this session's region is {self.region}")
        infra_dir = self.config.path(self.config.infra_dir)
        if content_hash(module_files(infra_dir), infra_dir) != record.infra_hash:
            return ReuseDecision(False, "infra/ changed since it was deployed (different content hash)")
        workspace = self.deployer.workspace(self.stack_name)
        zip_variable = self.config.zip_variable
        variables = settings.to_variables(record.region, workspace.artifacts / "lambda.zip", zip_variable)
        if settings_hash(variables, zip_variable, self.config.outputs) != record.settings_hash:
            return ReuseDecision(False, "stack settings changed")
        artifact = self.deployer.build_artifact(workspace, self.extra_files)
        if artifact.sha256 != record.lambda_sha256:
            return ReuseDecision(True, "handler changed: redeploying the function only", artifact)
        return ReuseDecision(True, "unchanged")

    # ------------------------------------------------------------------ open/close
    def open(self) -> Stack:
        started = time.monotonic()
        self.progress.stage("region", str(self.region))
        workspace = self.deployer.workspace(self.stack_name)
        record = StackRecord.load(workspace.record_path)
        settings = self._settings(record)
        if self.config.reuse and self.backend_class.supports_warm_reuse:
            decision = self.evaluate_reuse(record, settings)
            if decision.reusable and record is not None and record.endpoint_url is not None:
                return self._opened(self._attach(record, settings, decision, started), record.gateway_url)
            if record is not None:
                self.progress.stage("reuse", f"not reusing stack {self.stack_name!r}: {decision.reason}")
        if self.backend_class.owns_emulator:
            if record is not None:
                self._retire(record)
                workspace.remove()  # its emulator is gone or replaced: the state describes nothing real
                record = None
            workspace.forget_state()  # a new emulator starts empty: state left by an earlier run is stale
        if self.config.snapshots and self.backend_class.supports_snapshots:
            # the shipped handler's canary reads its items; a handler of your own gets the event-path canary, and
            # its snapshot a clean terraform plan once (snapshots/canary.py, snapshots/flow.py)
            shipped = canary_can_check(self.config.path(self.config.lambda_dir))
            snapshots = SessionSnapshots(
                self.config,
                self.progress,
                self.deployer,
                self.stack_name,
                self._settings_for,
                extra_files=self.extra_files,
                port=self.port,
                canary=run_canary if shipped else run_event_path_canary,
                verify_plan=not shipped,
            )
            opened = snapshots.open(lambda environment: self._cold_start(environment, record))
        else:
            opened = self._cold_start({}, record)
        self.backend, self.endpoint, self._started_backend = opened.backend, opened.endpoint, True
        endpoint = opened.endpoint
        self.progress.done("ready", time.monotonic() - started, f"stack {self.stack_name!r} on {endpoint.url or 'AWS'}")
        self.stack = opened.stack
        return self._opened(opened.stack, opened.gateway_url)

    def _cold_start(self, emulator_environment: Mapping[str, str], record: StackRecord | None) -> Opened:
        """Start a new backend (with these extra emulator variables) and apply the module: the cold path."""
        backend = self.backend_class.from_config(self.config, self.progress, port=self.port)
        add_emulator_environment(backend, emulator_environment)
        self.backend = backend
        endpoint = backend.start()
        self.endpoint = endpoint
        self._started_backend = True
        gateway_url = backend.function_endpoint_url
        settings = self._settings(record)
        workspace = self.deployer.workspace(self.stack_name)
        if backend.requires_isolation:
            refuse_leftover_state(self.stack_name, workspace.state_path)
        self._applying = not backend.is_emulator
        if self._applying:  # recorded before the apply: `s3pipe down --stack` finds even a half-applied stack
            workspace.root.mkdir(parents=True, exist_ok=True)
            provisional = StackRecord(self.stack_name, backend.name, endpoint.url, endpoint.region, "", "", "", {})
            provisional.run_id, provisional.account_id = self.config.run_id, endpoint.account_id
            provisional.save(workspace.record_path)
        stack = self.deployer.deploy(self.stack_name, backend, endpoint, settings, self.extra_files)
        return Opened(backend, endpoint, stack, gateway_url)

    def _retire(self, record: StackRecord) -> None:
        """Stop the emulator of a stack being replaced; never one another live session uses (an error)."""
        record_path = self.deployer.workspace(self.stack_name).record_path
        retire(record, record_path, stack_name=self.stack_name, alive=self.probes.pid_alive, progress=self.progress)

    def _opened(self, stack: Stack, gateway_url: str | None) -> Stack:
        """Remember the stack's gateway (the IAM audit marks its journal itself: :mod:`s3pipe.iam.audit`) and
        its emulator's log (what the function did, for waits that fail)."""
        stack.gateway_url = gateway_url
        stack.emulator_log = self.backend.log_file if self.backend is not None else None
        return stack

    def _attach(self, record: StackRecord, settings: StackSettings, decision: ReuseDecision, started: float) -> Stack:
        assert record.endpoint_url is not None
        original = self.backend_class
        backend = AttachedBackend(
            original, record.endpoint_url, record.region, record.emulator_pid, record.emulator_log
        )
        self.backend = backend
        endpoint = backend.start()
        self.progress.stage("reuse", f"warm stack {self.stack_name!r} on {endpoint.url}: {decision.reason}")
        if original.has_function_gateway and not record.gateway_url:
            self.progress.stage(
                "reuse",
                "  it has no function gateway (deployed by an older harness): no IAM audit, no fault injection; "
                f"`s3pipe down --stack {self.stack_name}` replaces it on the next run",
            )
        stack = Stack(
            name=self.stack_name,
            outputs=StackOutputs.from_terraform(record.outputs),
            endpoint=endpoint,
            backend=original.name,
            capabilities=original.capabilities,
            workdir=str(self.deployer.workspace(self.stack_name).workdir),
        )
        if decision.artifact is not None:
            self._sync_function_code(stack, record, decision.artifact)
        self._claim(record)
        self.progress.done("ready", time.monotonic() - started, f"warm stack {self.stack_name!r}")
        self.stack = stack
        return stack

    def _sync_function_code(self, stack: Stack, record: StackRecord, artifact: LambdaArtifact) -> None:
        """Push a changed handler straight to the function: no Terraform run (cf. ``sam sync --code``).

        Only the zip changed (module and settings hashes are equal), so the one resource to update is the
        function's code. Terraform's state keeps the old ``source_code_hash``; its next apply re-uploads
        the same code. Waits until Lambda reports the update successful.
        """
        started = time.monotonic()
        workspace = self.deployer.workspace(self.stack_name)
        function = stack.outputs.function_name
        stack.lambda_.update_function_code(FunctionName=function, ZipFile=artifact.path.read_bytes())
        deadline = time.monotonic() + CODE_SYNC_TIMEOUT
        status = "InProgress"
        while time.monotonic() < deadline:
            status = stack.lambda_.get_function_configuration(FunctionName=function).get("LastUpdateStatus", "")
            if status in {"Successful", "Failed"}:
                break
            time.sleep(0.05)
        if status != "Successful":
            raise HarnessError(
                f"The function {function} did not take the new handler code",
                tried=f"update_function_code on {stack.endpoint.url} and wait for LastUpdateStatus=Successful",
                seen=f"LastUpdateStatus={status!r} after {time.monotonic() - started:.1f} s",
                fix=f"read the emulator log, or replace the stack: `s3pipe down --stack {self.stack_name}`",
            )
        record.lambda_sha256 = artifact.sha256
        record.code_synced_sha256 = artifact.sha256
        record.save(workspace.record_path)
        self.progress.done("code sync", time.monotonic() - started, f"{function} ({artifact.size} bytes)")

    def _claim(self, record: StackRecord) -> None:
        """Mark the warm stack as used by this session, so a concurrent session does not attach too."""
        claim(record, self.deployer.workspace(self.stack_name).record_path)

    def _release_claim(self) -> None:
        release_claim(self.deployer.workspace(self.stack_name).record_path)

    def close(self, *, keep: bool | None = None) -> None:
        keep = self.config.keep if keep is None else keep
        backend, self.backend = self.backend, None
        if backend is None:
            return
        if keep or not self._started_backend:
            backend.detach()
            self._release_claim()
            if self.stack is not None and keep:
                where = self.stack.endpoint.url or f"AWS ({self.stack.endpoint.region}; `s3pipe down` destroys it)"
                self.progress.stage("keep", f"stack {self.stack_name!r} left running on {where}")
            return
        try:
            if not backend.is_emulator and self.endpoint is not None and self._applying:
                # real resources: destroy whatever state exists, also after a failed apply
                self.deployer.destroy(self.stack_name, self.endpoint)
                self.deployer.workspace(self.stack_name).record_path.unlink(missing_ok=True)
        finally:
            backend.stop()
            if backend.is_emulator:
                workspace = self.deployer.workspace(self.stack_name)
                workspace.record_path.unlink(missing_ok=True)
                workspace.forget_state()
                shutil.rmtree(workspace.root / STATE_DIR_NAME, ignore_errors=True)
