"""The endpoint guard: passes for the harness's own working copy, trips for every way out to real AWS."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from s3pipe.backends.aws import AwsBackend
from s3pipe.backends.base import Backend, Credentials, Endpoint
from s3pipe.backends.embedded import EmbeddedBackend
from s3pipe.backends.external import ExternalBackend
from s3pipe.backends.localstack import LocalStackBackend
from s3pipe.deploy import StackSettings, terraform_environment
from s3pipe.errors import GuardError
from s3pipe.guard import check_deployment, is_loopback_host
from s3pipe.terraform.hcl import parse_blocks, tokenize
from s3pipe.terraform.providers import ProviderInstallation
from s3pipe.terraform.workspace import OVERRIDE_FILE, StackWorkspace, aws_provider_aliases, render_override

URL = "http://127.0.0.1:4566"
ENDPOINT = Endpoint(URL, "ap-northeast-1", Credentials.fake())
INFRA = Path(__file__).resolve().parents[3] / "infra"

DEFAULT_PROVIDER = """
provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}
"""


def embedded(tmp_path: Path) -> EmbeddedBackend:
    return EmbeddedBackend(region="ap-northeast-1", log_dir=tmp_path, cache_dir=tmp_path, spec="ministack")


def clean_env(endpoint: Endpoint = ENDPOINT) -> dict[str, str]:
    """Terraform's environment exactly as the Deployer builds it (over a host with real settings)."""
    saved = dict(os.environ)
    try:
        os.environ.update({"AWS_PROFILE": "prod", "AWS_ACCESS_KEY_ID": "AKIAREALKEY12345", "AWS_SESSION_TOKEN": "t"})
        return terraform_environment(endpoint, ProviderInstallation())
    finally:
        os.environ.clear()
        os.environ.update(saved)


def workspace(
    tmp_path: Path,
    files: Mapping[str, str],
    *,
    override_aliases: list[str] | None = None,
    endpoint: Endpoint = ENDPOINT,
    variables: Mapping[str, Any] | None = None,
) -> StackWorkspace:
    """A working copy as the Deployer writes it: module files, generated override, variables."""
    infra = tmp_path / "infra"
    for name, text in files.items():
        path = infra / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    ws = StackWorkspace(tmp_path / "stack")
    ws.sync(infra)
    aliases = aws_provider_aliases(infra) if override_aliases is None else override_aliases
    ws.write_override(endpoint, aliases)
    ws.write_variables(
        variables if variables is not None else StackSettings("s3p-t-000000").to_variables("ap-northeast-1", Path("x"))
    )
    return ws


def refusal(
    ws: StackWorkspace, backend: Backend, env: Mapping[str, str] | None = None, endpoint: Endpoint = ENDPOINT
) -> str:
    with pytest.raises(GuardError) as raised:
        check_deployment(endpoint, clean_env() if env is None else env, ws, backend)
    return str(raised.value)


# ---------------------------------------------------------------------------- passes


def test_passes_for_the_reference_stack_as_the_deployer_writes_it(tmp_path: Path) -> None:
    ws = StackWorkspace(tmp_path / "stack")
    ws.sync(INFRA)
    ws.write_override(ENDPOINT, aws_provider_aliases(INFRA))
    ws.write_variables(StackSettings("s3p-ref-abcdef").to_variables("ap-northeast-1", ws.artifacts / "lambda.zip"))
    check_deployment(ENDPOINT, clean_env(), ws, embedded(tmp_path))


def test_passes_for_aliased_providers_with_their_generated_override(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path,
        {
            "providers.tf": DEFAULT_PROVIDER
            + """
            provider "aws" {
              alias  = "replica"
              region = "us-west-2"
            }
            """
        },
    )
    assert (ws.workdir / OVERRIDE_FILE).read_text() == render_override(ENDPOINT, ws.state_path, ["replica"])
    check_deployment(ENDPOINT, clean_env(), ws, embedded(tmp_path))


