"""Backend ``aws``: the same ``infra/`` deployed to a real AWS account, and destroyed afterwards.

It refuses to start unless the run opted in (``--s3pipe-allow-aws`` / ``S3PIPE_ALLOW_AWS=1``), names
the account it must deploy to (``--s3pipe-aws-account-id``), a region is configured or the profile's,
and real credentials resolve through boto3's default chain and ``sts get-caller-identity`` confirms
that very account. Each refusal names its own cause. The account, region and run id are printed
before anything is created. Every stack gets a fresh name prefix per run (``s3p-<stack>-<hex>``),
the provider is pinned to the account and tags everything with the run (:mod:`s3pipe.aws`), and
the session destroys what it applied, also after a failed apply. The SDK clients share the
session's credentials, so SSO and assumed-role credentials refresh during a long run.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar, Self

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from s3pipe.aws.run import sweep_command
from s3pipe.backends.base import (
    FAKE_ACCESS_KEY,
    FAKE_SECRET_KEY,
    Backend,
    Capability,
    Credentials,
    Endpoint,
    Health,
)
from s3pipe.errors import BackendUnavailable
from s3pipe.progress import Progress, silent

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

    from s3pipe.config import HarnessConfig

#: The account emulators report; seeing it means the "real" credentials reached an emulator.
EMULATOR_ACCOUNT_ID = "000000000000"
_ENDPOINT_PREFIX = "AWS_ENDPOINT_URL"
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")

#: Builds the boto3 Session for a region (None: the profile's).
SessionFactory = Callable[[str | None], boto3.Session]


def default_session(region: str | None) -> boto3.Session:
    return boto3.Session(region_name=region)


class AwsRefused(BackendUnavailable):
    """The aws backend will not deploy: no opt-in, no usable credentials, or not really AWS."""

    @classmethod
    def not_allowed(cls) -> AwsRefused:
        return cls(
            "Backend 'aws' deploys real, billable resources and was not allowed for this run",
            tried="check the opt-in: --s3pipe-allow-aws / S3PIPE_ALLOW_AWS=1 / ini s3pipe_allow_aws",
            seen="no opt-in given",
            fix="add --s3pipe-allow-aws (or S3PIPE_ALLOW_AWS=1) to deploy to the account of your credentials",
        )

    @classmethod
    def no_credentials(cls, profile: str | None) -> AwsRefused:
        return cls(
            "Backend 'aws' found no AWS credentials",
            tried=(
                "resolve credentials through boto3's default chain (environment, "
                f"{'profile ' + repr(profile) if profile else 'default profile'}, SSO, "
                "container/instance role)"
            ),
            seen="no credentials resolved",
            fix=(
                "export AWS_PROFILE=<profile> (after `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ),
        )

    @classmethod
    def fake_credentials(cls) -> AwsRefused:
        return cls(
            "Backend 'aws' was given the emulators' fake credentials",
            tried="resolve credentials through boto3's default chain",
            seen=f"access key {FAKE_ACCESS_KEY!r} with the fake secret: these only work against an emulator",
            fix=(
                "unset AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or pick a real profile) for the aws backend; "
                "for an emulator use --s3pipe-backend embedded, localstack or external"
            ),
        )

    @classmethod
    def endpoint_override(cls, variables: list[str]) -> AwsRefused:
        return cls(
            "Backend 'aws' would not talk to AWS: endpoint overrides are set in the environment",
            tried="check the environment for AWS_ENDPOINT_URL* before calling AWS",
            seen=[f"{name} is set" for name in variables],
            fix=(
                "unset those variables for the aws backend, or, to test against the emulator they name, use "
                "--s3pipe-backend external --s3pipe-endpoint-url URL"
            ),
        )

    @classmethod
    def sts_failed(cls, region: str, detail: str) -> AwsRefused:
        return cls(
            "Backend 'aws' could not confirm the credentials with STS",
            tried=f"sts get-caller-identity in {region}",
            seen=detail,
            fix=("refresh the credentials (`aws sso login`, new keys); `aws sts get-caller-identity` must succeed"),
        )

    @classmethod
    def no_account_id(cls, given: str | None) -> AwsRefused:
        return cls(
            "Backend 'aws' needs the id of the account it may deploy to",
            tried="read --s3pipe-aws-account-id / S3PIPE_AWS_ACCOUNT_ID / ini s3pipe_aws_account_id",
            seen="no account id given" if given is None else f"{given!r} is not a 12-digit account id",
            fix=(
                "name the account meant for these tests: --s3pipe-aws-account-id 123456789012 (the run refuses "
                "any other, and Terraform's provider gets allowed_account_ids = [it])"
            ),
        )

    @classmethod
    def wrong_account(cls, expected: str, actual: str, arn: str) -> AwsRefused:
        return cls(
            "Backend 'aws' was given credentials for another account",
            tried=f"sts get-caller-identity, expecting account {expected}",
            seen=f"caller {arn} is in account {actual}",
            fix=(
                f"pick credentials for account {expected} (AWS_PROFILE=<its profile>; under tox AWS_PROFILE is "
                "passed through), or correct --s3pipe-aws-account-id"
            ),
        )

    @classmethod
    def no_region(cls, profile: str | None) -> AwsRefused:
        return cls(
            "Backend 'aws' does not know which region to deploy to",
            tried=(
                "--s3pipe-region / S3PIPE_REGION, then the region of "
                f"{'profile ' + repr(profile) if profile else 'the default profile'} (AWS_REGION, AWS_DEFAULT_REGION, "
                "~/.aws/config)"
            ),
            seen="no region configured",
            fix="pass --s3pipe-region <region> (or set region in the profile); the aws backend never picks one itself",
        )

    @classmethod
    def keep_not_allowed(cls) -> AwsRefused:
        return cls(
            "Backend 'aws' will not leave a billable stack running on a plain --s3pipe-keep",
            tried="check --s3pipe-keep (or `s3pipe up --detach`) against the explicit --s3pipe-aws-keep",
            seen="keep requested, --s3pipe-aws-keep not given",
            fix=(
                "drop --s3pipe-keep (the stack is destroyed at the end), or add --s3pipe-aws-keep to keep it; "
                "`s3pipe down --stack <name>` destroys a kept one"
            ),
        )

    @classmethod
    def emulator_account(cls, arn: str) -> AwsRefused:
        return cls(
            "Backend 'aws' reached an emulator, not AWS",
            tried="sts get-caller-identity",
            seen=f"caller {arn} is in account {EMULATOR_ACCOUNT_ID}, the emulators' account",
            fix="remove the configuration that redirects the SDK (~/.aws/config endpoint_url, proxies)",
        )


def region_of(session: boto3.Session, configured: str | None, profile: str | None) -> str:
    """The configured region, else the session's (the profile's); refused when there is neither."""
    region = configured or session.region_name
    if not region:
        raise AwsRefused.no_region(profile)
    return str(region)


def confirm_account(session: boto3.Session, region: str, expected: str | None) -> tuple[str, str]:
    """(account, caller ARN) of the session's credentials, from STS; refused when STS does not answer, when it
    answers from the emulators' account, or, with ``expected``, when the account is another one."""
    sts: STSClient = session.client("sts", region_name=region)
    try:
        identity = sts.get_caller_identity()
    except ClientError as error:
        err = error.response.get("Error", {})
        raise AwsRefused.sts_failed(region, f"{err.get('Code', '?')}: {err.get('Message', '')}") from None
    except BotoCoreError as error:
        raise AwsRefused.sts_failed(region, f"{type(error).__name__}: {error}") from None
    account, arn = str(identity["Account"]), str(identity["Arn"])
    if account == EMULATOR_ACCOUNT_ID:
        raise AwsRefused.emulator_account(arn)
    if expected is not None and account != expected:
        raise AwsRefused.wrong_account(expected, account, arn)
    return account, arn


