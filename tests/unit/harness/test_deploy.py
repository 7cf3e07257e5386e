"""Deploy inputs: stack name prefixes, Terraform variables and environment, and the ``stack.json`` record."""

from __future__ import annotations

import json
import os
import re
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3pipe.backends.base import Credentials, Endpoint
from s3pipe.deploy import StackRecord, StackSettings, settings_hash, terraform_environment
from s3pipe.terraform.providers import ProviderInstallation

#: infra/variables.tf's validation of var.name_prefix
NAME_PREFIX = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
EMULATOR = Endpoint("http://127.0.0.1:4566", "ap-northeast-1", Credentials.fake())
REAL_AWS = Endpoint(None, "eu-west-1", Credentials("AKIAREAL", "real-secret"))
CALLER_AWS_ENV = {
    "AWS_PROFILE": "prod-admin",
    "AWS_ACCESS_KEY_ID": "AKIAREALKEY",
    "AWS_SECRET_ACCESS_KEY": "real-secret",
    "AWS_SESSION_TOKEN": "real-token",
    "AWS_ENDPOINT_URL_S3": "https://s3.example.com",
    "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/x",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
    "AWS_CA_BUNDLE": "/etc/ca.pem",
}


# ---------------------------------------------------------------------------- unique_prefix


@pytest.mark.parametrize(
    "stack_name",
    ["dev", "demo", "chaos-gw0", "Main_Stack", "x", "", "---", "a" * 80, "123", "with space/and.dots", "gw12"],
)
def test_unique_prefix_is_a_valid_name_prefix(stack_name: str) -> None:
    prefix = StackSettings.unique_prefix(stack_name)
    assert NAME_PREFIX.match(prefix), prefix
    assert prefix.startswith("s3p-")


@settings(max_examples=60)
@given(st.text(alphabet=string.printable, max_size=60))
def test_unique_prefix_is_valid_for_any_ascii_name(stack_name: str) -> None:
    assert NAME_PREFIX.match(StackSettings.unique_prefix(stack_name))


@pytest.mark.parametrize("stack_name", ["café", "straße", "x²", "日本"])
def test_unique_prefix_is_valid_for_non_ascii_names(stack_name: str) -> None:
    assert NAME_PREFIX.match(StackSettings.unique_prefix(stack_name))


def test_unique_prefix_keeps_a_readable_slug() -> None:
    assert StackSettings.unique_prefix("Chaos_GW1").startswith("s3p-chaos-gw1-")
    assert StackSettings.unique_prefix("").startswith("s3p-stack-")


def test_unique_prefix_differs_between_calls() -> None:
    prefixes = {StackSettings.unique_prefix("dev") for _ in range(20)}
    assert len(prefixes) == 20


# ---------------------------------------------------------------------------- to_variables / settings_hash


def test_to_variables_passes_test_friendly_settings() -> None:
    settings_ = StackSettings(name_prefix="s3p-dev-abc123", extra_environment={"FAULT": "1"})
    variables = settings_.to_variables("ap-northeast-1", Path("/s/artifacts/lambda.zip"))
    assert variables == {
        "region": "ap-northeast-1",
        "name_prefix": "s3p-dev-abc123",
        "lambda_zip_path": "/s/artifacts/lambda.zip",
        "lambda_timeout": 10,
        "visibility_timeout_seconds": 10,
        "max_receive_count": 3,
        "batch_size": 10,
        "maximum_batching_window_in_seconds": 0,
        "maximum_concurrency": 4,
        "log_retention_days": 1,
        "lambda_tracing_mode": "PassThrough",
        "enable_lifecycle_rules": False,
        "extra_environment": {"FAULT": "1"},
        "force_destroy": True,
        "deletion_protection": False,
    }
    json.dumps(variables)  # must be writable as *.auto.tfvars.json