def test_real_endpoints_in_a_nested_endpoints_block_are_neutralised_by_the_override(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path,
        {
            "providers.tf": """
            provider "aws" {
              alias = "replica"
              endpoints {
                s3 = "https://s3.us-west-2.amazonaws.com"
              }
            }
            """
        },
    )
    check_deployment(ENDPOINT, clean_env(), ws, embedded(tmp_path))


def test_does_not_check_real_aws_runs(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"providers.tf": 'provider "aws" {\n  profile = "prod"\n}\n'})
    real = Endpoint(None, "eu-west-1", Credentials("AKIAIOSFODNN7EXAMPLE", "secret"))
    check_deployment(real, dict(os.environ), ws, AwsBackend(region="eu-west-1", allow=True, run_id="r0123456789"))


def test_comments_and_interpolations_do_not_confuse_the_reader(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path,
        {
            "providers.tf": """
            # provider "aws" { profile = "prod" }   <- a comment, not a block
            /* provider "aws" {
                 alias = "ghost"
               } */
            provider "aws" {
              region = "${var.region}" // a } in a comment
              default_tags {
                tags = { Name = "x}{" }
              }
            }
            """
        },
    )
    check_deployment(ENDPOINT, clean_env(), ws, embedded(tmp_path))


def test_the_localstack_alias_is_allowed_for_localstack_only(tmp_path: Path) -> None:
    variables = {"extra_environment": {"RECORDER_URL": "http://localstack:4566/_recorder"}}
    ws = workspace(tmp_path, {"providers.tf": DEFAULT_PROVIDER}, variables=variables)
    check_deployment(ENDPOINT, clean_env(), ws, LocalStackBackend(image="x", region="ap-northeast-1"))
    message = refusal(ws, embedded(tmp_path))
    assert "extra_environment.RECORDER_URL" in message


def test_a_localstack_queue_url_passes_as_loopback(tmp_path: Path) -> None:
    # The shape LocalStack 4.14.0 hands out with SQS_ENDPOINT_STRATEGY=off and LOCALSTACK_HOST=127.0.0.1:<port>
    # (services/sqs/models.py SqsQueue.url), e.g. a queue URL passed on to another module or the function.
    variables = {"extra_environment": {"QUEUE_URL": "http://127.0.0.1:45123/000000000000/s3p-t-000000-queue"}}
    ws = workspace(tmp_path, {"providers.tf": DEFAULT_PROVIDER}, variables=variables)
    check_deployment(ENDPOINT, clean_env(), ws, LocalStackBackend(image="x", region="ap-northeast-1"))
    # LocalStack's default strategy ("standard") puts the region in front of the host: not loopback
    standard = {"extra_environment": {"QUEUE_URL": "http://sqs.ap-northeast-1.127.0.0.1:45123/000000000000/q"}}
    ws = workspace(tmp_path / "standard", {"providers.tf": DEFAULT_PROVIDER}, variables=standard)
    message = refusal(ws, LocalStackBackend(image="x", region="ap-northeast-1"))
    assert "extra_environment.QUEUE_URL" in message


# ---------------------------------------------------------------------------- the working copy


def test_trips_on_an_aliased_provider_without_override(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path,
        {"providers.tf": DEFAULT_PROVIDER + '\nprovider "aws" {\n  alias  = "replica"\n  region = "us-west-2"\n}\n'},
        override_aliases=[],
    )
    message = refusal(ws, embedded(tmp_path))
    assert "provider \"aws\" (alias 'replica') has no matching block in zz_s3pipe_override.tf" in message
    assert f"{ws.workdir / 'providers.tf'}:10" in message, "names the file and line"
    assert "its calls would go to real AWS" in message
    assert "tried:" in message
    assert "fix:" in message


def test_trips_on_an_alias_pointing_at_a_real_endpoint_that_nothing_overrides(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path,
        {
            "providers.tf": DEFAULT_PROVIDER
            + """
            provider "aws" {
              alias = "prod"
              endpoints {
                sts = "https://sts.amazonaws.com"
              }
            }
            """
        },
        override_aliases=[],
    )
    assert "alias 'prod'" in refusal(ws, embedded(tmp_path))


