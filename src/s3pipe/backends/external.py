"""Backend ``external``: attach to an emulator someone else started (LocalStack, MiniStack, Floci,
or a stack left running by ``s3pipe up``).

``start()`` only checks that the endpoint answers ``/_localstack/health`` with every service the
stack needs; ``stop()`` leaves the target running. The health payload also tells which emulator
this is (MiniStack reports ``"edition": "light"``, LocalStack ``"community"`` or ``"pro"``), which
:attr:`ExternalBackend.effective_capabilities` uses to refine the conservative class-level set.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, assert_never

from s3pipe.backends.base import Backend, Capability, Credentials, Endpoint, Health
from s3pipe.backends.embedded import EmbeddedBackend
from s3pipe.backends.health import REQUIRED_SERVICES, probe_health, wait_until_healthy
from s3pipe.backends.localstack import LocalStackBackend
from s3pipe.errors import BackendUnavailable, EmulatorError
from s3pipe.progress import Progress, silent

if TYPE_CHECKING:
    from s3pipe.config import HarnessConfig

#: What every emulator the harness documents provides, however it was started: MiniStack
#: (``s3pipe up``) and LocalStack with the Docker socket both run functions, honour
#: ReportBatchItemFailures, redrive to the DLQ and keep function logs. Not S3_EVENT_SEQUENCER_ORDER
#: nor S3_EVENT_KEY_PLUS_ENCODING: LocalStack lacks both; once ``start()`` has read the health
#: payload, :attr:`ExternalBackend.effective_capabilities` is the identified emulator's set.
CONSERVATIVE_CAPABILITIES: frozenset[Capability] = frozenset(
    {
        Capability.LAMBDA_EXECUTION,
        Capability.PARTIAL_BATCH_RESPONSE,
        Capability.REDRIVE,
        Capability.LOG_RETRIEVAL,
    }
)


class ExternalEndpointError(BackendUnavailable):
    """The external backend was selected without a usable endpoint URL."""

    @classmethod
    def missing_url(cls) -> ExternalEndpointError:
        return cls(
            "Backend 'external' needs the URL of a running emulator",
            tried="read --s3pipe-endpoint-url / S3PIPE_ENDPOINT_URL / ini s3pipe_endpoint_url",
            seen="none of them is set",
            fix=(
                "pass --s3pipe-endpoint-url http://127.0.0.1:4566 (or wherever it listens); start one with "
                "`s3pipe up`, `localstack start` or `ministack`, or use --s3pipe-backend embedded"
            ),
        )

    @classmethod
    def malformed_url(cls, url: str) -> ExternalEndpointError:
        return cls(
            f"The endpoint URL {url!r} is not an http(s) URL",
            tried=f"parse {url!r} as scheme://host:port",
            seen="no http/https scheme or no host",
            fix="pass it as http://HOST:PORT, e.g. --s3pipe-endpoint-url http://127.0.0.1:4566",
        )


Product = Literal["ministack", "localstack", "unknown"]


@dataclass(frozen=True)
class Flavour:
    """Which emulator answered, from its health payload."""

    product: Product
    edition: str
    version: str
    #: The emulator says it enforces IAM (MiniStack started with ``AUTH=true``: ``"auth": "enabled"``).
    iam_enforced: bool = False

    @classmethod
    def from_health(cls, payload: Mapping[str, Any]) -> Flavour:
        edition = str(payload.get("edition", "") or "")
        version = str(payload.get("version", "") or "")
        product: Product
        if edition == "light":
            product = "ministack"
        elif edition in {"community", "pro", "enterprise"}:
            product = "localstack"
        else:
            product = "unknown"
        return cls(product, edition or "?", version or "?", payload.get("auth") == "enabled")

    def __str__(self) -> str:
        return f"{self.product} (edition {self.edition}, version {self.version})"


def normalise_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ExternalEndpointError.malformed_url(url)
    return f"{parsed.scheme}://{parsed.netloc}{parsed.path}".rstrip("/")


def fetch_health(url: str, timeout: float = 2.0) -> dict[str, Any]:
    """GET ``{url}/_localstack/health`` as a dict; raises OSError/ValueError when nothing sensible answers."""
    with urllib.request.urlopen(f"{url}/_localstack/health", timeout=timeout) as response:  # noqa: S310
        payload = json.loads(response.read() or b"{}")
    if not isinstance(payload, dict):
        raise ValueError(f"health answer is not a JSON object: {str(payload)[:80]}")  # noqa: TRY004
    return payload


class ExternalBackend(Backend):
    """An emulator that is already running: used as is, never stopped by the harness."""

    name: ClassVar[str] = "external"
    capabilities: ClassVar[frozenset[Capability]] = CONSERVATIVE_CAPABILITIES
    supports_warm_reuse: ClassVar[bool] = True

    @classmethod
    def from_config(cls, config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Self:
        del port  # the endpoint URL says where it listens
        return cls(url=config.endpoint_url, region=config.region, start_timeout=config.start_timeout, progress=progress)

    def __init__(
        self,
        *,
        url: str | None,
        region: str,
        start_timeout: float = 60.0,
        progress: Progress | None = None,
    ) -> None:
        if not url:
            raise ExternalEndpointError.missing_url()
        self.url = normalise_url(url)
        self.region = region
        self.start_timeout = start_timeout
        self.progress = progress or silent()
        self.flavour: Flavour | None = None

    @property
    def effective_capabilities(self) -> frozenset[Capability]:
        """Class capabilities, refined once :meth:`start` has identified the emulator."""
        if self.flavour is None:
            return self.capabilities
        match self.flavour.product:
            case "ministack":
                if self.flavour.iam_enforced:  # a plain MiniStack with AUTH=true knows only its own keys
                    return EmbeddedBackend.capabilities - {Capability.ANY_CALLER_CREDENTIALS}
                return EmbeddedBackend.capabilities - {Capability.IAM_ENFORCEMENT}
            case "localstack":
                return LocalStackBackend.capabilities
            case "unknown":
                return self.capabilities
            case unreachable:
                assert_never(unreachable)

    def start(self) -> Endpoint:
        started = time.monotonic()
        try:
            payload = fetch_health(self.url)
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise EmulatorError.unreachable(self.url, f"{type(error).__name__}: {error}") from None
        self.flavour = Flavour.from_health(payload)
        if not probe_health(self.url).healthy:
            # It answers but is still starting services: give it the usual start timeout.
            wait_until_healthy(self.flavour.product, self.url, timeout=self.start_timeout, interval=0.5)
        self.progress.done("emulator", time.monotonic() - started, f"attached to {self.flavour} on {self.url}")
        return Endpoint(self.url, self.region, Credentials.fake())

    def health(self) -> Health:
        return probe_health(self.url, REQUIRED_SERVICES)

    def stop(self) -> None:
        """Leave the target running: whoever started it owns it."""

    def __repr__(self) -> str:
        return f"ExternalBackend(url={self.url!r}, flavour={self.flavour})"
