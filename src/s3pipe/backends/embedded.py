"""Backend ``embedded`` (the default): MiniStack as a local process, no Docker.

MiniStack runs Lambda functions as local worker processes. It is started under a small
supervisor (``supervisor.py``) that owns its process group, so stopping the backend, or the
test process dying, also reaps the Lambda workers.

Beside it, in the same group, runs the function gateway (``python -m s3pipe.gateway``): a recording,
fault-injecting proxy on its own loopback port. MiniStack's own ``AWS_ENDPOINT_URL`` names it, and
MiniStack gives every function it runs that value unless the function sets its own
(``ministack/core/lambda_runtime.py``: the function's variables, then the host's, then MiniStack
itself): every deployed function's SDK calls go through the gateway, whatever its module declares.
Terraform and the tests talk to MiniStack.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Self

from s3pipe.backends.base import Backend, Capability, Credentials, Endpoint, Health, Probes, loopback_no_proxy
from s3pipe.backends.health import probe_health, wait_until_healthy
from s3pipe.backends.ministack_env import ensure_ministack_python
from s3pipe.backends.run_logs import DEFAULT_KEEP_RUNS, pid_file, prune_runs
from s3pipe.errors import EmulatorError, tail
from s3pipe.gateway.client import probe_gateway
from s3pipe.gateway.journal import DEFAULT_CAPACITY
from s3pipe.progress import Progress, silent

if TYPE_CHECKING:
    from s3pipe.config import HarnessConfig
    from s3pipe.deploy import StackRecord

SUPERVISOR = Path(__file__).with_name("supervisor.py")
#: MiniStack's entry point with any outside key accepted as its root (run by the emulator's interpreter).
CALLER_KEYS = Path(__file__).with_name("caller_keys.py")
#: The function gateway, run by the harness's own interpreter (the package is stdlib only).
GATEWAY_MODULE = "s3pipe.gateway"

#: Variables that could point the emulator's Lambda workers at a real account or endpoint.
_SCRUBBED_PREFIXES = ("AWS_",)


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def emulator_environment(
    port: int, region: str, base: dict[str, str] | None = None, *, function_endpoint: str | None = None
) -> dict[str, str]:
    """The emulator's environment: no real AWS settings at all, fake credentials, loopback only.

    The Lambda workers inherit this environment, so scrubbing it is what keeps a handler running
    in the emulator from ever seeing the developer's real credentials. ``function_endpoint`` (the
    function gateway) becomes every function's ``AWS_ENDPOINT_URL`` unless the function sets its own;
    a loopback IP endpoint makes botocore address S3 path-style on its own.
    """
    env = {k: v for k, v in (base if base is not None else os.environ).items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        {
            "GATEWAY_PORT": str(port),
            "BIND_HOST": "127.0.0.1",
            "MINISTACK_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": Credentials.fake().access_key_id,
            "AWS_SECRET_ACCESS_KEY": Credentials.fake().secret_access_key,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "LOG_LEVEL": "INFO",
            # IAM enforced as on AWS: the function's calls are evaluated against its execution role. The
            # harness and Terraform sign with the root key; any other key MiniStack does not know (the AWS
            # CLI's DUMMY profile) is taken as the root's by caller_keys.py, as on LocalStack.
            "AUTH": "true",
            "PYTHONUNBUFFERED": "1",
            **loopback_no_proxy(env),
        }
    )
    if function_endpoint is not None:
        env["AWS_ENDPOINT_URL"] = function_endpoint
    return env


class EmbeddedBackend(Backend):
    """MiniStack on a loopback port, from its own venv."""

    name: ClassVar[str] = "embedded"
    supports_snapshots: ClassVar[bool] = True
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.LAMBDA_EXECUTION,
            Capability.PARTIAL_BATCH_RESPONSE,
            Capability.REDRIVE,
            Capability.LOG_RETRIEVAL,
            Capability.FUNCTION_ENDPOINT_OVERRIDE,
            Capability.FAST_REDEPLOY,
            Capability.IAM_ENFORCEMENT,
            Capability.ANY_CALLER_CREDENTIALS,
            Capability.S3_EVENT_SEQUENCER_ORDER,
            Capability.S3_EVENT_KEY_PLUS_ENCODING,
        }
    )
    owns_emulator: ClassVar[bool] = True
    supports_warm_reuse: ClassVar[bool] = True
    has_function_gateway: ClassVar[bool] = True

    @classmethod
    def from_config(cls, config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Self:
        return cls(
            region=config.region,
            log_dir=config.path(config.state_dir) / "logs",
            cache_dir=config.cache_dir,
            spec=config.ministack_spec,
            port=config.port if port is None else port,
            python=config.ministack_python,
            start_timeout=config.start_timeout,
            progress=progress,
        )

    @classmethod
    def reuse_problem(cls, record: StackRecord, probes: Probes) -> str | None:
        """Its emulator process must still run, and its function gateway (when recorded) answer."""
        if not probes.pid_alive(record.emulator_pid):
            return f"its emulator (pid {record.emulator_pid}) is gone"
        if record.gateway_url:
            gateway = probes.gateway(record.gateway_url)
            if not gateway.healthy:
                return f"its function gateway {record.gateway_url} does not answer ({gateway.detail})"
        return None

    def __init__(
        self,
        *,
        region: str,
        log_dir: Path,
        cache_dir: Path,
        spec: str,
        port: int = 0,
        python: Path | None = None,
        start_timeout: float = 60.0,
        progress: Progress | None = None,
        gateway: bool = True,
        gateway_port: int = 0,
        environment: Mapping[str, str] | None = None,
        journal_capacity: int = DEFAULT_CAPACITY,
        keep_runs: int = DEFAULT_KEEP_RUNS,
    ) -> None:
        self.region = region
        self.log_dir = log_dir
        self.cache_dir = cache_dir
        self.spec = spec
        self.requested_port = port
        self.python = python
        self.start_timeout = start_timeout
        self.progress = progress or silent()
        self.gateway = gateway
        self.requested_gateway_port = gateway_port
        #: Extra emulator variables (e.g. MiniStack's persistence settings for snapshots).
        self.environment = dict(environment or {})
        self.journal_capacity = journal_capacity
        self.keep_runs = keep_runs
        self.port: int | None = None
        self.log_path: Path | None = None
        self.gateway_port: int | None = None
        self.journal_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._detached = False

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the embedded backend has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def function_endpoint_url(self) -> str | None:
        """The function gateway's URL (the deployed function's ``AWS_ENDPOINT_URL``); None without one."""
        return f"http://127.0.0.1:{self.gateway_port}" if self.gateway_port is not None else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def log_file(self) -> str | None:
        return str(self.log_path) if self.log_path else None

    def start(self) -> Endpoint:
        python = ensure_ministack_python(self.spec, self.cache_dir, self.progress, self.python)
        started = time.monotonic()
        self.port = self.requested_port or free_loopback_port()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        pruned = prune_runs(self.log_dir, self.keep_runs)
        if pruned:
            self.progress.stage("emulator", f"removed the logs of {len(pruned)} old run(s) from {self.log_dir}")
        self.log_path = self.log_dir / f"ministack-{self.port}.log"
        command = [str(python), str(SUPERVISOR), "--watch-stdin", "--", str(python), str(CALLER_KEYS)]
        if self.gateway:
            self.gateway_port = self.requested_gateway_port or free_loopback_port()
            while self.gateway_port == self.port:
                self.gateway_port = free_loopback_port()
            self.journal_path = self.log_dir / f"gateway-{self.port}.jsonl"
            command += [
                "--",
                sys.executable,
                "-m",
                GATEWAY_MODULE,
                "--upstream",
                self.url,
                "--port",
                str(self.gateway_port),
            ]
            command += ["--journal", str(self.journal_path), "--journal-capacity", str(self.journal_capacity)]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                command,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={
                    **emulator_environment(self.port, self.region, function_endpoint=self.function_endpoint_url),
                    **self.environment,
                },
                cwd=self.log_dir,
                start_new_session=True,
            )
        pid_file(self.log_dir, self.port).write_text(f"{self._process.pid}\n")  # this run is alive: never pruned
        wait_until_healthy(
            "MiniStack",
            self.url,
            timeout=self.start_timeout,
            exit_code=lambda: self._process.poll() if self._process else None,
            log_tail=lambda: self.logs(20),
            log_path=str(self.log_path),
        )
        if self.function_endpoint_url:  # it starts beside MiniStack, in the same process group
            wait_until_healthy(
                "MiniStack's function gateway",
                self.function_endpoint_url,
                timeout=max(0.5, started + self.start_timeout - time.monotonic()),
                exit_code=lambda: self._process.poll() if self._process else None,
                log_tail=lambda: self.logs(20),
                log_path=str(self.log_path),
                probe=probe_gateway,
                health_path="/_s3pipe/health",
            )
        detail = f"MiniStack on {self.url} (log {self.log_path})"
        if self.function_endpoint_url:
            detail += f", function gateway on {self.function_endpoint_url}"
        self.progress.done("emulator", time.monotonic() - started, detail)
        return Endpoint(self.url, self.region, Credentials.fake())

    def health(self) -> Health:
        if self._process is None:
            return Health(False, "not started")
        if (code := self._process.poll()) is not None:
            return Health(False, f"emulator process exited with code {code}")
        return probe_health(self.url)

    def logs(self, tail_lines: int = 200) -> list[str]:
        if self.log_path is None or not self.log_path.exists():
            return []
        with self.log_path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            text = handle.read().decode("utf-8", "replace")
        return tail(text.splitlines(), tail_lines)

    def detach(self) -> None:
        """Let the emulator outlive this process (``--s3pipe-keep``): tell the supervisor to stop watching."""
        if self._process and self._process.stdin and not self._detached:
            self._process.stdin.write(b"detach\n")
            self._process.stdin.flush()
            self._process.stdin.close()
            self._detached = True

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or self._detached:
            return
        if process.poll() is None:
            process.terminate()  # the supervisor terminates the whole group, workers included
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stdin:
            process.stdin.close()
        if self.port is not None:
            pid_file(self.log_dir, self.port).unlink(missing_ok=True)
        if self.log_path is not None:
            self.progress.stage("emulator", f"stopped (log kept at {self.log_path})")

    def __repr__(self) -> str:
        return f"EmbeddedBackend(url={self.url if self.port else None!r}, log={self.log_path})"


def raise_if_unhealthy(backend: Backend, endpoint: str) -> None:
    health = backend.health()
    if not health.healthy:
        raise EmulatorError.unreachable(endpoint, health.detail)
