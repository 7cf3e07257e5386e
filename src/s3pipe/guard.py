"""The endpoint guard: an emulator run never reaches real AWS, and never with real credentials.

The Deployer calls :func:`check_deployment` after it has written the working copy and before
``terraform init``/``apply``. For emulator backends it verifies, instead of trusting what the
harness generated:

1. the Endpoint: its URL is loopback (127.0.0.0/8, ::1, localhost) or an address of the
   backend's own container, and its credentials are the fake ones;
2. Terraform's environment: every ``AWS_ENDPOINT_URL*`` is such a URL, and nothing could swap in
   real credentials (AWS_PROFILE, session tokens, AKIA/ASIA keys, web identity, container roles);
3. the working copy, as Terraform loads it: every ``provider "aws"`` block of the root module,
   aliases included, has a generated override block with endpoints and fake credentials, and sets
   nothing the override would not neutralise (an override replaces nested ``endpoints`` blocks but
   merges top-level arguments, so ``profile``, ``assume_role``, ``shared_*_files``, ``token`` or a
   proxy would survive it); a provider block inside any module the configuration calls is refused
   (the override covers the root module only). Which modules are called is what Terraform itself
   recorded at ``terraform init`` (``.terraform/modules/modules.json``: local, registry and git
   modules alike), so the Deployer runs the guard before init and again after it. Folders no module
   call reaches (the ``examples/`` a vendored community module carries) are not loaded and not read;
4. the variables file: every value that looks like a URL is such a URL.

All problems are reported at once, each with the file and line where it was found.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3pipe.backends.base import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, Backend, Endpoint
from s3pipe.errors import GuardError
from s3pipe.terraform.hcl import Block, parse_blocks, tokenize
from s3pipe.terraform.workspace import MODULES_MANIFEST, OVERRIDE_FILE, TFVARS_FILE, StackWorkspace

#: Environment variables that select real credentials or an identity, whatever else is configured.
FORBIDDEN_VARIABLES: tuple[str, ...] = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)
#: Files the SDK reads profiles from; allowed only when pointed at the null device.
PROFILE_FILE_VARIABLES: tuple[str, ...] = ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
#: Prefixes of real access key ids (long-term, temporary, and service-specific keys).
REAL_KEY_PREFIXES: tuple[str, ...] = ("AKIA", "ASIA", "ABIA", "ACCA")
#: Provider settings an override cannot neutralise: it merges top-level arguments, it does not unset them.
UNNEUTRALISED_SETTINGS: Mapping[str, str] = {
    "profile": "selects a named profile's credentials and settings",
    "assume_role": "makes the provider call STS AssumeRole before anything else",
    "assume_role_with_web_identity": "makes the provider call STS AssumeRoleWithWebIdentity",
    "shared_credentials_files": "reads credentials from files outside the run",
    "shared_config_files": "reads profiles (and their endpoints) from files outside the run",
    "shared_credentials_file": "reads credentials from a file outside the run",
    "token": "adds a session token to the credentials",
}
#: Top-level provider arguments that hold an address; a non-literal value cannot be verified.
ADDRESS_SETTINGS: frozenset[str] = frozenset({"http_proxy", "https_proxy", "ec2_metadata_service_endpoint"})

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class EndpointGuardError(GuardError):
    """The guard found something that could send an emulator run to real AWS."""

    @classmethod
    def from_findings(cls, findings: list[Finding], backend: str) -> EndpointGuardError:
        first = findings[0]
        more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
        fixes = list(dict.fromkeys(f.fix for f in findings))
        checks = ", ".join(dict.fromkeys(f.check for f in findings))
        return cls(
            f"Refusing to deploy to the {backend!r} emulator: {first.problem}{more}",
            tried=f"check that every endpoint is loopback and every credential fake ({checks})",
            seen=[f"{f.where}: {f.problem}" for f in findings],
            fix=" | ".join(fixes),
        )


@dataclass(frozen=True)
class Finding:
    check: str
    where: str
    problem: str
    fix: str


# ---------------------------------------------------------------------------- addresses


def host_of(url: str) -> str | None:
    try:
        return urllib.parse.urlsplit(url.strip()).hostname
    except ValueError:
        return None


def is_loopback_host(host: str | None, own_hosts: Iterable[str] = ()) -> bool:
    """127.0.0.0/8, ::1, ``localhost``, or one of the backend's own container names."""
    if not host:
        return False
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name in {h.lower() for h in own_hosts}:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def looks_like_url(value: str) -> bool:
    return bool(_URL.match(value.strip()))


