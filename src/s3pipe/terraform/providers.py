"""How Terraform gets the aws provider: a plugin dir, the user's CLI config, or the registry.

Only Terraform's own mechanisms are used:

1. an explicit plugin directory (``--s3pipe-tf-plugin-dir``) -> ``terraform init -plugin-dir=DIR``;
2. ``TF_CLI_CONFIG_FILE`` (e.g. with a ``filesystem_mirror``) or an implied local mirror directory
   -> Terraform reads them itself, nothing to add;
3. otherwise the public registry, with ``TF_PLUGIN_CACHE_DIR`` so each provider downloads once.

With none of 1-2 and the registry unreachable, we fail in seconds with a message that says how to
give a mirror, instead of letting ``init`` hang on retries.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from s3pipe.errors import ProviderInstallError

REGISTRY_PROBE_URL = "https://registry.terraform.io/.well-known/terraform.json"
AWS_PROVIDER_PATH = Path("registry.terraform.io/hashicorp/aws")


def implied_mirror_dirs(environ: Mapping[str, str]) -> list[Path]:
    """Terraform's implied local mirror directories on Unix (see 'Provider Installation' docs)."""
    home = Path(environ.get("HOME", str(Path.home())))
    dirs = [home / ".terraform.d" / "plugins"]
    data_home = environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    dirs.append(Path(data_home) / "terraform" / "plugins")
    for data_dir in (environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":"):
        if data_dir:
            dirs.append(Path(data_dir) / "terraform" / "plugins")
    return dirs


def has_aws_provider(directory: Path) -> bool:
    """True for the unpacked (``<version>/<os_arch>/terraform-provider-aws*``) or packed (``*.zip``) layout."""
    provider_dir = directory / AWS_PROVIDER_PATH
    return any(provider_dir.glob("*/*/terraform-provider-aws*")) or any(
        provider_dir.glob("terraform-provider-aws_*.zip")
    )


def registry_reachable(url: str = REGISTRY_PROBE_URL, timeout: float = 4.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URL
            return True, f"HTTP {response.status}"
    except (urllib.error.URLError, OSError) as error:
        return False, f"{type(error).__name__}: {getattr(error, 'reason', error)}"


@dataclass(frozen=True)
class ProviderInstallation:
    """Extra ``init`` arguments and environment that make provider installation work here."""

    init_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    source: str = "registry"
    #: Variables to remove from Terraform's environment.
    unset: tuple[str, ...] = ()

    @classmethod
    def resolve(
        cls,
        plugin_dir: Path | None,
        cache_dir: Path,
        environ: Mapping[str, str] | None = None,
        probe: bool = True,
    ) -> ProviderInstallation:
        env = os.environ if environ is None else environ
        cli_config = env.get("TF_CLI_CONFIG_FILE") or env.get("TERRAFORM_CONFIG")
        # A CLI config variable naming a missing file only makes Terraform print warnings: drop it.
        unset = (
            ("TF_CLI_CONFIG_FILE", "TERRAFORM_CONFIG")
            if cli_config and not Path(cli_config).expanduser().is_file()
            else ()
        )
        if plugin_dir is not None:
            if not has_aws_provider(plugin_dir):
                raise ProviderInstallError.plugin_dir_missing(str(plugin_dir))
            return cls(init_args=(f"-plugin-dir={plugin_dir}",), source=f"plugin dir {plugin_dir}", unset=unset)
        if cli_config and Path(cli_config).expanduser().is_file():
            return cls(source=f"CLI config {cli_config}")
        for directory in implied_mirror_dirs(env):
            if has_aws_provider(directory):
                return cls(source=f"implied local mirror {directory}", unset=unset)
        plugin_cache = env.get("TF_PLUGIN_CACHE_DIR") or str(cache_dir / "terraform-plugin-cache")
        Path(plugin_cache).mkdir(parents=True, exist_ok=True)
        if probe:
            reachable, detail = registry_reachable()
            if not reachable:
                raise ProviderInstallError.registry_unreachable("registry.terraform.io", detail, cli_config)
        return cls(
            env={"TF_PLUGIN_CACHE_DIR": plugin_cache}, source="registry.terraform.io (plugin cache)", unset=unset
        )
