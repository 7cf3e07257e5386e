"""The backend contract: start -> endpoint + region + credentials; health; logs; stop.

Every place a stack can run (the embedded MiniStack, LocalStack in a container, an endpoint
someone else started, a real AWS account) implements :class:`Backend`. The rest of the harness
only ever talks to this contract: what differs between backends is declared on the class
(``owns_emulator``, ``supports_warm_reuse``, ...), never decided by comparing names.
Adding a backend: a subclass in its own module, one line in ``registry.BACKEND_CLASSES``.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Self

if TYPE_CHECKING:
    import boto3

    from s3pipe.config import HarnessConfig
    from s3pipe.deploy import StackRecord
    from s3pipe.progress import Progress

FAKE_ACCESS_KEY = "test"
FAKE_SECRET_KEY = "test"  # noqa: S105 - the well-known fake credential every emulator accepts


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def loopback_no_proxy(environ: Mapping[str, str]) -> dict[str, str]:
    """``NO_PROXY``/``no_proxy`` extended with the loopback hosts, so an HTTP(S)_PROXY never sees emulator traffic."""
    current = environ.get("NO_PROXY") or environ.get("no_proxy") or ""
    hosts = [host for host in current.split(",") if host.strip()]
    hosts += [host for host in _LOOPBACK_HOSTS if host not in hosts]
    value = ",".join(hosts)
    return {"NO_PROXY": value, "no_proxy": value}


class Capability(enum.Enum):
    """AWS semantics a backend provides; tests declare the ones they need with a marker."""

    LAMBDA_EXECUTION = "the function really runs when messages arrive"
    PARTIAL_BATCH_RESPONSE = "ReportBatchItemFailures returns only the listed messages"
    STRICT_BATCH_ITEM_IDENTIFIERS = "an empty or unknown itemIdentifier fails the whole batch"
    NULL_FAILURE_LIST_IS_SUCCESS = "a null batchItemFailures list counts as full success"
    REDRIVE = "a message moves to the DLQ after maxReceiveCount receives"
    MAPPING_TIMEOUT_VALIDATION = "a mapping is refused when the function timeout exceeds the visibility timeout"
    IAM_ENFORCEMENT = "calls outside the function role's policy are denied"
    LOG_RETRIEVAL = "the function's log lines can be read back from CloudWatch Logs"
    FUNCTION_ENDPOINT_OVERRIDE = "the function honours AWS_ENDPOINT_URL* from its environment (fault injection)"
    FAST_REDEPLOY = "stacks are cheap: warm reuse and redeploys take seconds"
    ANY_CALLER_CREDENTIALS = "any access key from outside (the AWS CLI's dummy profile) acts as the account's root"
    S3_EVENT_SEQUENCER_ORDER = "the S3 events of one key carry increasing sequencers (a newer version's is greater)"
    S3_EVENT_KEY_PLUS_ENCODING = "S3 event keys are URL-encoded with + for a space"
    ONE_INVOCATION_PER_QUEUED_BATCH = (
        "messages queued while the mapping was disabled reach the function together, one invocation per batch "
        "(one poller; AWS scales its pollers out and may split them)"
    )
    PROMPT_MAPPING_STATE = (
        "enabling or disabling an event source mapping takes effect within a second "
        "(AWS passes through Enabling/Disabling, which can take minutes)"
    )


#: What every emulator gives by running one poller per event source mapping and flipping its state at once;
#: added to the declared capabilities of every emulator backend class (see ``Backend.__init_subclass__``).
ONE_POLLER_CAPABILITIES: frozenset[Capability] = frozenset(
    {Capability.ONE_INVOCATION_PER_QUEUED_BATCH, Capability.PROMPT_MAPPING_STATE}
)


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def fake(cls) -> Credentials:
        return cls(FAKE_ACCESS_KEY, FAKE_SECRET_KEY)

    @property
    def is_fake(self) -> bool:
        return self.access_key_id == FAKE_ACCESS_KEY and self.secret_access_key == FAKE_SECRET_KEY


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to talk to AWS. ``url`` is None for real AWS (the SDK's defaults apply).

    On real AWS ``session`` is the boto3 Session whose credentials the SDK clients share (refreshed
    by botocore when they come from SSO, an assumed role or a credential process; ``credentials`` is
    only the snapshot taken at start) and ``account_id`` the account STS confirmed.
    """

    url: str | None
    region: str
    credentials: Credentials
    session: boto3.Session | None = field(default=None, compare=False, repr=False)
    account_id: str | None = None

    def boto3_kwargs(self) -> dict[str, str]:
        kwargs = {
            "region_name": self.region,
            "aws_access_key_id": self.credentials.access_key_id,
            "aws_secret_access_key": self.credentials.secret_access_key,
        }
        if self.credentials.session_token:
            kwargs["aws_session_token"] = self.credentials.session_token
        if self.url:
            kwargs["endpoint_url"] = self.url
        return kwargs


