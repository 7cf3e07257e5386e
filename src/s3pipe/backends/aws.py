"""Backend ``aws``: the same ``infra/`` deployed to a real AWS account, and destroyed afterwards.

It refuses to start unless the run opted in (``--s3pipe-allow-aws`` / ``S3PIPE_ALLOW_AWS=1``)
and real credentials resolve through boto3's default chain and pass ``sts get-caller-identity``.
Each refusal names its own cause. Every stack gets a unique name prefix (``s3p-<stack>-<hex>``)
and the session destroys what it applied, also after a failed apply.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar, Self

import boto3
from botocore.exceptions import BotoCoreError, ClientError

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
    def emulator_account(cls, arn: str) -> AwsRefused:
        return cls(
            "Backend 'aws' reached an emulator, not AWS",
            tried="sts get-caller-identity",
            seen=f"caller {arn} is in account {EMULATOR_ACCOUNT_ID}, the emulators' account",
            fix="remove the configuration that redirects the SDK (~/.aws/config endpoint_url, proxies)",
        )


class AwsBackend(Backend):
    """A real AWS account, reached with the credentials of boto3's default chain."""

    name: ClassVar[str] = "aws"
    is_emulator: ClassVar[bool] = False
    # Real AWS is the reference for every semantic, except the two the harness cannot provide
    # there: loopback fault-injection endpoints are unreachable from a function in AWS, and stacks
    # take minutes to create and destroy.
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability) - {
        Capability.FUNCTION_ENDPOINT_OVERRIDE,
        Capability.FAST_REDEPLOY,
        Capability.ANY_CALLER_CREDENTIALS,  # AWS checks every key
    }

    @classmethod
    def from_config(cls, config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Self:
        del port
        return cls(region=config.region, allow=config.allow_aws, progress=progress)

    def __init__(
        self,
        *,
        region: str,
        allow: bool,
        progress: Progress | None = None,
        environ: Mapping[str, str] | None = None,
        session_factory: Callable[[str], boto3.Session] = lambda region: boto3.Session(region_name=region),
    ) -> None:
        self.region = region
        self.allow = allow
        self.progress = progress or silent()
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.session_factory = session_factory
        self.caller_arn: str | None = None
        self.account_id: str | None = None

    def start(self) -> Endpoint:
        if not self.allow:
            raise AwsRefused.not_allowed()
        overrides = sorted(name for name in self.environ if name.startswith(_ENDPOINT_PREFIX))
        if overrides:
            raise AwsRefused.endpoint_override(overrides)
        started = time.monotonic()
        session = self.session_factory(self.region)
        resolved = session.get_credentials()
        if resolved is None:
            raise AwsRefused.no_credentials(self.environ.get("AWS_PROFILE"))
        frozen = resolved.get_frozen_credentials()
        if not frozen.access_key or not frozen.secret_key:
            raise AwsRefused.no_credentials(self.environ.get("AWS_PROFILE"))
        if frozen.access_key == FAKE_ACCESS_KEY and frozen.secret_key == FAKE_SECRET_KEY:
            raise AwsRefused.fake_credentials()
        sts: STSClient = session.client("sts", region_name=self.region)
        try:
            identity = sts.get_caller_identity()
        except ClientError as error:
            err = error.response.get("Error", {})
            raise AwsRefused.sts_failed(self.region, f"{err.get('Code', '?')}: {err.get('Message', '')}") from None
        except BotoCoreError as error:
            raise AwsRefused.sts_failed(self.region, f"{type(error).__name__}: {error}") from None
        self.account_id = identity["Account"]
        self.caller_arn = identity["Arn"]
        if self.account_id == EMULATOR_ACCOUNT_ID:
            raise AwsRefused.emulator_account(self.caller_arn)
        self.progress.done(
            "aws",
            time.monotonic() - started,
            f"account {self.account_id} as {self.caller_arn} in {self.region}",
        )
        return Endpoint(None, self.region, Credentials(frozen.access_key, frozen.secret_key, frozen.token))

    def health(self) -> Health:
        if self.account_id is None:
            return Health(False, "not started")
        return Health(True, f"account {self.account_id}")

    def stop(self) -> None:
        """Nothing runs locally; the session destroys the stack (``Deployer.destroy``) before this."""

    def __repr__(self) -> str:
        return f"AwsBackend(region={self.region!r}, account={self.account_id!r})"
