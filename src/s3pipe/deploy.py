"""Deploy the real ``infra/`` onto a backend: working copy, Lambda zip, init, apply, typed outputs.

Stages print progress lines with timings (emulator start, init, apply, ready). What was
deployed is recorded in ``stack.json`` beside the state so a later session can find and
reuse a warm stack (see :mod:`s3pipe.session`, :mod:`s3pipe.warm`).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s3pipe.aws.adoption import refuse_adoption
from s3pipe.aws.isolation import provider_pins, require_prefix_variable
from s3pipe.aws.leftovers import destroy_failed
from s3pipe.aws.run import run_tags
from s3pipe.backends.base import Backend, Endpoint, loopback_no_proxy
from s3pipe.config import HarnessConfig
from s3pipe.errors import HarnessError
from s3pipe.lambda_zip import LambdaArtifact, build_lambda_zip
from s3pipe.outputs import SdkLookup, check_roles, resolve_outputs
from s3pipe.progress import Progress
from s3pipe.stack import Stack, make_client
from s3pipe.terraform.cli import ResourceTiming, Terraform
from s3pipe.terraform.providers import ProviderInstallation
from s3pipe.terraform.workspace import (
    MODULES_MANIFEST,
    StackWorkspace,
    aws_provider_aliases,
    declared_outputs,
    declared_variables,
    literal_provider_regions,
)

#: The variable of ``infra/`` that receives the handler zip's path (``s3pipe_zip_variable``).
DEFAULT_ZIP_VARIABLE = "lambda_zip_path"
_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")

#: Environment variables that would send Terraform to a real account; removed for emulator backends.
_AWS_ENV_PREFIX = "AWS_"

#: Checks run on (endpoint, terraform environment, workspace) before anything is applied.
Guard = Callable[[Endpoint, Mapping[str, str], StackWorkspace, Backend], None]


@dataclass(frozen=True)
class StackSettings:
    """Variables the harness passes to ``infra/``: test-friendly timings and throwaway resources.

    Short timeouts make redelivery and DLQ routing observable in seconds; production defaults
    live in ``infra/variables.tf``.
    """

    name_prefix: str
    lambda_timeout: int = 10
    visibility_timeout_seconds: int = 10
    max_receive_count: int = 3
    batch_size: int = 10
    maximum_batching_window_in_seconds: int = 0
    maximum_concurrency: int = 4
    log_retention_days: int = 1
    lambda_tracing_mode: str = "PassThrough"
    #: Off for throwaway stacks: the provider waits a fixed ~55 s after creating a lifecycle configuration.
    enable_lifecycle_rules: bool = False
    extra_environment: Mapping[str, str] = field(default_factory=dict)
    extra_variables: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def unique_prefix(stack_name: str) -> str:
        """``s3p-<stack>-<6 hex>``: unique per stack so parallel stacks never collide (<= 32 chars)."""
        slug = "".join(c if c in _SLUG_CHARS else "-" for c in stack_name.lower()).strip("-")[:16].strip("-")
        slug = slug or "stack"
        return f"s3p-{slug}-{secrets.token_hex(3)}"

    def to_variables(self, region: str, lambda_zip: Path, zip_variable: str = DEFAULT_ZIP_VARIABLE) -> dict[str, Any]:
        """Every variable the harness can set; :meth:`Deployer.deploy` passes those the module declares."""
        variables: dict[str, Any] = {
            "region": region,
            "name_prefix": self.name_prefix,
            zip_variable: str(lambda_zip),
            "lambda_timeout": self.lambda_timeout,
            "visibility_timeout_seconds": self.visibility_timeout_seconds,
            "max_receive_count": self.max_receive_count,
            "batch_size": self.batch_size,
            "maximum_batching_window_in_seconds": self.maximum_batching_window_in_seconds,
            "maximum_concurrency": self.maximum_concurrency,
            "log_retention_days": self.log_retention_days,
            "lambda_tracing_mode": self.lambda_tracing_mode,
            "enable_lifecycle_rules": self.enable_lifecycle_rules,
            "extra_environment": dict(self.extra_environment),
            "force_destroy": True,
            "deletion_protection": False,
        }
        variables.update(self.extra_variables)
        return variables


@dataclass
class StackRecord:
    """What ``stack.json`` remembers about a deployed stack (for warm reuse and ``s3pipe down``)."""

    name: str
    backend: str
    endpoint_url: str | None
    region: str
    infra_hash: str
    lambda_sha256: str
    settings_hash: str
    outputs: dict[str, Any]
    emulator_pid: int | None = None
    emulator_log: str | None = None
    owner_pid: int | None = None
    deployed_at: float = field(default_factory=time.time)
    #: The function gateway the deployed function calls AWS through (embedded backend), if any.
    gateway_url: str | None = None
    #: Set when a handler-only change was pushed straight to the function (``update_function_code``):
    #: Terraform's state still holds the previous ``source_code_hash`` and its next apply re-uploads
    #: the same code (the way ``sam sync --code`` relates to CloudFormation).
    code_synced_sha256: str | None = None
    #: The run that applied it (its resources' ``s3pipe:run`` tag on AWS) and the account, on AWS.
    run_id: str | None = None
    account_id: str | None = None

    @classmethod
    def running(
        cls,
        name: str,
        backend: Backend,
        endpoint: Endpoint,
        *,
        infra_hash: str,
        lambda_sha256: str,
        settings_hash: str,
        outputs: dict[str, Any],
        owner_pid: int | None = None,
        run_id: str | None = None,
    ) -> StackRecord:
        """The record of a stack running on ``backend`` at ``endpoint`` (its emulator, log and gateway)."""
        return cls(
            name=name,
            backend=backend.name,
            endpoint_url=endpoint.url,
            region=endpoint.region,
            infra_hash=infra_hash,
            lambda_sha256=lambda_sha256,
            settings_hash=settings_hash,
            outputs=outputs,
            emulator_pid=backend.pid,
            emulator_log=backend.log_file,
            owner_pid=owner_pid,
            gateway_url=backend.function_endpoint_url,
            run_id=run_id,
            account_id=endpoint.account_id,
        )

    def save(self, path: Path) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path) -> StackRecord | None:
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None


def terraform_environment(endpoint: Endpoint, installation: ProviderInstallation) -> dict[str, str]:
    """Terraform's environment. For emulators: no real AWS settings, catch-all endpoint, fake credentials."""
    if endpoint.url is None:
        env = dict(os.environ)
    else:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_AWS_ENV_PREFIX)}
        env.update(
            {
                # The aws provider honours AWS_ENDPOINT_URL for every service the override does not list.
                "AWS_ENDPOINT_URL": endpoint.url,
                "AWS_ACCESS_KEY_ID": endpoint.credentials.access_key_id,
                "AWS_SECRET_ACCESS_KEY": endpoint.credentials.secret_access_key,
                "AWS_REGION": endpoint.region,
                "AWS_DEFAULT_REGION": endpoint.region,
                "AWS_EC2_METADATA_DISABLED": "true",
                # nothing from ~/.aws (profiles, SSO, credential processes) may reach an emulator run
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                **loopback_no_proxy(env),
            }
        )
    for name in installation.unset:
        env.pop(name, None)
    env.update(installation.env)
    env.setdefault("TF_INPUT", "0")
    return env