def test_trips_when_an_alias_hides_behind_an_expression(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"providers.tf": DEFAULT_PROVIDER + '\nprovider "aws" {\n  alias = local.name\n}\n'})
    assert 'alias = "name"' in refusal(ws, embedded(tmp_path))


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        ('profile = "prod"', "profile"),
        ('shared_credentials_files = ["~/.aws/credentials"]', "shared_credentials_files"),
        ('shared_config_files = ["~/.aws/config"]', "shared_config_files"),
        ("token = var.session_token", "token"),
        ('assume_role {\n    role_arn = "arn:aws:iam::123456789012:role/deploy"\n  }', "assume_role"),
        (
            'assume_role_with_web_identity {\n    role_arn = "arn:aws:iam::1:role/x"\n  }',
            "assume_role_with_web_identity",
        ),
    ],
)
def test_trips_on_settings_the_override_cannot_neutralise(tmp_path: Path, setting: str, line: str) -> None:
    ws = workspace(tmp_path, {"providers.tf": f'provider "aws" {{\n  region = "eu-west-1"\n  {setting}\n}}\n'})
    message = refusal(ws, embedded(tmp_path))
    assert f'provider "aws" (default) sets {line}, which' in message
    assert f"{ws.workdir / 'providers.tf'}:3" in message
    assert "does not unset it" in message


def test_trips_on_a_real_proxy_or_a_proxy_it_cannot_verify(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path,
        {
            "providers.tf": 'provider "aws" {\n  https_proxy = "http://proxy.corp:3128"\n}\n'
            'provider "aws" {\n  alias = "b"\n  http_proxy = var.proxy\n}\n'
        },
    )
    message = refusal(ws, embedded(tmp_path))
    assert "sets https_proxy = 'http://proxy.corp:3128', which is not a loopback URL" in message
    assert "sets http_proxy from an expression the guard cannot verify" in message


def test_trips_on_a_tampered_override(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"providers.tf": DEFAULT_PROVIDER})
    override = ws.workdir / OVERRIDE_FILE
    override.write_text(override.read_text().replace(f'"{URL}"', '"https://dynamodb.eu-west-1.amazonaws.com"', 1))
    message = refusal(ws, embedded(tmp_path))
    assert "override endpoint cloudwatch" in message
    assert "is not a loopback URL" in message


def test_trips_when_the_override_is_missing(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"providers.tf": DEFAULT_PROVIDER})
    (ws.workdir / OVERRIDE_FILE).unlink()
    assert "(default) has no matching block" in refusal(ws, embedded(tmp_path))


def initialised(ws: StackWorkspace, modules: Mapping[str, str]) -> StackWorkspace:
    """What ``terraform init`` records: ``.terraform/modules/modules.json`` with the root and each called module."""
    entries = [{"Key": "", "Source": "", "Dir": "."}]
    entries += [{"Key": key, "Source": f"./{directory}", "Dir": directory} for key, directory in modules.items()]
    manifest = ws.workdir / ".terraform" / "modules" / "modules.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"Modules": entries}))
    return ws


VENDORED = {
    "providers.tf": DEFAULT_PROVIDER,
    "main.tf": 'module "queue" {\n  source = "./modules/sqs"\n}\n',
    "modules/sqs/main.tf": 'resource "aws_sqs_queue" "this" {}\n',
    # a community module copied whole carries root modules of its own that this configuration never loads
    "modules/sqs/examples/complete/main.tf": (
        'provider "aws" {\n  region = "eu-west-1"\n  profile = "prod"\n}\nmodule "sqs" {\n  source = "../../"\n}\n'
    ),
    "modules/sqs/examples/complete/versions.tf.json": json.dumps({"provider": {"aws": {"region": "eu-west-1"}}}),
}


def test_a_vendored_modules_examples_are_not_loaded_and_not_refused(tmp_path: Path) -> None:
    ws = workspace(tmp_path, VENDORED)
    check_deployment(ENDPOINT, clean_env(), ws, embedded(tmp_path))  # before init
    check_deployment(ENDPOINT, clean_env(), initialised(ws, {"queue": "modules/sqs"}), embedded(tmp_path))


