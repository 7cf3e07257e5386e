"""A running emulator this session did not start (a warm stack): used as is, never stopped by us."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

from s3pipe.backends.base import Backend, Capability, Credentials, Endpoint, Health
from s3pipe.backends.health import probe_health

if TYPE_CHECKING:
    from s3pipe.config import HarnessConfig
    from s3pipe.progress import Progress


class AttachedBackend(Backend):
    """A warm stack's emulator, found through its record; ``original`` is the backend that started it."""

    name: ClassVar[str] = "attached"
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(
        self, original: type[Backend], url: str, region: str, pid: int | None, log_file: str | None = None
    ) -> None:
        self.original = original
        self.url = url
        self.region = region
        self._pid = pid
        self._log_file = log_file

    @classmethod
    def from_config(cls, config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Self:
        """Not selectable by name: a session builds it from a stack record."""
        raise TypeError("an attached backend is built from a warm stack's record, not from configuration")

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def log_file(self) -> str | None:
        return self._log_file

    def start(self) -> Endpoint:
        return Endpoint(self.url, self.region, Credentials.fake())

    def health(self) -> Health:
        return probe_health(self.url)

    def stop(self) -> None:
        """Leave it running: whoever started it owns it (``s3pipe down`` stops it)."""
