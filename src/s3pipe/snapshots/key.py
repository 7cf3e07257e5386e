"""The snapshot key: a hash of everything that decides what a cold apply produces.

Parts: the module's files, the handler zip's sha256 (a module stack has none: :data:`NO_HANDLER`),
the stack variables (without the per-session name prefix, the zip's path and the function
gateway's port), the emulator (MiniStack spec), and the Terraform and aws provider versions. Two
sessions with equal keys would apply the same resources, so the second one may restore the first
one's snapshot instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Bumped when the layout of a stored snapshot changes: older snapshots then no longer match.
SNAPSHOT_FORMAT = 1
#: Variables that differ between sessions without changing what is deployed.
_SESSION_VARIABLES = ("name_prefix", "lambda_zip_path")
#: ``lambda_sha256`` of a module stack (``s3pipe_module_factory``): no handler zip, whatever the module deploys.
NO_HANDLER = "none (module stack)"
_AWS_PROVIDER = Path("registry.terraform.io/hashicorp/aws")
_PACKED_PROVIDER = re.compile(r"terraform-provider-aws_(?P<version>[^_]+)_")


@dataclass(frozen=True)
class KeyParts:
    """What the key hashes; stored in the manifest so ``s3pipe snapshot list`` can say why keys differ."""

    infra_hash: str
    lambda_sha256: str
    variables: Mapping[str, Any]
    emulator: str
    terraform: str
    provider: str
    format: int = SNAPSHOT_FORMAT

    @property
    def key(self) -> str:
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["variables"] = dict(self.variables)
        return data

    def differences(self, other: Mapping[str, Any]) -> list[str]:
        """Names of the parts that differ from another key's parts (as stored in a manifest)."""
        mine = self.to_json()
        return [name for name in mine if mine[name] != other.get(name)]


def session_independent(variables: Mapping[str, Any]) -> dict[str, Any]:
    """The variables without what changes from one session to the next (the name prefix, the zip's path).

    The function gateway's port is none of them: the emulator's environment names it, not a variable.
    """
    return {name: value for name, value in variables.items() if name not in _SESSION_VARIABLES}


def aws_provider_versions(directory: Path) -> list[str]:
    """The hashicorp/aws versions a plugin directory or mirror holds (unpacked or packed layout)."""
    provider_dir = directory / _AWS_PROVIDER
    if not provider_dir.is_dir():
        return []
    versions = {path.parent.parent.name for path in provider_dir.glob("*/*/terraform-provider-aws*")}
    versions |= {m["version"] for p in provider_dir.glob("*.zip") if (m := _PACKED_PROVIDER.match(p.name))}
    return sorted(versions)


def provider_fingerprint(source_kind: str, directory: Path | None) -> str:
    """``<how the provider is installed> <versions available there>``; no machine paths (CI caches share keys)."""
    if directory is None:
        return source_kind
    return f"{source_kind} {','.join(aws_provider_versions(directory)) or 'none'}"