def test_extra_variables_override_and_extend() -> None:
    variables = StackSettings(
        name_prefix="p", max_receive_count=5, extra_variables={"force_destroy": False, "tags": {"a": "b"}}
    ).to_variables("r", Path("z"))
    assert variables["max_receive_count"] == 5
    assert variables["force_destroy"] is False
    assert variables["tags"] == {"a": "b"}


def test_settings_hash_ignores_the_zip_path_only() -> None:
    settings_ = StackSettings(name_prefix="p")
    here = settings_.to_variables("r", Path("/one/lambda.zip"))
    there = settings_.to_variables("r", Path("/two/lambda.zip"))
    assert settings_hash(here) == settings_hash(there)
    assert settings_hash(here) != settings_hash(StackSettings(name_prefix="p", batch_size=1).to_variables("r", Path()))
    assert settings_hash(here) != settings_hash(settings_.to_variables("other-region", Path()))


def test_settings_hash_does_not_depend_on_key_order() -> None:
    assert settings_hash({"a": 1, "b": {"y": 2, "x": 1}}) == settings_hash({"b": {"x": 1, "y": 2}, "a": 1})


# ---------------------------------------------------------------------------- terraform_environment


@pytest.fixture
def caller_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in CALLER_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("S3PIPE_CALLER_VAR", "kept")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/missing.rc")
    monkeypatch.delenv("TF_INPUT", raising=False)


@pytest.mark.usefixtures("caller_env")
def test_emulator_environment_drops_every_aws_variable_of_the_caller() -> None:
    env = terraform_environment(EMULATOR, ProviderInstallation())
    aws = {name: value for name, value in env.items() if name.startswith("AWS_")}
    assert aws == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "ap-northeast-1",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    assert env["S3PIPE_CALLER_VAR"] == "kept"
    assert env["TF_INPUT"] == "0"
    for secret in ("AKIAREALKEY", "real-secret", "real-token", "prod-admin"):
        assert secret not in env.values()


@pytest.mark.usefixtures("caller_env")
def test_real_aws_environment_keeps_the_callers_settings() -> None:
    env = terraform_environment(REAL_AWS, ProviderInstallation())
    for name, value in CALLER_AWS_ENV.items():
        assert env[name] == value
    assert "AWS_ENDPOINT_URL" not in env
    assert env["TF_INPUT"] == "0"


@pytest.mark.usefixtures("caller_env")
def test_installation_unsets_and_adds_variables() -> None:
    installation = ProviderInstallation(
        env={"TF_PLUGIN_CACHE_DIR": "/cache"}, unset=("TF_CLI_CONFIG_FILE", "TERRAFORM_CONFIG")
    )
    for endpoint in (EMULATOR, REAL_AWS):
        env = terraform_environment(endpoint, installation)
        assert "TF_CLI_CONFIG_FILE" not in env
        assert env["TF_PLUGIN_CACHE_DIR"] == "/cache"


@pytest.mark.usefixtures("caller_env")
def test_terraform_environment_does_not_touch_os_environ() -> None:
    terraform_environment(EMULATOR, ProviderInstallation(unset=("TF_CLI_CONFIG_FILE",)))
    assert os.environ["AWS_PROFILE"] == "prod-admin"
    assert os.environ["TF_CLI_CONFIG_FILE"] == "/missing.rc"


# ---------------------------------------------------------------------------- StackRecord


def record(**changes: object) -> StackRecord:
    values: dict[str, object] = {
        "name": "dev",
        "backend": "embedded",
        "endpoint_url": "http://127.0.0.1:4566",
        "region": "ap-northeast-1",
        "infra_hash": "i" * 64,
        "lambda_sha256": "l" * 64,
        "settings_hash": "{}",
        "outputs": {"name_prefix": "s3p-dev-abc123", "accepted_suffixes": [".json"]},
        "emulator_pid": 4242,
        "emulator_log": "/s/logs/ministack-4566.log",
        "owner_pid": 99,
        "deployed_at": 1_700_000_000.5,
    }
    values.update(changes)
    return StackRecord(**values)  # type: ignore[arg-type]