def test_trips_on_a_provider_inside_a_called_local_module_once_init_recorded_it(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path,
        {
            "providers.tf": DEFAULT_PROVIDER,
            "main.tf": 'module "replica" {\n  source = "./modules/replica"\n}\n',
            "modules/replica/main.tf": 'provider "aws" {\n  region = "us-east-1"\n}\n',
        },
    )
    message = refusal(initialised(ws, {"replica": "modules/replica"}), embedded(tmp_path))
    assert "configured inside module.replica (./modules/replica), which this configuration calls" in message
    assert "modules/replica/main.tf:1" in message


def test_trips_on_a_provider_inside_a_registry_module_downloaded_at_init(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path, {"providers.tf": DEFAULT_PROVIDER, "main.tf": 'module "vpc" {\n  source = "x/vpc/aws"\n}\n'}
    )
    downloaded = ws.workdir / ".terraform" / "modules" / "vpc"
    downloaded.mkdir(parents=True)
    (downloaded / "main.tf").write_text('resource "aws_vpc" "this" {}\n\nprovider "aws" {\n  region = "us-east-1"\n}\n')
    initialised(ws, {"vpc": ".terraform/modules/vpc"})
    message = refusal(ws, embedded(tmp_path))
    assert "inside module.vpc" in message
    assert ".terraform/modules/vpc/main.tf:3" in message


def test_trips_on_a_provider_in_a_nested_module_call_and_in_json_syntax(tmp_path: Path) -> None:
    files = {
        **VENDORED,
        "modules/sqs/modules/policy/main.tf.json": json.dumps({"provider": [{"aws": {"region": "us-east-1"}}]}),
    }
    ws = initialised(workspace(tmp_path, files), {"queue": "modules/sqs", "queue.policy": "modules/sqs/modules/policy"})
    message = refusal(ws, embedded(tmp_path))
    assert "inside module.queue.policy" in message
    assert "examples/complete" not in message


def test_an_unreadable_module_manifest_is_refused_with_the_fix(tmp_path: Path) -> None:
    ws = workspace(tmp_path, VENDORED)
    manifest = ws.workdir / ".terraform" / "modules" / "modules.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{not json")
    message = refusal(ws, embedded(tmp_path))
    assert "module manifest cannot be read" in message
    assert "terraform init rewrites it" in message


def test_trips_on_a_json_provider_the_override_does_not_cover(tmp_path: Path) -> None:
    provider = {"provider": {"aws": [{"alias": "json", "region": "us-east-1", "profile": "prod"}]}}
    ws = workspace(tmp_path, {"providers.tf": DEFAULT_PROVIDER, "more.tf.json": json.dumps(provider)})
    message = refusal(ws, embedded(tmp_path))
    assert "alias 'json') (JSON syntax) has no matching block" in message
    assert "sets profile" in message


# ---------------------------------------------------------------------------- the environment


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("AWS_PROFILE", "prod", "AWS_PROFILE is set"),
        ("AWS_DEFAULT_PROFILE", "prod", "AWS_DEFAULT_PROFILE is set"),
        ("AWS_SESSION_TOKEN", "FwoGZXIvYXdzE...", "AWS_SESSION_TOKEN is set"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token", "AWS_WEB_IDENTITY_TOKEN_FILE is set"),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://169.254.170.2/creds",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", "AKIA… looks like a real access key"),
        ("AWS_ACCESS_KEY_ID", "ASIAIOSFODNN7EXAMPLE", "ASIA… looks like a real access key"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG",
            "the secret key is not the fake one (value not shown)",
        ),
        (
            "AWS_ENDPOINT_URL",
            "https://sts.amazonaws.com",
            "'https://sts.amazonaws.com' is not a loopback URL",
        ),
        ("AWS_ENDPOINT_URL_S3", "https://s3.amazonaws.com", "AWS_ENDPOINT_URL_S3"),
        ("AWS_CONFIG_FILE", "/home/me/.aws/config", "would let a profile in that file supply credentials"),
    ],
)
def test_trips_on_terraform_environment(tmp_path: Path, name: str, value: str, expected: str) -> None:
    ws = workspace(tmp_path, {"providers.tf": DEFAULT_PROVIDER})
    env = clean_env() | {name: value}
    message = refusal(ws, embedded(tmp_path), env)
    assert expected in message
    assert "wJalrXUtnFEMI" not in message, "secrets are never echoed"