@dataclass(frozen=True)
class Health:
    healthy: bool
    detail: str


@dataclass(frozen=True)
class Probes:
    """How a session looks at things already running: a pid, an emulator's health, a function gateway.

    :func:`s3pipe.backends.probes.real_probes` builds the real ones; tests pass stand-ins.
    """

    pid_alive: Callable[[int | None], bool]
    health: Callable[[str], Health]
    gateway: Callable[[str], Health]


class Backend(abc.ABC):
    """A place where the stack runs. Use as a context manager or call start()/stop()."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    #: True for emulators: the endpoint guard then requires loopback endpoints and fake credentials.
    is_emulator: ClassVar[bool] = True
    #: The session starts the emulator, and its resources die with it: a replaced stack's record and
    #: Terraform state describe nothing real any more and are dropped.
    owns_emulator: ClassVar[bool] = False
    #: A stack left running (``s3pipe up``, ``--s3pipe-keep``) can be attached to by a later session.
    supports_warm_reuse: ClassVar[bool] = False
    #: The emulator's state can be saved and restored instead of re-applied (s3pipe.snapshots).
    supports_snapshots: ClassVar[bool] = False
    #: Runs a function gateway beside the emulator (recorded calls, fault injection, IAM audit).
    has_function_gateway: ClassVar[bool] = False
    #: Resources live in a shared account (real AWS): every stack gets a fresh name prefix per run that
    #: the module must take, the provider is pinned to the account and tags what it creates with the
    #: run, and a plan that would adopt an existing resource is refused (:mod:`s3pipe.aws`).
    requires_isolation: ClassVar[bool] = False
    #: Least seconds between two CloudWatch Logs reads of one stack (a per-account quota on AWS); 0: no pacing.
    log_read_interval: ClassVar[float] = 0.0
    #: Stacks cost money by the minute: tests marked ``slow`` are skipped unless selected (``-m slow``).
    skips_slow_tests: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.is_emulator and "capabilities" in vars(cls):
            cls.capabilities = cls.capabilities | ONE_POLLER_CAPABILITIES

    @classmethod
    @abc.abstractmethod
    def from_config(cls, config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Self:
        """Build (not start) the backend from the harness configuration; ``port`` overrides the configured one."""

    @classmethod
    def reuse_problem(cls, record: StackRecord, probes: Probes) -> str | None:
        """Why a stack recorded on this backend cannot be attached to, beyond the generic checks; None if nothing.

        The session checks the backend name, the endpoint's health, the owner, module and settings itself.
        """
        del record, probes
        return None

    @property
    def pid(self) -> int | None:
        """The emulator's process (its supervisor), when this process started one."""
        return None

    @property
    def log_file(self) -> str | None:
        """Where the emulator writes its log, when it writes one to a file."""
        return None

    @property
    def function_endpoint_url(self) -> str | None:
        """The URL the deployed function sends its AWS calls to (the function gateway); None without one."""
        return None

    @property
    def own_hosts(self) -> frozenset[str]:
        """Host names besides loopback that address this emulator (allowed by the endpoint guard)."""
        return frozenset()

    @abc.abstractmethod
    def start(self) -> Endpoint:
        """Start (or attach to) the backend and return once it is healthy."""

    @abc.abstractmethod
    def health(self) -> Health:
        """Ask the backend whether it can serve requests now."""

    @property
    def effective_capabilities(self) -> frozenset[Capability]:
        """Capabilities of this instance (an attached endpoint may know more once started)."""
        return self.capabilities

    def logs(self, tail: int = 200) -> list[str]:
        """The backend's own log lines (emulator log, container log); empty when there are none."""
        del tail
        return []

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop what start() started (idempotent). Attach-only backends leave the target running."""

    def detach(self) -> None:  # noqa: B027 - a deliberate no-op default, not an abstract method
        """Leave the backend running after this process ends (warm reuse); default: same as doing nothing."""

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
