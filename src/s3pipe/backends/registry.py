"""Backend selection by name (``--s3pipe-backend``): one table, name -> class.

Adding a backend: its own module with a :class:`~s3pipe.backends.base.Backend` subclass, and one
line here. The configuration's list of names is this table's keys.

Every backend module imports cheaply: LocalStack's Testcontainers/Docker imports happen only
when that backend starts, so the package works without the ``localstack`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3pipe.backends.aws import AwsBackend
from s3pipe.backends.base import Backend
from s3pipe.backends.embedded import EmbeddedBackend
from s3pipe.backends.external import ExternalBackend
from s3pipe.backends.localstack import LocalStackBackend
from s3pipe.errors import BackendUnavailable

if TYPE_CHECKING:
    from s3pipe.config import HarnessConfig
    from s3pipe.progress import Progress

BACKEND_CLASSES: dict[str, type[Backend]] = {
    "embedded": EmbeddedBackend,
    "localstack": LocalStackBackend,
    "external": ExternalBackend,
    "aws": AwsBackend,
}
#: The names ``--s3pipe-backend`` accepts, the default first.
BACKEND_NAMES: tuple[str, ...] = tuple(BACKEND_CLASSES)


def _unknown(name: str, tried: str) -> BackendUnavailable:
    return BackendUnavailable(
        f"Unknown backend {name!r}",
        tried=tried,
        seen=f"known backends: {', '.join(BACKEND_NAMES)}",
        fix="pass one of them with --s3pipe-backend / S3PIPE_BACKEND (default: embedded)",
    )


def backend_class(name: str) -> type[Backend]:
    """The class behind a backend name (for its declared behaviour, without starting anything)."""
    if name not in BACKEND_CLASSES:
        raise _unknown(name, f"look up backend {name!r}")
    return BACKEND_CLASSES[name]


def create_backend(config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Backend:
    """Build (not start) the backend the configuration names."""
    if config.backend not in BACKEND_CLASSES:
        raise _unknown(config.backend, f"create backend {config.backend!r}")
    return BACKEND_CLASSES[config.backend].from_config(config, progress, port=port)
