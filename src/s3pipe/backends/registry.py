"""Backend selection by name (``--s3pipe-backend``).

Every backend module imports cheaply: LocalStack's Testcontainers/Docker imports happen only
when that backend starts, so the package works without the ``localstack`` extra.
"""

from __future__ import annotations

from s3pipe.backends.aws import AwsBackend
from s3pipe.backends.base import Backend
from s3pipe.backends.embedded import EmbeddedBackend
from s3pipe.backends.external import ExternalBackend
from s3pipe.backends.localstack import LocalStackBackend
from s3pipe.config import BACKENDS, HarnessConfig
from s3pipe.errors import BackendUnavailable
from s3pipe.progress import Progress

BACKEND_CLASSES: dict[str, type[Backend]] = {
    "embedded": EmbeddedBackend,
    "localstack": LocalStackBackend,
    "external": ExternalBackend,
    "aws": AwsBackend,
}


def _unknown(name: str, tried: str) -> BackendUnavailable:
    return BackendUnavailable(
        f"Unknown backend {name!r}",
        tried=tried,
        seen=f"known backends: {', '.join(BACKENDS)}",
        fix="pass one of them with --s3pipe-backend / S3PIPE_BACKEND (default: embedded)",
    )


def backend_class(name: str) -> type[Backend]:
    """The class behind a backend name (for its declared capabilities, without starting anything)."""
    if name not in BACKEND_CLASSES:
        raise _unknown(name, f"look up backend {name!r}")
    return BACKEND_CLASSES[name]


def create_backend(config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Backend:
    """Build (not start) the backend the configuration names."""
    if config.backend == "embedded":
        return EmbeddedBackend(
            region=config.region,
            log_dir=config.path(config.state_dir) / "logs",
            cache_dir=config.cache_dir,
            spec=config.ministack_spec,
            port=config.port if port is None else port,
            python=config.ministack_python,
            start_timeout=config.start_timeout,
            progress=progress,
        )
    if config.backend == "localstack":
        return LocalStackBackend(
            image=config.localstack_image,
            region=config.region,
            start_timeout=config.start_timeout,
            port=config.port if port is None else port,
            progress=progress,
        )
    if config.backend == "external":
        return ExternalBackend(
            url=config.endpoint_url,
            region=config.region,
            start_timeout=config.start_timeout,
            progress=progress,
        )
    if config.backend == "aws":
        return AwsBackend(region=config.region, allow=config.allow_aws, progress=progress)
    raise _unknown(config.backend, f"create backend {config.backend!r}")
