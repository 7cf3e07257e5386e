"""Which region a stack runs in, and why: the configured one when given, else the module's own literal one.

A module that says ``provider "aws" { region = "eu-west-1" }`` is deployed to eu-west-1 (its ARNs,
queue URLs and the harness's clients all say so); ``--s3pipe-region`` (flag, ini, environment)
replaces it only when it is given; a module without a literal region gets the default. Aliased
provider blocks with a literal region of their own keep it whatever is configured (a replica bucket's
region is the point of the alias).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from s3pipe.backends.registry import backend_class
from s3pipe.config import DEFAULT_REGION, HarnessConfig
from s3pipe.terraform.workspace import literal_provider_regions


@dataclass(frozen=True)
class RegionChoice:
    """The stack's region and the reason, as the session header says it."""

    region: str
    reason: str
    #: Configured, or the module's own: not a default (on AWS a default yields to the profile's region, and
    #: ``region`` is empty until the backend reads it).
    chosen: bool = True

    def __str__(self) -> str:
        return f"{self.region} ({self.reason})" if self.region else self.reason


def choose_region(config: HarnessConfig, module_dir: Path) -> RegionChoice:
    """The configured region when it was given, else the module's default provider's literal one, else the default."""
    source = config.sources.get("region", "default")
    if source != "default":
        return RegionChoice(config.region, f"from {source}")
    literal = literal_provider_regions(module_dir).get(None)
    if literal is not None:
        region, where = literal
        return RegionChoice(region, f'the module\'s own provider "aws" block, {where}')
    if not backend_class(config.backend).is_emulator:
        return RegionChoice(
            "",
            "the AWS profile's region (AWS_REGION, AWS_DEFAULT_REGION or the profile's config), printed with the "
            "account when the backend starts",
            chosen=False,
        )
    return RegionChoice(
        config.region if config.region else DEFAULT_REGION,
        'the default: the module\'s provider "aws" block names no literal region and --s3pipe-region is not set',
        chosen=False,
    )


def for_module(config: HarnessConfig, module_dir: Path) -> tuple[HarnessConfig, RegionChoice]:
    """``config`` with the region this module's stack runs in, and the choice."""
    choice = choose_region(config, module_dir)
    given = config.given | {"region"} if choice.chosen else config.given
    return config.with_overrides(region=choice.region or config.region, given=given), choice