def test_record_round_trips_through_stack_json(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    original = record()
    original.save(path)
    assert StackRecord.load(path) == original
    assert not path.with_suffix(".tmp").exists()
    assert json.loads(path.read_text())["name"] == "dev"


def test_record_save_replaces_an_older_record(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    record(owner_pid=1).save(path)
    record(owner_pid=None).save(path)
    loaded = StackRecord.load(path)
    assert loaded is not None
    assert loaded.owner_pid is None


@pytest.mark.parametrize(
    "content",
    ["", "{not json", "[]", "null", '"text"', '{"name": "dev"}', json.dumps({"unknown_field": 1})],
)
def test_corrupt_or_foreign_record_loads_as_none(tmp_path: Path, content: str) -> None:
    path = tmp_path / "stack.json"
    path.write_text(content)
    assert StackRecord.load(path) is None


def test_missing_record_loads_as_none(tmp_path: Path) -> None:
    assert StackRecord.load(tmp_path / "nothing.json") is None


# ---------------------------------------------------------------------------- the guard around init

FAKE_INIT = """#!{python}
import json, pathlib, sys
workdir = pathlib.Path.cwd()
with open({log!r}, "a") as log:
    log.write(sys.argv[1] + "\\n")
if sys.argv[1] == "init":
    manifest = workdir / ".terraform" / "modules" / "modules.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    queue = {{"Key": "queue", "Source": "./modules/sqs", "Dir": "modules/sqs"}}
    manifest.write_text(json.dumps({{"Modules": [{{"Key": "", "Source": "", "Dir": "."}}, queue]}}))
"""


def test_the_guard_reads_the_modules_terraform_recorded_at_init_before_anything_is_applied(tmp_path: Path) -> None:
    """The module's examples/ folder is not refused; a provider block in the module init recorded as called is,
    after init and before any plan or apply."""
    import sys

    from s3pipe.backends.embedded import EmbeddedBackend
    from s3pipe.config import HarnessConfig
    from s3pipe.deploy import Deployer
    from s3pipe.errors import GuardError
    from s3pipe.guard import check_deployment
    from s3pipe.progress import Progress

    module = tmp_path / "project"
    (module / "modules" / "sqs" / "examples" / "complete").mkdir(parents=True)
    (module / "main.tf").write_text('module "queue" {\n  source = "./modules/sqs"\n}\n')
    (module / "modules" / "sqs" / "examples" / "complete" / "main.tf").write_text(
        'provider "aws" {\n  region = "x"\n}\n'
    )
    (module / "modules" / "sqs" / "main.tf").write_text('resource "aws_sqs_queue" "this" {}\n')
    log = tmp_path / "calls.log"
    binary = tmp_path / "terraform"
    binary.write_text(FAKE_INIT.format(python=sys.executable, log=str(log)))
    binary.chmod(0o755)
    plugins = tmp_path / "plugins"
    provider = plugins / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / "linux_amd64"
    provider.mkdir(parents=True)
    (provider / "terraform-provider-aws_v5.100.0_x5").write_text("fake")
    config = HarnessConfig(root=tmp_path, terraform_binary=str(binary), tf_plugin_dir=plugins)
    deployer = Deployer(config, Progress(write=lambda _line: None), check_deployment)
    backend = EmbeddedBackend(region="ap-northeast-1", log_dir=tmp_path, cache_dir=tmp_path, spec="ministack")

    deployer.prepare_module("s", backend, EMULATOR, module, {})  # examples/ is nobody's: passes
    assert log.read_text().split() == ["init"]

    (module / "modules" / "sqs" / "providers.tf").write_text('provider "aws" {\n  region = "us-east-1"\n}\n')
    with pytest.raises(GuardError) as refused:
        deployer.prepare_module("s", backend, EMULATOR, module, {})
    assert "inside module.queue (./modules/sqs), which this configuration calls" in str(refused.value)
    assert "modules/sqs/providers.tf:1" in str(refused.value)
    assert log.read_text().split() == ["init", "init"]  # refused after init, before any plan or apply
