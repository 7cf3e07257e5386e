"""Harness errors: every one says what was tried, what was seen and how to fix it.

Each error class offers named constructors (``EmulatorError.exited_early(...)``) so call
sites stay short and the wording stays consistent, in the style of pytest-postgresql.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

_TAIL_LINES = 20


def tail(lines: Iterable[str], count: int = _TAIL_LINES) -> list[str]:
    """Return the last ``count`` non-empty lines."""
    kept = [line.rstrip() for line in lines if line.strip()]
    return kept[-count:]


class HarnessError(Exception):
    """Base class: a failure of the harness itself, never of the code under test."""

    def __init__(
        self,
        summary: str,
        *,
        tried: str,
        seen: str | Sequence[str],
        fix: str,
    ) -> None:
        self.summary = summary
        self.tried = tried
        self.seen = [seen] if isinstance(seen, str) else list(seen)
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        seen = "\n".join(f"    | {line}" for line in self.seen) if self.seen else "    | (nothing)"
        return f"{self.summary}\n  tried: {self.tried}\n  seen:\n{seen}\n  fix:   {self.fix}"


class EnvironmentSetupError(HarnessError):
    """The emulator's own Python environment could not be created."""

    @classmethod
    def command_failed(
        cls, command: Sequence[str], exit_code: int, output: Iterable[str], venv: str
    ) -> EnvironmentSetupError:
        return cls(
            f"Could not prepare the embedded emulator's environment at {venv}",
            tried=" ".join(command),
            seen=[f"exit code {exit_code}", *tail(output)],
            fix=(
                "check that pip can reach your package index (PIP_INDEX_URL / pip.conf), or point "
                "S3PIPE_MINISTACK_PYTHON at a Python that already has `ministack` and `boto3` installed"
            ),
        )


class EmulatorError(HarnessError):
    """The emulator did not start, did not become healthy, or died."""

    @classmethod
    def exited_early(
        cls,
        name: str,
        endpoint: str,
        exit_code: int | None,
        log_tail: Sequence[str],
        log_path: str,
        *,
        health_path: str = "/_localstack/health",
    ) -> EmulatorError:
        return cls(
            f"{name} exited before it became healthy",
            tried=f"start {name} on {endpoint} and wait for {endpoint}{health_path}",
            seen=[f"exit code {exit_code}", f"log: {log_path}", *log_tail],
            fix="read the log above; if the port is taken pass another one (--s3pipe-port / S3PIPE_PORT)",
        )

    @classmethod
    def health_timeout(
        cls,
        name: str,
        endpoint: str,
        waited_s: float,
        last_seen: str,
        log_tail: Sequence[str],
        *,
        services: Sequence[str] = ("s3", "sqs", "lambda", "dynamodb", "iam", "sts", "logs"),
        health_path: str = "/_localstack/health",
    ) -> EmulatorError:
        ready = f"{', '.join(services)} are available" if services else "it answers ok"
        return cls(
            f"{name} did not become healthy within {waited_s:.0f} s",
            tried=f"poll {endpoint}{health_path} until {ready}",
            seen=[f"last health answer: {last_seen}", *log_tail],
            fix=(
                "raise the start timeout (S3PIPE_START_TIMEOUT) on a slow machine, or read the emulator log "
                "for the cause"
            ),
        )

    @classmethod
    def unreachable(cls, endpoint: str, detail: str) -> EmulatorError:
        return cls(
            f"No AWS emulator answers at {endpoint}",
            tried=f"GET {endpoint}/_localstack/health",
            seen=detail,
            fix=(
                "start one (`s3pipe up`, `localstack start`, `ministack`) or pass the right URL with "
                "--s3pipe-endpoint-url / S3PIPE_ENDPOINT_URL"
            ),
        )


class TerraformError(HarnessError):
    """A Terraform command failed or Terraform is unusable."""

    @classmethod
    def not_installed(cls, binary: str) -> TerraformError:
        return cls(
            "Terraform was not found",
            tried=f"run `{binary} version -json`",
            seen=f"no executable named {binary!r} on PATH",
            fix="install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install) or set S3PIPE_TERRAFORM",
        )

    @classmethod
    def command_failed(
        cls,
        command: Sequence[str],
        workdir: str,
        exit_code: int,
        diagnostics: Sequence[str],
        output_tail: Sequence[str],
    ) -> TerraformError:
        seen = [f"exit code {exit_code} in {workdir}"]
        seen += list(diagnostics) if diagnostics else list(output_tail)
        return cls(
            f"`terraform {command[1] if len(command) > 1 else ''}` failed",
            tried=" ".join(command),
            seen=seen,
            fix="fix the error Terraform reports above; the working copy and its state are kept in the directory shown",
        )