# ---------------------------------------------------------------------------- provider blocks


@dataclass(frozen=True)
class ProviderBlock:
    path: Path
    block: Block

    @property
    def alias(self) -> str | None:
        return self.block.attribute_string("alias")

    @property
    def where(self) -> str:
        return f"{self.path}:{self.block.line}"

    @property
    def label(self) -> str:
        return f'provider "aws" (alias {self.alias!r})' if self.alias else 'provider "aws" (default)'


def _aws_provider_blocks(path: Path) -> Iterator[ProviderBlock]:
    for block in parse_blocks(tokenize(path.read_text(encoding="utf-8", errors="replace"))):
        if block.kind == "provider" and block.labels[:1] == ["aws"]:
            yield ProviderBlock(path, block)


def _json_provider_blocks(path: Path) -> Iterator[tuple[str | None, dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    providers = data.get("provider") if isinstance(data, dict) else None
    entries = providers if isinstance(providers, list) else [providers] if isinstance(providers, dict) else []
    for entry in entries:
        aws = entry.get("aws") if isinstance(entry, dict) else None
        for config in aws if isinstance(aws, list) else [aws] if isinstance(aws, dict) else []:
            alias = config.get("alias")
            yield (alias if isinstance(alias, str) else None), config


@dataclass(frozen=True)
class CalledModule:
    """A module call as Terraform recorded it: ``module.<key>``, its source and its directory."""

    key: str
    source: str
    directory: Path

    @property
    def label(self) -> str:
        return f"module.{self.key} ({self.source})" if self.source else f"module.{self.key}"


def called_modules(workdir: Path) -> list[CalledModule]:
    """The modules Terraform loads besides the root, from its manifest; empty before the first init.

    Raises ``ValueError`` when the manifest exists but cannot be read.
    """
    manifest = workdir / MODULES_MANIFEST
    if not manifest.is_file():
        return []
    data = json.loads(manifest.read_text(encoding="utf-8"))
    entries = data.get("Modules") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError("no Modules list")  # noqa: TRY004 - a malformed file, reported as unreadable
    called = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("Key") or not isinstance(entry.get("Dir"), str):
            continue  # the root module (Key "") is read as the root
        called.append(CalledModule(str(entry["Key"]), str(entry.get("Source") or ""), workdir / entry["Dir"]))
    return called


def _own_files(directory: Path, suffix: str) -> list[Path]:
    """One module's own files: a module is one directory (its subfolders are other modules, or nothing)."""
    return sorted(directory.glob(f"*{suffix}")) if directory.is_dir() else []


# ---------------------------------------------------------------------------- the checks


@dataclass
class _Checker:
    endpoint: Endpoint
    environment: Mapping[str, str]
    workspace: StackWorkspace
    own_hosts: frozenset[str]
    findings: list[Finding] = field(default_factory=list)

    def add(self, check: str, where: str, problem: str, fix: str) -> None:
        self.findings.append(Finding(check, where, problem, fix))

    def local(self, url: str) -> bool:
        return is_loopback_host(host_of(url), self.own_hosts)

    def check_endpoint(self) -> None:
        url = self.endpoint.url
        if url is None:
            self.add(
                "endpoint",
                "backend endpoint",
                "the emulator backend returned no endpoint URL (that would mean real AWS)",
                "this is a harness bug: an emulator backend must return its loopback URL",
            )
        elif not self.local(url):
            self.add(
                "endpoint",
                "backend endpoint",
                f"{url} is not a loopback address",
                "run the emulator on 127.0.0.1 (for --s3pipe-backend external pass http://127.0.0.1:PORT)",
            )
        if not self.endpoint.credentials.is_fake or self.endpoint.credentials.session_token:
            self.add(
                "endpoint",
                "backend credentials",
                f"access key {_mask(self.endpoint.credentials.access_key_id)} is not the fake {FAKE_ACCESS_KEY!r}",
                "emulator backends must use the fake test/test credentials",
            )

    def check_environment(self) -> None:
        env = self.environment
        for name in sorted(env):
            value = env[name]
            if name.startswith("AWS_ENDPOINT_URL") and not self.local(value):
                self.add(
                    "environment",
                    f"Terraform environment {name}",
                    f"{value!r} is not a loopback URL",
                    f"unset {name} (the harness sets AWS_ENDPOINT_URL to the emulator itself)",
                )
        for name in FORBIDDEN_VARIABLES:
            if env.get(name):
                self.add(
                    "environment",
                    f"Terraform environment {name}",
                    f"{name} is set: it selects real credentials or a real identity",
                    f"unset {name} for emulator runs",
                )
        for name in PROFILE_FILE_VARIABLES:
            if (path := env.get(name)) and path != os.devnull:
                self.add(
                    "environment",
                    f"Terraform environment {name}",
                    f"{name}={path} would let a profile in that file supply credentials",
                    f"unset {name} (or point it at {os.devnull}) for emulator runs",
                )
        key = env.get("AWS_ACCESS_KEY_ID", "")
        if key.startswith(REAL_KEY_PREFIXES) or (key and key != FAKE_ACCESS_KEY):
            self.add(
                "environment",
                "Terraform environment AWS_ACCESS_KEY_ID",
                f"{_mask(key)} looks like a real access key",
                f"emulator runs use AWS_ACCESS_KEY_ID={FAKE_ACCESS_KEY}; do not export real keys into them",
            )
        secret = env.get("AWS_SECRET_ACCESS_KEY")
        if secret is not None and secret != FAKE_SECRET_KEY:
            self.add(
                "environment",
                "Terraform environment AWS_SECRET_ACCESS_KEY",
                "the secret key is not the fake one (value not shown)",
                f"emulator runs use AWS_SECRET_ACCESS_KEY={FAKE_SECRET_KEY}",
            )

    def check_working_copy(self) -> None:
        workdir = self.workspace.workdir
        override_path = workdir / OVERRIDE_FILE
        overrides: dict[str | None, ProviderBlock] = {}
        if override_path.is_file():
            for provider in _aws_provider_blocks(override_path):
                overrides[provider.alias] = provider
                self._check_override(provider)
        for path in _own_files(workdir, ".tf"):
            if path == override_path:
                continue
            for provider in _aws_provider_blocks(path):
                if self._overridable(provider):
                    self._check_original(provider, overrides)
        for path in _own_files(workdir, ".tf.json"):
            for alias, config in _json_provider_blocks(path):
                self._check_json_provider(path, alias, config, overrides)
        self.check_called_modules()

    def check_called_modules(self) -> None:
        """A provider block inside a module the configuration calls escapes the root's override: refused."""
        workdir = self.workspace.workdir
        try:
            modules = called_modules(workdir)
        except (OSError, ValueError) as error:
            self.add(
                "working copy",
                str(workdir / MODULES_MANIFEST),
                f"Terraform's module manifest cannot be read ({error}), so the modules it loads cannot be checked",
                f"delete {workdir / '.terraform'} and run again (terraform init rewrites it)",
            )
            return
        for module in modules:
            blocks = [p for path in _own_files(module.directory, ".tf") for p in _aws_provider_blocks(path)]
            blocks += [
                ProviderBlock(path, Block("provider", ["aws"], 1))
                for path in _own_files(module.directory, ".tf.json")
                for _alias, _config in _json_provider_blocks(path)
            ]
            for provider in blocks:
                self.add(
                    "working copy",
                    provider.where,
                    f"{provider.label} is configured inside {module.label}, which this configuration calls",
                    "configure providers in the root module only and pass them to modules "
                    "(`providers = {...}`); the harness's override covers the root module",
                )

    def _overridable(self, provider: ProviderBlock) -> bool:
        """Can the generated override reach this root-module block at all (a literal alias)?"""
        if "alias" in provider.block.attributes and provider.alias is None:
            self.add(
                "working copy",
                provider.where,
                'provider "aws" has an alias that is not a plain string, so no override can match it',
                'declare the alias as a plain string literal `alias = "name"`',
            )
            return False
        return True

    def _check_json_provider(
        self,
        path: Path,
        alias: str | None,
        config: Mapping[str, Any],
        overrides: Mapping[str | None, ProviderBlock],
    ) -> None:
        label = f'provider "aws" (alias {alias!r})' if alias else 'provider "aws" (default)'
        if alias not in overrides:
            self.add(
                "working copy",
                str(path),
                f"{label} (JSON syntax) has no matching block in {OVERRIDE_FILE}",
                "write provider blocks in HCL (.tf) so the harness can override them",
            )
        for name in sorted(set(config) & set(UNNEUTRALISED_SETTINGS)):
            self._unneutralised(str(path), label, name)

    def _check_override(self, provider: ProviderBlock) -> None:
        block = provider.block
        endpoints = [b for b in block.blocks if b.kind == "endpoints"]
        if not endpoints:
            self.add(
                "working copy",
                provider.where,
                f"the generated {provider.label} sets no endpoints",
                "redeploy so the harness regenerates the override with the emulator's endpoints",
            )
        for nested in endpoints:
            for name, attribute in nested.attributes.items():
                if not attribute.literal or not all(self.local(s) for s in attribute.strings):
                    self.add(
                        "working copy",
                        f"{provider.path}:{attribute.line}",
                        f"override endpoint {name} = {attribute.strings or '(expression)'} is not a loopback URL",
                        "redeploy so the harness regenerates the override",
                    )
        if block.attribute_string("access_key") != FAKE_ACCESS_KEY or block.attribute_string("secret_key") != (
            FAKE_SECRET_KEY
        ):
            self.add(
                "working copy",
                provider.where,
                f"the generated {provider.label} does not set the fake access_key/secret_key",
                "redeploy so the harness regenerates the override",
            )

    def _check_original(self, provider: ProviderBlock, overrides: Mapping[str | None, ProviderBlock]) -> None:
        block = provider.block
        if provider.alias not in overrides:
            self.add(
                "working copy",
                provider.where,
                f"{provider.label} has no matching block in {OVERRIDE_FILE}: its calls would go to real AWS",
                "redeploy so the harness regenerates the override (one block per alias it finds); "
                'declare the alias as a plain string literal `alias = "name"` so it can be found',
            )
        for name in sorted(set(block.attributes) | {b.kind for b in block.blocks}):
            if name in UNNEUTRALISED_SETTINGS:
                line = block.attributes[name].line if name in block.attributes else _block_line(block, name)
                self._unneutralised(f"{provider.path}:{line}", provider.label, name)
        for name, attribute in block.attributes.items():
            for value in attribute.strings:
                if looks_like_url(value) and not self.local(value):
                    self.add(
                        "working copy",
                        f"{provider.path}:{attribute.line}",
                        f"{provider.label} sets {name} = {value!r}, which is not a loopback URL "
                        "(the override replaces nested endpoints, not top-level arguments)",
                        f"remove {name} from the provider block, or set it through a variable the harness controls",
                    )
            if name in ADDRESS_SETTINGS and not attribute.literal:
                self.add(
                    "working copy",
                    f"{provider.path}:{attribute.line}",
                    f"{provider.label} sets {name} from an expression the guard cannot verify",
                    f"remove {name} from the provider block for emulator runs",
                )

    def _unneutralised(self, where: str, label: str, name: str) -> None:
        self.add(
            "working copy",
            where,
            f"{label} sets {name}, which {UNNEUTRALISED_SETTINGS[name]}; "
            "the generated override does not unset it (overrides merge top-level arguments)",
            f"move `{name}` out of the shared provider block (e.g. into a production-only "
            "*_override.tf, which the harness never copies), or make it conditional on a variable "
            "that is null in tests",
        )

    def check_variables(self) -> None:
        path = self.workspace.workdir / TFVARS_FILE
        if not path.is_file():
            return
        try:
            variables = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            self.add("variables", str(path), f"unreadable: {error}", "redeploy so the harness rewrites it")
            return
        for key, value in _strings(variables):
            if looks_like_url(value) and not self.local(value):
                self.add(
                    "variables",
                    f"{path} {key}",
                    f"{value!r} is not a loopback URL: the function would call it",
                    "point it at 127.0.0.1 (a local fault proxy or recorder), or at the emulator itself",
                )


def _block_line(block: Block, kind: str) -> int:
    return next((b.line for b in block.blocks if b.kind == kind), block.line)


def _strings(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path or "(value)", value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _mask(key: str) -> str:
    return f"{key[:4]}…" if len(key) > 4 else repr(key)


def check_deployment(
    endpoint: Endpoint,
    terraform_env: Mapping[str, str],
    workspace: StackWorkspace,
    backend: Backend,
) -> None:
    """Refuse (raise :class:`~s3pipe.errors.GuardError`) unless an emulator run stays local and fake.

    Backends that are not emulators (``aws``) are not checked here: they refuse on their own
    unless the run opted in.
    """
    if not backend.is_emulator:
        return
    checker = _Checker(endpoint, terraform_env, workspace, backend.own_hosts)
    checker.check_endpoint()
    checker.check_environment()
    checker.check_working_copy()
    checker.check_variables()
    if checker.findings:
        raise EndpointGuardError.from_findings(checker.findings, backend.name)
