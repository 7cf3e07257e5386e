"""A stack's scratch working copy of ``infra/``: synced files, generated override, variables, state.

The user's ``infra/`` is never written to. Each stack lives in ``<state_dir>/stacks/<name>/``:

- ``work/``: a copy of the module's ``*.tf`` files (and local modules), plus the generated
  ``zz_s3pipe_override.tf`` (provider endpoints/credentials, local state) and
  ``s3pipe.auto.tfvars.json`` (test-friendly variables). ``terraform plan`` run by hand in
  ``work/`` therefore does exactly what the harness did.
- ``terraform.tfstate``: the stack's state (a local backend forced by the override, so a
  production remote backend in ``infra/`` is never touched).
- ``artifacts/``: the Lambda zip.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3pipe.backends.base import Endpoint
from s3pipe.terraform.hcl import Block, parse_blocks, tokenize

OVERRIDE_FILE = "zz_s3pipe_override.tf"
TFVARS_FILE = "s3pipe.auto.tfvars.json"
#: Where ``terraform init`` records every module the configuration calls (Key, Source, Dir), relative to ``work/``.
MODULES_MANIFEST = Path(".terraform") / "modules" / "modules.json"

#: Explicit endpoints for the services a pipeline stack typically uses; every other service is
#: covered by ``AWS_ENDPOINT_URL`` in Terraform's environment, which the aws provider (v5) honours.
ENDPOINT_SERVICES: tuple[str, ...] = (
    "cloudwatch",
    "dynamodb",
    "ec2",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "s3",
    "s3control",
    "secretsmanager",
    "sns",
    "sqs",
    "ssm",
    "sts",
)

_MODULE_SUFFIXES = (".tf", ".tf.json", ".tftpl", ".tpl", ".json")
_EXCLUDED_DIRS = {".terraform", ".git", "__pycache__"}


def module_files(infra_dir: Path) -> list[Path]:
    """The files that make up the module: ``*.tf``/``*.tf.json`` and local module dirs, no state, no tfvars."""
    files: list[Path] = []
    for path in sorted(infra_dir.rglob("*")):
        relative = path.relative_to(infra_dir)
        # hidden directories too: a module dir that is also a test project keeps .s3pipe/, .pytest_cache/ there
        if any(part in _EXCLUDED_DIRS or part.startswith(".") for part in relative.parts[:-1]):
            continue
        name = path.name
        if not path.is_file() or not name.endswith(_MODULE_SUFFIXES):
            continue
        if name.endswith(("_override.tf", "_override.tf.json", ".tfvars.json")):
            continue
        files.append(path)
    return files


def content_hash(paths: Iterable[Path], root: Path) -> str:
    """A stable hash of file names and contents (for change detection)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def root_blocks(module_dir: Path) -> Iterator[tuple[Path, str, Block]]:
    """Every block of the root module's own ``.tf`` files (not its subfolders), with its file and the file's text.

    The HCL reader, so commented-out blocks are not mistaken for real ones. Subfolders are not read: a provider
    block in a called module is refused by the guard, and one in a folder nothing calls (a vendored module's
    ``examples/``) is not Terraform's.
    """
    for path in module_files(module_dir):
        if path.name.endswith(".tf") and path.parent == module_dir:
            text = path.read_text(encoding="utf-8", errors="replace")
            for block in parse_blocks(tokenize(text)):
                yield path, text, block


def _aws_providers(module_dir: Path) -> Iterator[tuple[Path, str, Block]]:
    return ((p, t, b) for p, t, b in root_blocks(module_dir) if b.kind == "provider" and b.labels[:1] == ["aws"])


def aws_provider_aliases(infra_dir: Path) -> list[str]:
    """Aliases of every ``provider "aws"`` block of the root module (each needs the same override)."""
    return sorted({alias for _p, _t, block in _aws_providers(infra_dir) if (alias := block.attribute_string("alias"))})


def literal_provider_regions(infra_dir: Path) -> dict[str | None, tuple[str, str]]:
    """Root-module ``provider "aws"`` blocks with a literal ``region``: alias (None: default) -> (region, file:line)."""
    regions: dict[str | None, tuple[str, str]] = {}
    for path, _text, block in _aws_providers(infra_dir):
        if region := block.attribute_string("region"):
            regions.setdefault(
                block.attribute_string("alias"), (region, f"{path.name}:{block.attributes['region'].line}")
            )
    return regions


def declared_blocks(infra_dir: Path, kind: str) -> set[str]:
    """First labels of the root module's ``kind "name"`` blocks (``variable``, ``output``) in its ``.tf`` files."""
    return {block.labels[0] for _p, _t, block in root_blocks(infra_dir) if block.kind == kind and block.labels}


def declared_variables(infra_dir: Path) -> set[str]:
    return declared_blocks(infra_dir, "variable")


def declared_outputs(infra_dir: Path) -> set[str] | None:
    """The root module's output names, or None when it also has ``.tf.json`` files (not read here)."""
    if any(path.name.endswith(".tf.json") and path.parent == infra_dir for path in module_files(infra_dir)):
        return None
    return declared_blocks(infra_dir, "output")


def _hcl_string(value: str) -> str:
    return json.dumps(value)  # JSON string escaping is valid HCL for plain strings