def settings_hash(
    variables: Mapping[str, Any], zip_variable: str = DEFAULT_ZIP_VARIABLE, outputs: Mapping[str, str] | None = None
) -> str:
    """What a warm stack must match: its variables (not the zip's path) and, when mapped, its output roles."""
    relevant: dict[str, Any] = {k: v for k, v in variables.items() if k != zip_variable}
    if outputs:  # the recorded outputs were resolved through this mapping
        relevant["(s3pipe_outputs)"] = dict(sorted(outputs.items()))
    return json.dumps(relevant, sort_keys=True)


class Deployer:
    """Applies ``infra/`` for one named stack and returns a :class:`Stack`."""

    def __init__(self, config: HarnessConfig, progress: Progress, guard: Guard | None = None) -> None:
        self.config = config
        self.progress = progress
        self.guard = guard

    def workspace(self, stack_name: str) -> StackWorkspace:
        return StackWorkspace(self.config.path(self.config.state_dir) / "stacks" / stack_name)

    def build_artifact(self, workspace: StackWorkspace, extra_files: Mapping[str, bytes] | None) -> LambdaArtifact:
        return build_lambda_zip(
            self.config.path(self.config.lambda_dir), workspace.artifacts / "lambda.zip", extra_files
        )

    def terraform(self, workspace: StackWorkspace, endpoint: Endpoint) -> tuple[Terraform, ProviderInstallation]:
        installation = ProviderInstallation.resolve(self.config.tf_plugin_dir, self.config.cache_dir)
        env = terraform_environment(endpoint, installation)
        return Terraform(workspace.workdir, env, self.config.terraform_binary), installation

    def deploy(
        self,
        stack_name: str,
        backend: Backend,
        endpoint: Endpoint,
        settings: StackSettings,
        extra_files: Mapping[str, bytes] | None = None,
    ) -> Stack:
        """Apply the pipeline module to the backend's endpoint, complete its outputs and record the stack."""
        workspace = self.workspace(stack_name)
        infra_dir = self.config.path(self.config.infra_dir)
        if (declared := declared_outputs(infra_dir)) is not None:
            check_roles(  # in seconds, not after a whole apply
                declared,
                self.config.outputs,
                infra_dir,
                mapping_from=self.config.where("outputs"),
                settings="as " + self.config.where_to_set("outputs"),
            )
        artifact = self.build_artifact(workspace, extra_files)
        variables = settings.to_variables(endpoint.region, artifact.path, self.config.zip_variable)
        raw, infra_hash = self.apply_module(
            stack_name,
            backend,
            endpoint,
            infra_dir,
            self.module_variables(infra_dir, variables, settings),
            label=settings.name_prefix,
        )
        outputs = resolve_outputs(
            raw,
            self.config.outputs,
            SdkLookup(lambda service: make_client(endpoint, service)),
            region=endpoint.region,
            name_prefix=settings.name_prefix,
            module=infra_dir,
        )

        record = StackRecord.running(
            stack_name,
            backend,
            endpoint,
            infra_hash=infra_hash,
            lambda_sha256=artifact.sha256,
            settings_hash=settings_hash(variables, self.config.zip_variable, self.config.outputs),
            outputs=outputs.to_json(),
            owner_pid=os.getpid(),
            run_id=self.config.run_id,
        )
        record.save(workspace.record_path)
        return Stack(
            name=stack_name,
            outputs=outputs,
            endpoint=endpoint,
            backend=backend.name,
            capabilities=backend.effective_capabilities,
            workdir=str(workspace.workdir),
            timings=dict(self.progress.timings),
            log_read_interval=backend.log_read_interval,
            resource_tags=run_tags(self.config.run_id, stack_name) if backend.requires_isolation else {},
        )

    def apply_module(  # noqa: PLR0917 - the one place every apply goes through
        self,
        stack_name: str,
        backend: Backend,
        endpoint: Endpoint,
        module_dir: Path,
        variables: Mapping[str, Any],
        label: str = "",
    ) -> tuple[dict[str, Any], str]:
        """Copy any module to the stack's workspace, guard, init, apply; its raw outputs and content hash."""
        terraform, module_hash = self.prepare_module(stack_name, backend, endpoint, module_dir, variables)
        self.progress.stage("apply", f"{module_dir} -> stack {stack_name!r}" + (f" ({label})" if label else ""))

        def report(timing: ResourceTiming) -> None:
            if timing.seconds >= 5:
                self.progress.stage("", f"  {timing.address} {timing.action} in {timing.seconds:.0f} s")

        plan_file = self.refuse_adoption(stack_name, terraform, backend, endpoint)
        with self.progress.timed("apply"):
            terraform.apply(on_resource=report, plan_file=plan_file)
        return terraform.outputs(), module_hash

    def refuse_adoption(
        self, stack_name: str, terraform: Terraform, backend: Backend, endpoint: Endpoint
    ) -> Path | None:
        """On AWS: save the plan, refuse it if it would adopt an existing resource; the plan to apply (else None)."""
        if not backend.requires_isolation:
            return None
        plan_file = self.workspace(stack_name).root / "s3pipe.tfplan"
        with self.progress.timed("plan"):
            terraform.plan_to_file(plan_file)
            plan = terraform.show_plan(plan_file)
        refuse_adoption(
            plan, lambda service: make_client(endpoint, service), account=endpoint.account_id, region=endpoint.region
        )
        return plan_file

    def prepare_module(
        self, stack_name: str, backend: Backend, endpoint: Endpoint, module_dir: Path, variables: Mapping[str, Any]
    ) -> tuple[Terraform, str]:
        """Everything before an apply: the workspace synced, override and variables written, guarded, initialised."""
        workspace = self.workspace(stack_name)
        pins = None
        if backend.requires_isolation:  # real AWS: a prefix the module takes, this account only, the run's tags
            require_prefix_variable(module_dir, self.config.name_prefix_variable, variables)
            pins = provider_pins(endpoint.account_id, self.config.run_id, stack_name, module_dir)
        module_hash = workspace.sync(module_dir)
        own_regions = [alias for alias in literal_provider_regions(module_dir) if alias is not None]
        workspace.write_override(endpoint, aws_provider_aliases(module_dir), pins, own_regions)
        workspace.write_variables(variables)
        terraform, installation = self.terraform(workspace, endpoint)
        init_marker = workspace.workdir / ".terraform" / "s3pipe-init"
        init_key = f"{module_hash}|{installation.source}|{workspace.state_path}"
        needs_init = not init_marker.exists() or init_marker.read_text() != init_key
        if needs_init:  # the module changed: what an earlier init recorded is not what will be loaded
            (workspace.workdir / MODULES_MANIFEST).unlink(missing_ok=True)
        if self.guard is not None:  # before init: endpoint, environment, root module, variables
            self.guard(endpoint, terraform.env, workspace, backend)
        if needs_init:
            self.progress.stage("init", f"providers from {installation.source}")
            with self.progress.timed("init"):
                terraform.init(installation.init_args)
            init_marker.write_text(init_key)
            if self.guard is not None:  # and every module init recorded (registry and git modules included)
                self.guard(endpoint, terraform.env, workspace, backend)
        return terraform, module_hash

    def module_variables(
        self, infra_dir: Path, variables: Mapping[str, Any], settings: StackSettings
    ) -> dict[str, Any]:
        """The variables the module declares (a module of your own declares few); ``extra_variables`` always."""
        declared = declared_variables(infra_dir)
        if self.config.zip_variable not in declared:
            raise HarnessError(
                f"The module {infra_dir} has no variable {self.config.zip_variable!r} for the handler's zip",
                tried=f"pass the zip of {self.config.path(self.config.lambda_dir)} as var.{self.config.zip_variable}",
                seen=[
                    f"the module's variables: {', '.join(sorted(declared)) or 'none'}",
                    f"s3pipe_zip_variable: {self.config.zip_variable!r} from {self.config.where('zip_variable')}",
                ],
                fix=(
                    "name the variable that takes the zip's path: "
                    + self.config.where_to_set("zip_variable").replace("...", "<its name>")
                    + " (the module's aws_lambda_function uses it as `filename`)"
                ),
            )
        named = dict(variables)
        if (prefix_variable := self.config.name_prefix_variable) != "name_prefix" and "name_prefix" in named:
            named[prefix_variable] = named.pop("name_prefix")  # the module takes its prefix under its own name
        return {name: value for name, value in named.items() if name in declared or name in settings.extra_variables}

    def destroy(self, stack_name: str, endpoint: Endpoint, *, run_id: str | None = None) -> None:
        """``terraform destroy`` in the stack's working copy; on AWS a failure lists what is left and the sweep."""
        workspace = self.workspace(stack_name)
        if not workspace.state_path.exists():
            return
        terraform, _ = self.terraform(workspace, endpoint)
        try:
            with self.progress.timed("destroy"):
                terraform.destroy()
        except HarnessError as error:
            if endpoint.url is not None:
                raise
            raise destroy_failed(
                stack_name,
                workspace.state_path,
                run_id=run_id or self.config.run_id,
                region=endpoint.region,
                error=error,
                tagging=lambda: make_client(endpoint, "resourcegroupstaggingapi"),
            ) from error
