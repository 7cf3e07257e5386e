"""The key's inputs as this machine and configuration give them (module, handler, settings, versions)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from s3pipe.backends.embedded import emulator_environment
from s3pipe.config import HarnessConfig
from s3pipe.deploy import StackSettings
from s3pipe.lambda_zip import source_files, zip_bytes
from s3pipe.snapshots.key import NO_HANDLER, KeyParts, provider_fingerprint, session_independent
from s3pipe.terraform.cli import terraform_version
from s3pipe.terraform.providers import ProviderInstallation
from s3pipe.terraform.workspace import content_hash, module_files

_IMPLIED_MIRROR = "implied local mirror "
_CLI_CONFIG = "CLI config "


def provider_part(config: HarnessConfig) -> str:
    """How the aws provider is installed and which versions that source holds (no machine paths)."""
    if config.tf_plugin_dir is not None:
        return provider_fingerprint("plugin dir", config.tf_plugin_dir)
    source = ProviderInstallation.resolve(None, config.cache_dir, probe=False).source
    if source.startswith(_IMPLIED_MIRROR):
        return provider_fingerprint("local mirror", Path(source.removeprefix(_IMPLIED_MIRROR)))
    if source.startswith(_CLI_CONFIG):
        cli_config = Path(source.removeprefix(_CLI_CONFIG)).expanduser()
        return f"CLI config {hashlib.sha256(cli_config.read_bytes()).hexdigest()[:16]}"
    return "registry"


#: Emulator variables that depend on the session (ports, proxies), not on what the emulator does.
_SESSION_EMULATOR_VARIABLES = ("GATEWAY_PORT", "NO_PROXY", "no_proxy", "AWS_ENDPOINT_URL")


def emulator_part(config: HarnessConfig) -> str:
    """Backend, MiniStack spec, and a digest of the emulator's fixed settings (e.g. ``AUTH=true``)."""
    settings = {
        name: value
        for name, value in emulator_environment(0, config.region, base={}).items()
        if name not in _SESSION_EMULATOR_VARIABLES
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return f"{config.backend} {config.ministack_spec} settings {digest}"


def key_parts(config: HarnessConfig, variables: Mapping[str, Any], lambda_sha256: str) -> KeyParts:
    """The key of a stack applied from ``config``'s module with these variables and this handler zip."""
    return _key_parts(config, config.path(config.infra_dir), lambda_sha256, session_independent(variables))


def module_key_parts(config: HarnessConfig, module_dir: Path, variables: Mapping[str, Any]) -> KeyParts:
    """The key of any module applied with these variables (``s3pipe_module_factory``); the stack's name is no part."""
    return _key_parts(config, module_dir, NO_HANDLER, variables)


def _key_parts(config: HarnessConfig, module_dir: Path, lambda_sha256: str, variables: Mapping[str, Any]) -> KeyParts:
    return KeyParts(
        infra_hash=content_hash(module_files(module_dir), module_dir),
        lambda_sha256=lambda_sha256,
        variables=dict(variables),
        emulator=emulator_part(config),
        terraform=terraform_version(config.terraform_binary),
        provider=provider_part(config),
    )


def default_key_parts(config: HarnessConfig) -> KeyParts:
    """The key of the default stack (pytest's session stack, ``s3pipe demo``/``up``): what CI caches by."""
    variables = StackSettings(name_prefix="-").to_variables(config.region, Path("lambda.zip"))
    data = zip_bytes(source_files(config.path(config.lambda_dir)))
    return key_parts(config, variables, hashlib.sha256(data).hexdigest())


def installed_ministack_version(python: Path) -> str | None:
    """The MiniStack version installed beside ``python`` (from its dist-info), None when not found."""
    venv = python.parent.parent
    for dist_info in sorted(venv.glob("lib/python*/site-packages/ministack-*.dist-info")):
        return dist_info.name.removeprefix("ministack-").removesuffix(".dist-info")
    return None
