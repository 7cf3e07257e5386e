"""The aws backend's refusals, with botocore's Stubber and an isolated credential chain: no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, cast

import boto3
import pytest
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.stub import Stubber

from s3pipe.backends.aws import AwsBackend, AwsRefused
from s3pipe.backends.base import Capability, Credentials, Endpoint, Health
from s3pipe.backends.registry import create_backend
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, StackSettings
from s3pipe.errors import TerraformError
from s3pipe.progress import Progress
from s3pipe.session import StackSession
from s3pipe.stack import Stack, make_client

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documented example secret
KEY = "AKIAIOSFODNN7EXAMPLE"
ACCOUNT = "123456789012"
IDENTITY = {"UserId": "AIDAEXAMPLE", "Account": ACCOUNT, "Arn": "arn:aws:iam::123456789012:user/ci"}


@pytest.fixture(autouse=True)
def isolated_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3's default chain sees nothing of this machine: no env keys, no files, no metadata service."""
    for name in list(__import__("os").environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class StubbedSession(boto3.Session):
    """A real boto3 Session whose STS client answers from a Stubber (every other client is real)."""

    def __init__(
        self,
        key: str | None = KEY,
        secret: str | None = SECRET,
        token: str | None = None,
        region: str | None = "eu-west-1",
    ) -> None:
        super().__init__(
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, region_name=region
        )
        self.sts = super().client("sts", region_name=region or "eu-west-1")
        self.stubber = Stubber(self.sts)

    def client(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        name = args[0] if args else kwargs["service_name"]
        return self.sts if name == "sts" else super().client(*args, **kwargs)


def aws(
    session: Any = None,
    *,
    allow: bool = True,
    environ: dict[str, str] | None = None,
    account_id: str | None = ACCOUNT,
    region: str | None = "eu-west-1",
    progress: Progress | None = None,
) -> AwsBackend:
    def factory(region_name: str | None) -> Any:
        if session is None:
            return boto3.Session(region_name=region_name)
        return session

    return AwsBackend(
        region=region,
        allow=allow,
        account_id=account_id,
        run_id="r0123456789",
        environ=environ or {},
        session_factory=factory,
        progress=progress,
    )


def test_refuses_without_opt_in_before_touching_credentials() -> None:
    def no_session(_region: str) -> Any:
        raise AssertionError("no credential lookup without the opt-in")

    backend = AwsBackend(
        region="eu-west-1",
        allow=False,
        account_id=ACCOUNT,
        run_id="r0123456789",
        environ={},
        session_factory=no_session,
    )
    with pytest.raises(AwsRefused) as raised:
        backend.start()
    message = str(raised.value)
    assert "was not allowed for this run" in message
    assert "--s3pipe-allow-aws" in message
    assert "S3PIPE_ALLOW_AWS=1" in message


def test_opt_in_comes_from_the_config(tmp_path: Path) -> None:
    progress = Progress(write=lambda _line: None)
    denied = create_backend(HarnessConfig.resolve(tmp_path, environ={"S3PIPE_BACKEND": "aws"}), progress)
    allowed = create_backend(
        HarnessConfig.resolve(tmp_path, environ={"S3PIPE_BACKEND": "aws", "S3PIPE_ALLOW_AWS": "1"}), progress
    )
    assert isinstance(denied, AwsBackend)
    assert isinstance(allowed, AwsBackend)
    assert (denied.allow, allowed.allow) == (False, True)


def test_refuses_without_credentials() -> None:
    with pytest.raises(AwsRefused) as raised:
        aws().start()
    message = str(raised.value)
    assert "found no AWS credentials" in message
    assert "default chain" in message
    assert "AWS_PROFILE" in message


def test_refuses_the_fake_emulator_credentials() -> None:
    with pytest.raises(AwsRefused) as raised:
        aws(StubbedSession("test", "test")).start()
    message = str(raised.value)
    assert "fake credentials" in message
    assert "--s3pipe-backend embedded" in message


def test_refuses_when_an_endpoint_override_would_redirect_the_sdk() -> None:
    with pytest.raises(AwsRefused) as raised:
        aws(StubbedSession(), environ={"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}).start()
    assert "AWS_ENDPOINT_URL is set" in str(raised.value)


def test_refuses_when_sts_rejects_the_credentials_without_showing_them() -> None:
    session = StubbedSession()
    session.stubber.add_client_error(
        "get_caller_identity",
        service_error_code="InvalidClientTokenId",
        service_message="The security token included in the request is invalid.",
        http_status_code=403,
    )
    with session.stubber, pytest.raises(AwsRefused) as raised:
        aws(session).start()
    message = str(raised.value)
    assert "could not confirm the credentials with STS" in message
    assert "InvalidClientTokenId" in message
    assert SECRET not in message
    assert KEY not in message


def test_refuses_when_sts_answers_from_an_emulator_account() -> None:
    session = StubbedSession()
    session.stubber.add_response(
        "get_caller_identity",
        {"UserId": "x", "Account": "000000000000", "Arn": "arn:aws:iam::000000000000:root"},
    )
    with session.stubber, pytest.raises(AwsRefused, match="reached an emulator, not AWS"):
        aws(session).start()


def test_real_credentials_give_an_endpoint_without_url() -> None:
    session = StubbedSession(token="session-token")
    session.stubber.add_response("get_caller_identity", IDENTITY)
    lines: list[str] = []
    backend = aws(session, progress=Progress(write=lines.append))
    with session.stubber:
        endpoint = backend.start()
    assert endpoint.url is None
    assert endpoint.credentials == Credentials(KEY, SECRET, "session-token")
    assert not endpoint.credentials.is_fake
    assert SECRET not in repr(endpoint)
    assert "session-token" not in repr(endpoint)
    assert not any(SECRET in line for line in lines)
    assert backend.account_id == "123456789012"
    assert backend.health() == Health(True, "account 123456789012")
    assert endpoint.account_id == ACCOUNT
    assert endpoint.session is session  # the SDK clients share it: its credentials refresh


def test_declares_real_aws_semantics_and_is_not_an_emulator() -> None:
    assert not AwsBackend.is_emulator
    assert Capability.IAM_ENFORCEMENT in AwsBackend.capabilities
    assert Capability.MAPPING_TIMEOUT_VALIDATION in AwsBackend.capabilities
    assert Capability.STRICT_BATCH_ITEM_IDENTIFIERS in AwsBackend.capabilities
    assert Capability.FUNCTION_ENDPOINT_OVERRIDE not in AwsBackend.capabilities
    assert Capability.FAST_REDEPLOY not in AwsBackend.capabilities


# ---------------------------------------------------------------------------- destroy in a finally


class StartedAws(AwsBackend):
    """An aws backend that 'started' without AWS: only the session's cleanup path is under test."""

    def __init__(self) -> None:
        super().__init__(region="eu-west-1", allow=True, account_id=ACCOUNT, run_id="r0123456789", environ={})
        self.stopped = False

    def start(self) -> Endpoint:
        return Endpoint(None, "eu-west-1", Credentials(KEY, SECRET))

    def stop(self) -> None:
        self.stopped = True


def aws_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deploy_fails: bool) -> tuple[StackSession, Any]:
    config = HarnessConfig.resolve(tmp_path, environ={"S3PIPE_BACKEND": "aws", "S3PIPE_ALLOW_AWS": "1"})
    backend = StartedAws()

    class ThisAws(StartedAws):
        @classmethod
        def from_config(cls, config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Self:
            return cast(Self, backend)

    destroyed: list[str] = []

    def deploy(
        self: Deployer,
        name: str,
        _backend: Any,
        endpoint: Endpoint,
        settings: StackSettings,
        *_a: Any,
        **_k: Any,
    ) -> Stack:
        del self
        if deploy_fails:
            raise TerraformError("`terraform apply` failed", tried="terraform apply", seen="x", fix="y")
        return Stack(name=name, outputs=None, endpoint=endpoint, backend="aws", capabilities=frozenset(), workdir="")  # type: ignore[arg-type]

    monkeypatch.setattr(Deployer, "deploy", deploy)
    monkeypatch.setattr(Deployer, "destroy", lambda _self, name, _endpoint: destroyed.append(name))
    session = StackSession(config, Progress(write=lambda _line: None), "ci", backend_class=ThisAws)
    return session, (backend, destroyed)


def test_session_destroys_an_aws_stack_it_deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session, (backend, destroyed) = aws_session(tmp_path, monkeypatch, deploy_fails=False)
    session.open()
    session.close()
    assert destroyed == ["ci"]
    assert backend.stopped


def test_session_destroys_an_aws_stack_after_a_failed_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session, (_backend, destroyed) = aws_session(tmp_path, monkeypatch, deploy_fails=True)
    with pytest.raises(TerraformError):
        session.open()
    session.close()
    assert destroyed == ["ci"]


# ---------------------------------------------------------------------------- the right account, region and run


@pytest.mark.parametrize("account_id", [None, "", "12345678901", "my-account"])
def test_refuses_without_a_valid_account_id_before_touching_credentials(account_id: str | None) -> None:
    def no_session(_region: str | None) -> Any:
        raise AssertionError("no credential lookup without an account id")

    backend = AwsBackend(
        region="eu-west-1",
        allow=True,
        account_id=account_id,
        run_id="r0123456789",
        environ={},
        session_factory=no_session,
    )
    with pytest.raises(AwsRefused) as raised:
        backend.start()
    message = str(raised.value)
    assert "needs the id of the account it may deploy to" in message
    assert "--s3pipe-aws-account-id" in message
    assert "S3PIPE_AWS_ACCOUNT_ID" in message


def test_refuses_credentials_of_another_account() -> None:
    session = StubbedSession()
    other = {"UserId": "AIDAOTHER", "Account": "210987654321", "Arn": "arn:aws:iam::210987654321:user/prod"}
    session.stubber.add_response("get_caller_identity", other)
    with session.stubber, pytest.raises(AwsRefused) as raised:
        aws(session).start()
    message = str(raised.value)
    assert "credentials for another account" in message
    assert "expecting account 123456789012" in message
    assert "arn:aws:iam::210987654321:user/prod is in account 210987654321" in message


def test_the_region_is_the_profiles_when_none_is_configured() -> None:
    session = StubbedSession(region="eu-central-1")
    session.stubber.add_response("get_caller_identity", IDENTITY)
    backend = aws(session, region=None)
    with session.stubber:
        endpoint = backend.start()
    assert endpoint.region == "eu-central-1"
    assert backend.region == "eu-central-1"


def test_refuses_when_neither_the_configuration_nor_the_profile_names_a_region() -> None:
    session = StubbedSession(region=None)
    with pytest.raises(AwsRefused) as raised:
        aws(session, region=None, environ={"AWS_PROFILE": "ci"}).start()
    message = str(raised.value)
    assert "does not know which region" in message
    assert "profile 'ci'" in message
    assert "--s3pipe-region" in message


def test_account_region_and_run_are_printed_when_confirmed() -> None:
    session = StubbedSession()
    session.stubber.add_response("get_caller_identity", IDENTITY)
    lines: list[str] = []
    with session.stubber:
        aws(session, progress=Progress(write=lines.append)).start()
    [line] = lines
    assert "account 123456789012" in line
    assert "in eu-west-1" in line
    assert "run r0123456789" in line
    assert "s3pipe aws sweep --run r0123456789 --region eu-west-1 --yes" in line


def test_the_configuration_gives_the_region_only_when_set_and_the_run_and_account(tmp_path: Path) -> None:
    progress = Progress(write=lambda _line: None)
    base = {"S3PIPE_BACKEND": "aws", "S3PIPE_ALLOW_AWS": "1", "S3PIPE_AWS_ACCOUNT_ID": ACCOUNT}
    profile_region = create_backend(HarnessConfig.resolve(tmp_path, environ=base), progress)
    configured = HarnessConfig.resolve(tmp_path, environ={**base, "S3PIPE_REGION": "eu-west-3"})
    backend = create_backend(configured, progress)
    assert isinstance(profile_region, AwsBackend)
    assert isinstance(backend, AwsBackend)
    assert profile_region.region is None  # not ap-northeast-1: the profile's, resolved at start
    assert backend.region == "eu-west-3"
    assert backend.expected_account_id == ACCOUNT
    assert backend.run_id == configured.run_id


def test_keep_is_refused_unless_asked_for_explicitly(tmp_path: Path) -> None:
    progress = Progress(write=lambda _line: None)
    base = {"S3PIPE_BACKEND": "aws", "S3PIPE_ALLOW_AWS": "1", "S3PIPE_AWS_ACCOUNT_ID": ACCOUNT, "S3PIPE_KEEP": "1"}
    with pytest.raises(AwsRefused) as raised:
        create_backend(HarnessConfig.resolve(tmp_path, environ=base), progress)
    assert "--s3pipe-aws-keep" in str(raised.value)
    kept = create_backend(HarnessConfig.resolve(tmp_path, environ={**base, "S3PIPE_AWS_KEEP": "1"}), progress)
    assert isinstance(kept, AwsBackend)


# ---------------------------------------------------------------------------- credentials that refresh


class _Signed(Exception):
    def __init__(self, authorization: str) -> None:
        super().__init__("captured")
        self.authorization = authorization


class RotatingCredentials(CredentialProvider):
    """Like SSO or an assumed role: credentials that expire soon, refreshed from a source on every refresh."""

    METHOD = "rotating"

    def __init__(self) -> None:
        super().__init__()
        self.issued = 0

    def _next(self) -> dict[str, str]:
        self.issued += 1
        expiry = datetime.now(UTC) + timedelta(minutes=11)  # inside botocore's advisory window: refreshed on use
        return {
            "access_key": f"ASIAROTATING{self.issued:08d}",
            "secret_key": f"secret-{self.issued}",
            "token": f"token-{self.issued}",
            "expiry_time": expiry.isoformat(),
        }

    def load(self) -> RefreshableCredentials:
        return RefreshableCredentials.create_from_metadata(self._next(), self._next, self.METHOD)


def signed_access_key(client: Any) -> str:
    """The access key the client signs its next request with (captured before sending)."""

    def capture(request: Any, **_: Any) -> None:
        raise _Signed(str(request.headers["Authorization"]))

    client.meta.events.register("before-send", capture)
    try:
        with pytest.raises(_Signed) as signed:
            client.list_queues()
    finally:
        client.meta.events.unregister("before-send", capture)
    return signed.value.authorization.split("Credential=", 1)[1].split("/", 1)[0]


def test_sdk_clients_use_the_sessions_refreshing_credentials_not_a_copy() -> None:
    session = StubbedSession(key=None, secret=None)
    session._session.get_component("credential_provider").insert_before("env", RotatingCredentials())
    session.stubber.add_response("get_caller_identity", IDENTITY)
    with session.stubber:
        endpoint = aws(session).start()

    stack = Stack(name="ci", outputs=None, endpoint=endpoint, backend="aws", capabilities=frozenset())  # type: ignore[arg-type]
    first = signed_access_key(stack.sqs)
    second = signed_access_key(stack.sqs)
    module_client = make_client(endpoint, "sqs")

    assert endpoint.credentials.access_key_id.startswith("ASIAROTATING")  # the snapshot taken at start
    assert first != endpoint.credentials.access_key_id, "the client signs with the start-time snapshot"
    assert second != first, "the client never picked up refreshed credentials"
    assert signed_access_key(module_client) not in {first, second}
