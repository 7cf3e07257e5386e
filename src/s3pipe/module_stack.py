"""Any Terraform module, not only a pipeline: applied on a backend, handed over as raw outputs + clients.

Below the pipeline layer (no output roles, no handler zip, no helpers): for modules that are not
this pipeline at all. The same backends, endpoint guard and Terraform driver as the pipeline's
stack; each module stack gets its own backend instance and workspace. Not yet: warm reuse and
snapshots (every open applies the module on a fresh emulator).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3pipe.backends.base import Backend, Capability, Endpoint
from s3pipe.backends.registry import backend_class as registered_backend_class
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, Guard
from s3pipe.progress import Progress
from s3pipe.stack import make_client


@dataclass
class ModuleStack:
    """A deployed module: its Terraform outputs as they are, and boto3 clients for its endpoint."""

    name: str
    outputs: dict[str, Any]
    endpoint: Endpoint
    backend: str
    capabilities: frozenset[Capability]
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on the stack's endpoint (cached per service)."""
        if service not in self._clients:
            self._clients[service] = make_client(self.endpoint, service)
        return self._clients[service]

    def output(self, name: str) -> Any:
        """One output by name; a missing one fails naming those the module has."""
        if name not in self.outputs:
            raise KeyError(
                f"module stack {self.name!r} has no output {name!r} (it has: {', '.join(sorted(self.outputs))})"
            )
        return self.outputs[name]


class ModuleSession:
    """Apply ``module_dir`` with ``variables`` on the configured backend; close stops it (or destroys, on AWS)."""

    def __init__(
        self,
        config: HarnessConfig,
        progress: Progress,
        stack_name: str,
        module_dir: Path,
        variables: Mapping[str, Any] | None = None,
        *,
        guard: Guard | None = None,
        backend_class: type[Backend] | None = None,
        deployer: Deployer | None = None,
    ) -> None:
        self.config = config
        self.progress = progress
        self.stack_name = stack_name
        self.module_dir = config.path(module_dir)
        self.variables = dict(variables or {})
        self.backend_class = backend_class or registered_backend_class(config.backend)
        self.deployer = deployer or Deployer(config, progress, guard)
        self.backend: Backend | None = None
        self.endpoint: Endpoint | None = None

    def open(self) -> ModuleStack:
        started = time.monotonic()
        workspace = self.deployer.workspace(self.stack_name)
        if self.backend_class.owns_emulator:
            workspace.forget_state()  # a fresh emulator holds none of the resources an old state names
        backend = self.backend_class.from_config(self.config, self.progress, port=0)
        self.backend = backend
        self.endpoint = backend.start()
        outputs, _hash = self.deployer.apply_module(
            self.stack_name, backend, self.endpoint, self.module_dir, self.variables
        )
        self.progress.done("ready", time.monotonic() - started, f"module stack {self.stack_name!r}")
        return ModuleStack(self.stack_name, outputs, self.endpoint, backend.name, backend.effective_capabilities)

    def close(self) -> None:
        backend, self.backend = self.backend, None
        if backend is None:
            return
        try:
            if not backend.is_emulator and self.endpoint is not None:
                self.deployer.destroy(self.stack_name, self.endpoint)
        finally:
            backend.stop()
            if backend.is_emulator:
                self.deployer.workspace(self.stack_name).forget_state()