class ProviderInstallError(HarnessError):
    """Terraform cannot obtain the aws provider."""

    @classmethod
    def registry_unreachable(cls, registry: str, detail: str, cli_config: str | None) -> ProviderInstallError:
        seen = [f"{registry}: {detail}"]
        if cli_config:
            seen.append(f"TF_CLI_CONFIG_FILE={cli_config} (file does not exist)")
        else:
            seen.append("no TF_CLI_CONFIG_FILE and no --s3pipe-tf-plugin-dir given")
        return cls(
            "Terraform's provider registry is unreachable and no provider mirror was given",
            tried="find a way to install hashicorp/aws: plugin dir option, TF_CLI_CONFIG_FILE, the registry",
            seen=seen,
            fix=(
                "give a local mirror of hashicorp/aws: `--s3pipe-tf-plugin-dir DIR` / S3PIPE_TF_PLUGIN_DIR=DIR "
                "(a directory laid out as registry.terraform.io/hashicorp/aws/<version>/<os_arch>/), or a CLI config "
                'file with `provider_installation { filesystem_mirror { path = "DIR" } }` in TF_CLI_CONFIG_FILE'
            ),
        )

    @classmethod
    def plugin_dir_missing(cls, plugin_dir: str) -> ProviderInstallError:
        return cls(
            f"The Terraform plugin directory {plugin_dir} holds no hashicorp/aws provider",
            tried=f"look for {plugin_dir}/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*",
            seen="no matching file",
            fix="point --s3pipe-tf-plugin-dir at the directory that contains registry.terraform.io/",
        )


class GuardError(HarnessError):
    """A run would touch something that is not the emulator (real AWS, real credentials)."""


class BackendUnavailable(HarnessError):
    """The selected backend cannot run here (no Docker, no opt-in, no credentials...)."""


class SettleTimeout(AssertionError):
    """The pipeline did not reach the expected state before the deadline (a test failure)."""


class HandlerEventsMissing(AssertionError):
    """A helper that reads the shipped handler's log events was used with a handler that writes none."""

    @classmethod
    def for_helper(cls, helper: str, invocations: int, log_group: str) -> HandlerEventsMissing:
        return cls(
            f"{helper} reads the shipped handler's structured log events (lines like "
            '{"event": "object_stored", "bucket": ..., "key": ...} from lambda/log_ingest), but the function '
            f"finished {invocations} invocation(s) in {log_group} without writing any. With a handler of your "
            "own use the generic helpers: pipeline.eventually(check), pipeline.settle(), pipeline.query/scan/"
            "get_item, pipeline.dlq_messages()."
        )


class OutputsError(HarnessError, ValueError):
    """The module's outputs, or their mapping (``s3pipe_outputs``), do not give the harness what it needs."""

    @classmethod
    def missing_roles(
        cls,
        missing: Mapping[str, str],
        available: Iterable[str],
        module: str,
        *,
        mapping_from: str = "default",
        settings: str = "the [pytest] ini section",
    ) -> OutputsError:
        example = "\n    ".join(f"{role} = <one of its outputs>" for role in missing)
        return cls(
            f"The module {module} has no output for the role(s) {', '.join(missing)}",
            tried="read " + ", ".join(f"role {role!r} from output {name!r}" for role, name in missing.items()),
            seen=[
                f"the module's outputs: {', '.join(sorted(available)) or 'none'}",
                f"s3pipe_outputs: {'not set' if mapping_from == 'default' else 'from ' + mapping_from}",
            ],
            fix=(
                f"map each role to one of those outputs, {settings} (or add outputs with "
                f"the default names):\n  s3pipe_outputs =\n    {example}"
            ),
        )

    @classmethod
    def bad_mapping(cls, raw: str, problem: str, known: Iterable[str]) -> OutputsError:
        return cls(
            "s3pipe_outputs cannot be read",
            tried=f"parse {raw!r} as `role = output_name` lines (or comma separated)",
            seen=problem,
            fix=f"use `role = output_name` with one of the roles: {', '.join(known)}",
        )

    @classmethod
    def incomplete(cls, missing: Iterable[str], available: Iterable[str]) -> OutputsError:
        return cls(
            "A stack's outputs are incomplete",
            tried="read every StackOutputs value from the stack's outputs",
            seen=[f"missing: {', '.join(missing)}", f"present: {', '.join(sorted(available)) or 'none'}"],
            fix="let the harness resolve them (s3pipe.outputs.resolve_outputs), or redeploy: `s3pipe down` first",
        )
