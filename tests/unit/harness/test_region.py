"""The stack's region: the module's own literal region stands unless a region is configured; the header says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3pipe.backends.base import Credentials, Endpoint
from s3pipe.config import HarnessConfig, Option
from s3pipe.deploy import StackRecord
from s3pipe.progress import Progress
from s3pipe.region import choose_region
from s3pipe.session import StackSession
from s3pipe.terraform.hcl import parse_blocks, tokenize
from s3pipe.terraform.workspace import literal_provider_regions, render_override

INFRA = Path(__file__).resolve().parents[3] / "infra"
EU = 'provider "aws" {\n  region = "eu-west-1"\n}\n'


def module(tmp_path: Path, providers: str) -> Path:
    directory = tmp_path / "module"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "providers.tf").write_text(providers)
    (directory / "main.tf").write_text('resource "aws_sqs_queue" "q" {}\n')
    return directory


def configured(tmp_path: Path, module_dir: Path, **flags: str) -> HarnessConfig:
    def lookup(option: Option) -> str | None:
        return flags.get(option.name)

    return HarnessConfig.resolve(tmp_path, lookup, environ={}).with_overrides(infra_dir=module_dir)


def test_the_modules_literal_region_stands(tmp_path: Path) -> None:
    directory = module(tmp_path, EU)
    choice = choose_region(configured(tmp_path, directory), directory)
    assert choice.region == "eu-west-1"
    assert str(choice) == 'eu-west-1 (the module\'s own provider "aws" block, providers.tf:2)'


def test_a_configured_region_replaces_it_and_says_so(tmp_path: Path) -> None:
    directory = module(tmp_path, EU)
    choice = choose_region(configured(tmp_path, directory, region="us-east-2"), directory)
    assert (choice.region, choice.reason) == ("us-east-2", "from --s3pipe-region")


def test_the_environment_counts_as_configured(tmp_path: Path) -> None:
    directory = module(tmp_path, EU)
    config = HarnessConfig.resolve(tmp_path, environ={"S3PIPE_REGION": "sa-east-1"})
    assert str(choose_region(config, directory)) == "sa-east-1 (from S3PIPE_REGION)"


@pytest.mark.parametrize(
    "providers",
    [
        'provider "aws" {\n  region = var.region\n}\n',  # an expression: not the module's literal choice
        'provider "aws" {}\n',
        'provider "aws" {\n  alias  = "replica"\n  region = "us-west-2"\n}\n',  # an alias's region is its own
        "",
    ],
)
def test_a_module_without_a_literal_default_region_gets_the_default(tmp_path: Path, providers: str) -> None:
    directory = module(tmp_path, providers)
    choice = choose_region(configured(tmp_path, directory), directory)
    assert choice.region == "ap-northeast-1"
    assert choice.reason.startswith("the default")


def test_the_shipped_pipeline_takes_the_configured_or_default_region() -> None:
    assert literal_provider_regions(INFRA) == {}


def test_an_aliased_provider_keeps_its_own_literal_region_in_the_override(tmp_path: Path) -> None:
    directory = module(tmp_path, EU + 'provider "aws" {\n  alias  = "replica"\n  region = "us-west-2"\n}\n')
    regions = literal_provider_regions(directory)
    assert regions == {None: ("eu-west-1", "providers.tf:2"), "replica": ("us-west-2", "providers.tf:6")}
    endpoint = Endpoint("http://127.0.0.1:4566", "eu-west-1", Credentials.fake())
    blocks = parse_blocks(tokenize(render_override(endpoint, tmp_path / "s", ["replica"], own_regions=["replica"])))
    providers = {b.attribute_string("alias"): b for b in blocks if b.kind == "provider"}
    assert providers[None].attribute_string("region") == "eu-west-1"
    assert "region" not in providers["replica"].attributes  # the module's own us-west-2 stands


def test_the_session_runs_in_the_chosen_region_and_says_why(tmp_path: Path) -> None:
    directory = module(tmp_path, EU)
    lines: list[str] = []
    session = StackSession(configured(tmp_path, directory), Progress(write=lines.append), "s")
    assert session.config.region == "eu-west-1"
    assert session.deployer.config.region == "eu-west-1"  # the backend, Terraform and the clients all use it
    assert "the module's own provider" in str(session.region)


def test_a_warm_stack_in_another_region_is_not_reused(tmp_path: Path) -> None:
    directory = module(tmp_path, EU)
    session = StackSession(configured(tmp_path, directory, region="us-east-2"), Progress(), "s")
    record = StackRecord(
        name="s",
        backend="embedded",
        endpoint_url="http://127.0.0.1:4566",
        region="eu-west-1",
        infra_hash="",
        lambda_sha256="",
        settings_hash="",
        outputs={},
    )
    session.probes = session.probes.__class__(lambda _pid: True, lambda _url: _healthy(), lambda _url: _healthy())
    decision = session.evaluate_reuse(record, session._settings(record))
    assert not decision.reusable
    assert decision.reason == "it runs in eu-west-1, this session's region is us-east-2 (from --s3pipe-region)"


def _healthy() -> object:
    from s3pipe.backends.base import Health

    return Health(True, "ok")


def test_for_module_marks_the_region_given_only_when_chosen(tmp_path: Path) -> None:
    """On AWS an unconfigured region is the profile's (backends/aws.py): the module's own literal one comes first."""
    from s3pipe.region import for_module

    config = HarnessConfig.resolve(tmp_path, environ={})
    eu, _ = for_module(config, module(tmp_path / "eu", EU))
    assert (eu.region, "region" in eu.given) == ("eu-west-1", True)
    default, _ = for_module(config, module(tmp_path / "none", 'provider "aws" {}\n'))
    assert (default.region, "region" in default.given) == ("ap-northeast-1", False)


def test_on_aws_an_unchosen_region_is_the_profiles_and_the_header_says_so(tmp_path: Path) -> None:
    from s3pipe.region import for_module

    directory = module(tmp_path, 'provider "aws" {}\n')
    config = HarnessConfig.resolve(tmp_path, environ={"S3PIPE_BACKEND": "aws"})
    choice = choose_region(config, directory)
    assert str(choice).startswith("the AWS profile's region")
    assert "ap-northeast-1" not in str(choice)
    resolved, _ = for_module(config, directory)
    assert "region" not in resolved.given  # the aws backend then asks the profile
    literal = choose_region(config, module(tmp_path / "eu", EU))
    assert (literal.region, literal.chosen) == ("eu-west-1", True)