def test_the_deployers_environment_scrubs_the_hosts_real_settings(tmp_path: Path) -> None:
    env = clean_env()
    assert "AWS_PROFILE" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "test"
    ws = workspace(tmp_path, {"providers.tf": DEFAULT_PROVIDER})
    check_deployment(ENDPOINT, env, ws, embedded(tmp_path))


def test_a_devnull_profile_file_is_allowed(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"providers.tf": DEFAULT_PROVIDER})
    env = clean_env() | {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    check_deployment(ENDPOINT, env, ws, embedded(tmp_path))


# ---------------------------------------------------------------------------- the endpoint


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (
            Endpoint("http://10.0.0.5:4566", "eu-west-1", Credentials.fake()),
            "http://10.0.0.5:4566 is not a loopback",
        ),
        (
            Endpoint("http://localhost.localstack.cloud:4566", "eu-west-1", Credentials.fake()),
            "is not a loopback",
        ),
        (Endpoint(None, "eu-west-1", Credentials.fake()), "returned no endpoint URL"),
        (
            Endpoint(URL, "eu-west-1", Credentials("AKIAIOSFODNN7EXAMPLE", "s")),
            "access key AKIA… is not the fake",
        ),
        (Endpoint(URL, "eu-west-1", Credentials("test", "test", "token")), "is not the fake"),
    ],
)
def test_trips_on_the_backend_endpoint(tmp_path: Path, endpoint: Endpoint, expected: str) -> None:
    ws = workspace(tmp_path, {"providers.tf": DEFAULT_PROVIDER})
    assert expected in refusal(ws, ExternalBackend(url="http://127.0.0.1:1", region="eu-west-1"), endpoint=endpoint)


# ---------------------------------------------------------------------------- the variables


def test_trips_on_a_real_url_in_extra_environment(tmp_path: Path) -> None:
    variables = StackSettings(
        "s3p-t-000000",
        extra_environment={"AWS_ENDPOINT_URL_DYNAMODB": "https://dynamodb.eu-west-1.amazonaws.com"},
    ).to_variables("ap-northeast-1", Path("x"))
    ws = workspace(tmp_path, {"providers.tf": DEFAULT_PROVIDER}, variables=variables)
    message = refusal(ws, embedded(tmp_path))
    assert "extra_environment.AWS_ENDPOINT_URL_DYNAMODB" in message
    assert "the function would call it" in message


def test_loopback_urls_in_extra_environment_pass(tmp_path: Path) -> None:
    variables = StackSettings(
        "s3p-t-000000",
        extra_environment={"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:50123", "MODE": "chaos"},
    ).to_variables("ap-northeast-1", Path("x"))
    ws = workspace(tmp_path, {"providers.tf": DEFAULT_PROVIDER}, variables=variables)
    check_deployment(ENDPOINT, clean_env(), ws, embedded(tmp_path))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"providers.tf": 'provider "aws" {\n  profile = "prod"\n}\n'}, override_aliases=[])
    (ws.workdir / OVERRIDE_FILE).unlink()
    message = refusal(ws, embedded(tmp_path), clean_env() | {"AWS_PROFILE": "prod"})
    assert "(+2 more)" in message
    assert message.count("    | ") == 3


# ---------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.9.8.7", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("localhost.localstack.cloud", False),
        ("s3.amazonaws.com", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_hosts(host: str | None, expected: bool) -> None:
    assert is_loopback_host(host) is expected


def test_reader_finds_blocks_attributes_and_lines() -> None:
    text = 'provider "aws" {\n  alias = "x"\n  assume_role {\n    role_arn = "arn"\n  }\n}\n'
    (block,) = parse_blocks(tokenize(text))
    assert (block.kind, block.labels, block.line) == ("provider", ["aws"], 1)
    assert block.attribute_string("alias") == "x"
    assert [(b.kind, b.line, b.attribute_string("role_arn")) for b in block.blocks] == [("assume_role", 3, "arn")]