class AwsBackend(Backend):
    """A real AWS account, reached with the credentials of boto3's default chain."""

    name: ClassVar[str] = "aws"
    is_emulator: ClassVar[bool] = False
    # Real AWS is the reference for every semantic, except the two the harness cannot provide
    # there: loopback fault-injection endpoints are unreachable from a function in AWS, and stacks
    # take minutes to create and destroy.
    # A stack takes minutes, and the pollers, the mapping's state and the logs behave as AWS does (the
    # reference), not as one emulated poller: queued messages may be split over invocations.
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability) - {
        Capability.FUNCTION_ENDPOINT_OVERRIDE,
        Capability.FAST_REDEPLOY,
        Capability.ANY_CALLER_CREDENTIALS,  # AWS checks every key
        Capability.ONE_INVOCATION_PER_QUEUED_BATCH,
        Capability.PROMPT_MAPPING_STATE,
    }
    requires_isolation: ClassVar[bool] = True
    skips_slow_tests: ClassVar[bool] = True
    #: FilterLogEvents allows 5 requests per second per account and region, shared by every worker.
    log_read_interval: ClassVar[float] = 1.0

    @classmethod
    def from_config(cls, config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Self:
        """The configured account, run and region (None unless given: the profile's); ``keep`` only when explicit."""
        del port
        if config.keep and not config.aws_keep:
            raise AwsRefused.keep_not_allowed()
        return cls(
            region=config.region if "region" in config.given else None,
            allow=config.allow_aws,
            account_id=config.aws_account_id,
            run_id=config.run_id,
            progress=progress,
        )

    def __init__(
        self,
        *,
        region: str | None,
        allow: bool,
        account_id: str | None = None,
        run_id: str,
        progress: Progress | None = None,
        environ: Mapping[str, str] | None = None,
        session_factory: SessionFactory = default_session,
    ) -> None:
        self.region = region
        self.allow = allow
        self.expected_account_id = account_id
        self.run_id = run_id
        self.progress = progress or silent()
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.session_factory = session_factory
        self.caller_arn: str | None = None
        self.account_id: str | None = None

    def start(self) -> Endpoint:
        if not self.allow:
            raise AwsRefused.not_allowed()
        expected = self.expected_account_id
        if expected is None or not _ACCOUNT_ID.match(expected):
            raise AwsRefused.no_account_id(expected)
        overrides = sorted(name for name in self.environ if name.startswith(_ENDPOINT_PREFIX))
        if overrides:
            raise AwsRefused.endpoint_override(overrides)
        started = time.monotonic()
        session = self.session_factory(self.region)
        region = self.region = region_of(session, self.region, self.environ.get("AWS_PROFILE"))
        resolved = session.get_credentials()
        if resolved is None:
            raise AwsRefused.no_credentials(self.environ.get("AWS_PROFILE"))
        frozen = resolved.get_frozen_credentials()
        if not frozen.access_key or not frozen.secret_key:
            raise AwsRefused.no_credentials(self.environ.get("AWS_PROFILE"))
        if frozen.access_key == FAKE_ACCESS_KEY and frozen.secret_key == FAKE_SECRET_KEY:
            raise AwsRefused.fake_credentials()
        account, arn = confirm_account(session, region, expected)
        self.account_id, self.caller_arn = account, arn
        self.progress.done(
            "aws",
            time.monotonic() - started,
            f"account {account} as {arn} in {region}, run {self.run_id} "
            f"(anything left after the run: {sweep_command(self.run_id, region)})",
        )
        snapshot = Credentials(frozen.access_key, frozen.secret_key, frozen.token)
        return Endpoint(None, region, snapshot, session=session, account_id=account)

    def health(self) -> Health:
        if self.account_id is None:
            return Health(False, "not started")
        return Health(True, f"account {self.account_id}")

    def stop(self) -> None:
        """Nothing runs locally; the session destroys the stack (``Deployer.destroy``) before this."""

    def __repr__(self) -> str:
        return f"AwsBackend(region={self.region!r}, account={self.account_id!r})"