@dataclass(frozen=True)
class ProviderPins:
    """Real AWS only: the one account every aws provider may use, and the tags it puts on every resource.

    ``module_tags``: per alias (None: the default provider) the module's own ``default_tags`` ``tags``
    expression as written; an override's nested block replaces the original's (Terraform's override
    rules), so the generated one merges the module's tags with the run's instead of dropping them.
    """

    allowed_account_ids: tuple[str, ...]
    default_tags: Mapping[str, str]
    module_tags: Mapping[str | None, str] = field(default_factory=dict)

    def lines(self, alias: str | None) -> list[str]:
        accounts = ", ".join(_hcl_string(account) for account in self.allowed_account_ids)
        tags = "{ " + ", ".join(f"{_hcl_string(k)} = {_hcl_string(v)}" for k, v in self.default_tags.items()) + " }"
        own = self.module_tags.get(alias)
        return [
            f"  allowed_account_ids = [{accounts}]",
            "  default_tags {",
            f"    tags = merge({own}, {tags})" if own else f"    tags = {tags}",
            "  }",
        ]


def provider_default_tags(module_dir: Path) -> dict[str | None, str]:
    """The ``tags`` expression of each root ``provider "aws"`` block's ``default_tags``, by alias, as written."""
    found: dict[str | None, str] = {}
    for _path, text, block in _aws_providers(module_dir):
        for nested in block.blocks:
            tags = nested.attributes.get("tags") if nested.kind == "default_tags" else None
            if tags is not None and tags.span is not None:
                found[block.attribute_string("alias")] = text[tags.span[0] : tags.span[1]]
    return found


def render_override(
    endpoint: Endpoint,
    state_path: Path,
    aliases: Iterable[str] = (),
    pins: ProviderPins | None = None,
    own_regions: Iterable[str] = (),
) -> str:
    """The generated override: local state, the stack's region, and (for emulators) endpoints + fake credentials
    per aws provider; on real AWS with ``pins``: the allowed account and the run's default tags per aws provider.
    Aliases in ``own_regions`` set a literal region of their own, which stands."""
    keep = set(own_regions)
    lines = [
        "# Generated by s3pipe for this stack. Do not edit; regenerated on every deploy.",
        "terraform {",
        '  backend "local" {',
        f"    path = {_hcl_string(str(state_path))}",
        "  }",
        "}",
    ]
    for alias in [None, *aliases]:
        lines += ["", 'provider "aws" {']
        if alias:
            lines.append(f"  alias  = {_hcl_string(alias)}")
        if alias is None or alias not in keep:
            lines.append(f"  region = {_hcl_string(endpoint.region)}")
        if endpoint.url is not None:
            lines += [
                f"  access_key                  = {_hcl_string(endpoint.credentials.access_key_id)}",
                f"  secret_key                  = {_hcl_string(endpoint.credentials.secret_access_key)}",
                "  skip_credentials_validation = true",
                "  skip_metadata_api_check     = true",
                "  skip_requesting_account_id  = true",
                "  s3_use_path_style           = true",
                "  endpoints {",
                *[f"    {service:<14} = {_hcl_string(endpoint.url)}" for service in ENDPOINT_SERVICES],
                "  }",
            ]
        if pins is not None:
            lines += pins.lines(alias)
        lines.append("}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class StackWorkspace:
    """Paths of one stack's working copy."""

    root: Path

    @property
    def workdir(self) -> Path:
        return self.root / "work"

    @property
    def state_path(self) -> Path:
        return self.root / "terraform.tfstate"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def record_path(self) -> Path:
        return self.root / "stack.json"

    def sync(self, infra_dir: Path) -> str:
        """Mirror the module into ``work/`` (removing files deleted upstream); return the module's hash."""
        files = module_files(infra_dir)
        if not files:
            raise FileNotFoundError(f"no Terraform files (*.tf) found in {infra_dir}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        wanted = {path.relative_to(infra_dir) for path in files}
        for existing in sorted(self.workdir.rglob("*"), reverse=True):
            relative = existing.relative_to(self.workdir)
            if relative.parts[0].startswith(".terraform") or relative.name in {OVERRIDE_FILE, TFVARS_FILE}:
                continue
            if existing.is_file() and relative not in wanted:
                existing.unlink()
            elif existing.is_dir() and not any(existing.iterdir()):
                existing.rmdir()
        for path in files:
            target = self.workdir / path.relative_to(infra_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            if not target.exists() or target.read_bytes() != data:
                target.write_bytes(data)
        return content_hash(files, infra_dir)

    def write_override(
        self,
        endpoint: Endpoint,
        aliases: Iterable[str],
        pins: ProviderPins | None = None,
        own_regions: Iterable[str] = (),
    ) -> Path:
        path = self.workdir / OVERRIDE_FILE
        path.write_text(render_override(endpoint, self.state_path, aliases, pins, own_regions))
        return path

    def write_variables(self, variables: Mapping[str, Any]) -> Path:
        path = self.workdir / TFVARS_FILE
        path.write_text(json.dumps(dict(variables), indent=2, sort_keys=True) + "\n")
        return path

    def forget_state(self) -> None:
        """Drop the state of resources that died with their emulator; keep ``work/`` (its init stays valid).

        Applying stale state against a new emulator makes the provider refresh, and wait for, resources
        that do not exist there: tens of seconds lost on every cold session.
        """
        for path in (self.state_path, self.state_path.with_name(self.state_path.name + ".backup")):
            path.unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
