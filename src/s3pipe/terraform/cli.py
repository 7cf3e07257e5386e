"""A thin typed wrapper over the Terraform CLI and its ``-json`` machine-readable output.

Why not python-terraform: unmaintained since 2019, it parses human output and predates
``-json``. Why not tftest: it is built for plan-and-assert tests of modules and hides the
streamed apply events we turn into progress lines and per-resource timings. A wrapper of
~150 lines over documented JSON output is easier to trust.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3pipe.errors import TerraformError, tail


@dataclass(frozen=True)
class ResourceTiming:
    address: str
    action: str
    seconds: float


@dataclass
class RunResult:
    command: list[str]
    exit_code: int
    seconds: float
    lines: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    resources: list[ResourceTiming] = field(default_factory=list)
    #: ``address (action)`` of each change a plan proposes or each drift it found.
    changes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PlanCheck:
    """``terraform plan -detailed-exitcode``: clean (exit 0), or the changes it would make (exit 2)."""

    clean: bool
    changes: list[str]
    seconds: float


def _diagnostic_text(message: Mapping[str, Any]) -> str:
    diagnostic = message.get("diagnostic") or {}
    summary = diagnostic.get("summary") or message.get("@message", "")
    detail = diagnostic.get("detail") or ""
    where = ""
    if rng := diagnostic.get("range"):
        where = f" ({rng.get('filename')}:{rng.get('start', {}).get('line')})"
    text = f"{summary}{where}"
    return f"{text}: {detail}" if detail else text


def terraform_version(binary: str) -> str:
    """``terraform version -json``'s version, or a line saying why there is none (a snapshot key with it
    matches nothing); needs no working directory."""
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv
            [binary, "version", "-json"], capture_output=True, text=True, check=False, timeout=30
        )
        version = json.loads(result.stdout).get("terraform_version")
    except (OSError, ValueError, subprocess.TimeoutExpired) as error:
        return f"unknown ({type(error).__name__}: {error})"
    return str(version) if version else f"unknown (exit code {result.returncode})"


#: How long an interrupted Terraform may take to finish what it is doing and write its state.
INTERRUPT_GRACE_S = 180.0


def stop_gracefully(process: subprocess.Popen[str], grace: float = INTERRUPT_GRACE_S) -> None:
    """Interrupt a running Terraform as Ctrl-C would (it finishes in-flight operations and writes its
    state, so what it created stays destroyable) and wait for it; kill it only after ``grace``."""
    if process.poll() is not None:
        return
    if process.stdout is not None:  # keep its output flowing while it winds down
        stdout = process.stdout
        threading.Thread(target=stdout.read, daemon=True).start()
    try:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    except BaseException:  # interrupted again while waiting: do not leave it running
        process.kill()
        process.wait()
        raise


class Terraform:
    """Runs ``terraform`` in one working directory with a fixed environment."""

    def __init__(self, workdir: Path, env: Mapping[str, str], binary: str = "terraform") -> None:
        """``env`` is Terraform's complete environment (the caller decides what it inherits)."""
        resolved = shutil.which(binary)
        if resolved is None:
            raise TerraformError.not_installed(binary)
        self.binary = resolved
        self.workdir = workdir
        self.env = dict(env)

    def init(self, extra_args: Sequence[str] = ()) -> RunResult:
        return self._run(["init", "-input=false", "-no-color", "-reconfigure", *extra_args], streaming_json=False)

    def apply(
        self,
        on_resource: Callable[[ResourceTiming], None] | None = None,
        *,
        refresh: bool = True,
        plan_file: Path | None = None,
    ) -> RunResult:
        """Apply the configuration, or exactly a plan saved by :meth:`plan_to_file`."""
        args = ["apply", "-auto-approve", "-input=false", "-json"]
        if not refresh:
            args.append("-refresh=false")
        if plan_file is not None:
            args.append(str(plan_file))
        return self._run(args, on_resource=on_resource)

    def plan_to_file(self, plan_file: Path) -> RunResult:
        """``terraform plan -out``: the plan a later :meth:`apply` applies as it is."""
        return self._run(["plan", "-input=false", "-json", f"-out={plan_file}"])

    def show_plan(self, plan_file: Path) -> dict[str, Any]:
        """A saved plan as ``terraform show -json`` describes it (``resource_changes``...)."""
        result = self._run(["show", "-json", str(plan_file)], streaming_json=False)
        plan: dict[str, Any] = json.loads("\n".join(result.lines) or "{}")
        return plan

    def plan_is_clean(self) -> PlanCheck:
        """Does the state match the real resources? A plan that changes nothing; never locks the state.

        Raises :class:`~s3pipe.errors.TerraformError` when the plan itself fails (exit 1).
        """
        args = ["plan", "-detailed-exitcode", "-input=false", "-lock=false", "-json"]
        result = self._run(args, ok_exit_codes=(0, 2))
        return PlanCheck(result.exit_code == 0, result.changes, result.seconds)

    def validate(self) -> RunResult:
        return self._run(["validate", "-no-color"], streaming_json=False)

    def destroy(self) -> RunResult:
        return self._run(["destroy", "-auto-approve", "-input=false", "-json"])

    def outputs(self) -> dict[str, Any]:
        result = self._run(["output", "-json"], streaming_json=False)
        raw: dict[str, Any] = json.loads("\n".join(result.lines) or "{}")
        return {name: entry.get("value") for name, entry in raw.items()}

    def providers_schema(self) -> dict[str, Any]:
        result = self._run(["providers", "schema", "-json"], streaming_json=False)
        schema: dict[str, Any] = json.loads("\n".join(result.lines))
        return schema

    def _run(
        self,
        args: list[str],
        *,
        streaming_json: bool = True,
        on_resource: Callable[[ResourceTiming], None] | None = None,
        ok_exit_codes: tuple[int, ...] = (0,),
    ) -> RunResult:
        command = [self.binary, *args]
        started = time.monotonic()
        result = RunResult(command=command, exit_code=-1, seconds=0.0)
        process = subprocess.Popen(  # noqa: S603 - argv list, no shell
            command,
            cwd=self.workdir,
            env={**self.env, "TF_IN_AUTOMATION": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Its own session: a Ctrl-C at the terminal reaches this process only, which stops Terraform
            # gracefully itself (below) and never interrupts a destroy it runs while tearing down.
            start_new_session=True,
        )
        assert process.stdout is not None
        assert process.stderr is not None
        errors: list[str] = []
        stderr_reader = threading.Thread(target=lambda: errors.extend(process.stderr or ()), daemon=True)
        stderr_reader.start()
        try:
            for raw_line in process.stdout:
                line = raw_line.rstrip("\n")
                result.lines.append(line)
                if streaming_json:
                    self._consume_json_line(line, result, on_resource)
            result.exit_code = process.wait()
        except BaseException:
            stop_gracefully(process)
            raise
        stderr_reader.join(timeout=5)
        result.stderr = [line.rstrip("\n") for line in errors]
        result.seconds = time.monotonic() - started
        if result.exit_code not in ok_exit_codes:
            raise TerraformError.command_failed(
                ["terraform", *args],
                str(self.workdir),
                result.exit_code,
                result.diagnostics,
                tail([*result.lines, *result.stderr]),
            )
        return result

    @staticmethod
    def _consume_json_line(line: str, result: RunResult, on_resource: Callable[[ResourceTiming], None] | None) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "diagnostic" and message.get("@level") == "error":
            result.diagnostics.append(_diagnostic_text(message))
        elif kind in {"planned_change", "resource_drift"}:
            change = message.get("change") or {}
            address = (change.get("resource") or {}).get("addr", "?")
            drift = " drifted" if kind == "resource_drift" else ""
            result.changes.append(f"{address} ({change.get('action', '?')}{drift})")
        elif kind == "apply_complete":
            hook = message.get("hook") or {}
            timing = ResourceTiming(
                address=str((hook.get("resource") or {}).get("addr", "?")),
                action=str(hook.get("action", "?")),
                seconds=float(hook.get("elapsed_seconds", 0)),
            )
            result.resources.append(timing)
            if on_resource is not None:
                on_resource(timing)
