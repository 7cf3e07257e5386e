"""The aws backend's refusals, with botocore's Stubber and an isolated credential chain: no network."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self, cast

import boto3
import pytest
from botocore.stub import Stubber

from s3pipe.backends.aws import AwsBackend, AwsRefused
from s3pipe.backends.base import Capability, Credentials, Endpoint, Health
from s3pipe.backends.registry import create_backend
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, StackSettings
from s3pipe.errors import TerraformError
from s3pipe.progress import Progress
from s3pipe.session import StackSession
from s3pipe.stack import Stack

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documented example secret
KEY = "AKIAIOSFODNN7EXAMPLE"
IDENTITY = {"UserId": "AIDAEXAMPLE", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/ci"}


@pytest.fixture(autouse=True)
def isolated_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3's default chain sees nothing of this machine: no env keys, no files, no metadata service."""
    for name in list(__import__("os").environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class StubbedSession:
    """A real boto3 Session whose STS client answers from a Stubber."""

    def __init__(self, key: str | None = KEY, secret: str | None = SECRET, token: str | None = None) -> None:
        self.session = boto3.Session(
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            region_name="eu-west-1",
        )
        self.sts = self.session.client("sts", region_name="eu-west-1")
        self.stubber = Stubber(self.sts)

    def get_credentials(self) -> Any:
        return self.session.get_credentials()

    def client(self, name: str, region_name: str | None = None) -> Any:
        assert name == "sts"
        del region_name
        return self.sts


def aws(session: Any = None, *, allow: bool = True, environ: dict[str, str] | None = None) -> AwsBackend:
    def factory(region: str) -> Any:
        if session is None:
            return boto3.Session(region_name=region)
        return session

    return AwsBackend(region="eu-west-1", allow=allow, environ=environ or {}, session_factory=factory)


def test_refuses_without_opt_in_before_touching_credentials() -> None:
    def no_session(_region: str) -> Any:
        raise AssertionError("no credential lookup without the opt-in")

    backend = AwsBackend(region="eu-west-1", allow=False, environ={}, session_factory=no_session)
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
    backend = AwsBackend(
        region="eu-west-1",
        allow=True,
        environ={},
        session_factory=lambda _region: session,
        progress=Progress(write=lines.append),
    )
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
        super().__init__(region="eu-west-1", allow=True, environ={})
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
