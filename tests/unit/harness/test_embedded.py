"""The embedded backend's environment and port choice (nothing is started here)."""

from __future__ import annotations

import os
import socket

import pytest

from s3pipe.backends.base import Capability
from s3pipe.backends.embedded import EmbeddedBackend, emulator_environment, free_loopback_port

CALLER = {
    "PATH": "/usr/bin",
    "HOME": "/home/dev",
    "AWS_PROFILE": "prod-admin",
    "AWS_ACCESS_KEY_ID": "AKIAREALKEY",
    "AWS_SECRET_ACCESS_KEY": "real-secret",
    "AWS_SESSION_TOKEN": "real-token",
    "AWS_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": "https://real.example.com",
    "AWS_ENDPOINT_URL_SQS": "https://sqs.example.com",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.2/creds",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
}


def test_every_aws_variable_of_the_caller_is_scrubbed() -> None:
    env = emulator_environment(4566, "ap-northeast-1", base=dict(CALLER))
    aws = {name: value for name, value in env.items() if name.startswith("AWS_")}
    assert aws == {
        "AWS_DEFAULT_REGION": "ap-northeast-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": os.devnull,  # ~/.aws is masked for the Lambda workers too
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    for secret in ("AKIAREALKEY", "real-secret", "real-token", "prod-admin", "https://real.example.com"):
        assert secret not in env.values()


def test_loopback_never_goes_through_a_proxy() -> None:
    env = emulator_environment(4566, "ap-northeast-1", base={"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "corp"})
    assert env["NO_PROXY"].split(",") == ["corp", "127.0.0.1", "localhost", "::1"]
    assert env["no_proxy"] == env["NO_PROXY"]


def test_emulator_binds_to_loopback_on_the_given_port() -> None:
    env = emulator_environment(45123, "eu-west-1", base={})
    assert env["GATEWAY_PORT"] == "45123"
    assert env["BIND_HOST"] == "127.0.0.1"
    assert env["MINISTACK_REGION"] == "eu-west-1"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_the_emulator_enforces_iam() -> None:
    env = emulator_environment(4566, "ap-northeast-1", base={"AUTH": "false"})
    assert env["AUTH"] == "true"  # the function's calls are evaluated against its role, as on AWS
    assert Capability.IAM_ENFORCEMENT in EmbeddedBackend.capabilities


def test_other_variables_are_kept() -> None:
    env = emulator_environment(4566, "ap-northeast-1", base=dict(CALLER))
    assert env["PATH"] == "/usr/bin"
    assert env["HOME"] == "/home/dev"


def test_the_process_environment_is_the_default_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "prod-admin")
    monkeypatch.setenv("S3PIPE_EMBEDDED_TEST", "kept")
    env = emulator_environment(4566, "ap-northeast-1")
    assert "AWS_PROFILE" not in env
    assert env["S3PIPE_EMBEDDED_TEST"] == "kept"
    assert os.environ["AWS_PROFILE"] == "prod-admin"  # the caller's environment is not modified


def test_the_base_mapping_is_not_modified() -> None:
    base = dict(CALLER)
    emulator_environment(4566, "ap-northeast-1", base=base)
    assert base == CALLER


def test_free_loopback_port_can_be_bound_on_loopback() -> None:
    port = free_loopback_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
