"""Harness configuration: one table of options, resolved CLI flag -> ini -> environment -> default.

The same table feeds the pytest plugin (``--s3pipe-*`` flags and ini keys) and the ``s3pipe`` CLI,
so an option means the same thing everywhere; both read the ini keys from the file pytest would use
(:mod:`s3pipe.ini`), and the resolved configuration remembers where each value came from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, assert_never

from s3pipe.aws.run import new_run_id
from s3pipe.backends.registry import BACKEND_CLASSES, BACKEND_NAMES
from s3pipe.errors import HarnessError
from s3pipe.ini import find_ini, section_for
from s3pipe.outputs import ROLE_FIELDS, parse_output_map

#: The backend names, from the registry's table (adding a backend never touches this file).
BACKENDS: tuple[str, ...] = BACKEND_NAMES

DEFAULT_REGION = "ap-northeast-1"
DEFAULT_MINISTACK_SPEC = "ministack==1.5.33"
#: The last LocalStack release that runs without an auth token (later tags exit with code 55 without one).
DEFAULT_LOCALSTACK_IMAGE = "localstack/localstack:4.14.0"
LOCALSTACK_PORT = 4566


@dataclass(frozen=True)
class Option:
    """One harness option and every way to set it."""

    name: str
    help: str
    kind: Literal["str", "bool", "int", "path", "map"] = "str"
    default: str | None = None

    @property
    def flag(self) -> str:
        return "--s3pipe-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "s3pipe_" + self.name

    @property
    def env(self) -> str:
        return "S3PIPE_" + self.name.upper()


OPTIONS: tuple[Option, ...] = (
    Option("backend", f"where the stack runs: {', '.join(BACKENDS)}", default="embedded"),
    Option("endpoint_url", "URL of an already running emulator (backend 'external')"),
    Option("region", "AWS region of the stack", default=DEFAULT_REGION),
    Option("keep", "leave the stack and emulator running after the session (for warm reuse)", kind="bool"),
    Option("reuse", "reuse a warm stack left by `s3pipe up` or --s3pipe-keep", kind="bool", default="1"),
    Option("tf_plugin_dir", "local mirror of Terraform providers (passed as `terraform init -plugin-dir`)", "path"),
    Option("port", "port of the embedded emulator (0 = a free port)", kind="int", default="0"),
    Option("infra_dir", "the Terraform root module to apply", kind="path", default="infra"),
    Option(
        "lambda_dir", "directory holding the Lambda package(s) to zip (your handler's)", kind="path", default="lambda"
    ),
    Option(
        "outputs",
        f"the module's output for each role, `role = output_name` per line (flag/env: comma separated); roles: "
        f"{', '.join(ROLE_FIELDS)}; default: infra/'s names",
        kind="map",
    ),
    Option("zip_variable", "the module's variable that receives the handler zip's path", default="lambda_zip_path"),
    Option("state_dir", "where stacks keep their working copy, state and logs", kind="path", default=".s3pipe"),
    Option("allow_aws", "opt in to deploying to a real AWS account (backend 'aws')", kind="bool"),
    Option(
        "aws_account_id",
        "backend 'aws': the 12-digit account the run must deploy to; STS must confirm it, and it pins the "
        "provider (allowed_account_ids)",
    ),
    Option(
        "aws_keep",
        "backend 'aws': let --s3pipe-keep / `s3pipe up --detach` leave a billable stack running",
        kind="bool",
    ),
    Option(
        "name_prefix_variable",
        "the module's variable that receives the stack's name prefix (on AWS: a fresh one per run, required)",
        default="name_prefix",
    ),
    Option("localstack_image", "LocalStack image for backend 'localstack'", default=DEFAULT_LOCALSTACK_IMAGE),
    Option("start_timeout", "seconds to wait for an emulator to become healthy", kind="int", default="60"),
    Option(
        "iam_audit",
        "check every AWS call the deployed function makes against its role's policy; a call outside it fails "
        "the run (backends with a function gateway: embedded)",
        kind="bool",
        default="1",
    ),
    Option(
        "snapshots",
        "restore a new stack from the snapshot of an earlier cold apply with the same inputs, and store one after a "
        "cold apply (embedded backend; cache dir snapshots/)",
        kind="bool",
        default="1",
    ),
)
OPTIONS_BY_NAME: Mapping[str, Option] = {option.name: option for option in OPTIONS}
#: An option's value from flags or ini: the value (taken as its flag's) or ``(value, where it came from)``.
Lookup = Callable[[Option], "str | tuple[str, str] | None"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_bool(raw: str, *, source: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{source}: expected one of 1/0/true/false/yes/no, got {raw!r}")


def default_cache_dir() -> Path:
    """Per-user cache for the emulator's venv, provider schema and plugin cache."""
    if explicit := os.environ.get("S3PIPE_CACHE_DIR"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "s3pipe"


@dataclass(frozen=True)
class HarnessConfig:
    """Everything the harness needs to know, resolved once per session."""

    root: Path
    backend: str = "embedded"
    endpoint_url: str | None = None
    region: str = DEFAULT_REGION
    keep: bool = False
    reuse: bool = True
    tf_plugin_dir: Path | None = None
    port: int = 0
    infra_dir: Path = Path("infra")
    lambda_dir: Path = Path("lambda")
    #: Role (or StackOutputs field) -> the module's output name; unmapped roles use infra/'s names.
    outputs: Mapping[str, str] = field(default_factory=dict)
    zip_variable: str = "lambda_zip_path"
    state_dir: Path = Path(".s3pipe")
    allow_aws: bool = False
    aws_account_id: str | None = None
    aws_keep: bool = False
    name_prefix_variable: str = "name_prefix"
    localstack_image: str = DEFAULT_LOCALSTACK_IMAGE
    start_timeout: int = 60
    iam_audit: bool = True
    snapshots: bool = True
    cache_dir: Path = field(default_factory=default_cache_dir)
    ministack_spec: str = field(default_factory=lambda: os.environ.get("S3PIPE_MINISTACK_SPEC", DEFAULT_MINISTACK_SPEC))
    ministack_python: Path | None = field(
        default_factory=lambda: Path(p) if (p := os.environ.get("S3PIPE_MINISTACK_PYTHON")) else None
    )
    terraform_binary: str = field(default_factory=lambda: os.environ.get("S3PIPE_TERRAFORM", "terraform"))
    #: Where each option's value came from (a flag, an ini file's key, an environment variable, "default").
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: The pytest configuration file the ini keys were read from (or belong in), if there is one.
    settings_file: Path | None = None
    #: Options set by a flag, the ini or the environment (not by their default).
    given: frozenset[str] = frozenset()
    #: Names this run in the tags of what it creates on AWS (``s3pipe aws sweep --run <id>``); pytest-xdist
    #: workers take their controller's.
    run_id: str = field(default_factory=new_run_id)

    def with_overrides(self, **changes: object) -> HarnessConfig:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def resolve(
        cls,
        root: Path,
        lookup: Lookup = lambda _option: None,
        environ: Mapping[str, str] | None = None,
        *,
        settings_file: Path | None = None,
    ) -> HarnessConfig:
        """Resolve every option: ``lookup`` (CLI flag, then ini) first, then the environment, then defaults.

        ``lookup`` answers a value (taken as the option's flag) or ``(value, where it came from)``.
        Relative paths are taken relative to ``root`` (the project root or pytest's rootdir).
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        sources: dict[str, str] = {}
        for option in OPTIONS:
            found = lookup(option)
            raw, source = found if isinstance(found, tuple) else (found, option.flag)
            if raw is None:
                raw = env.get(option.env)
                source = option.env
            if raw is None:
                raw = option.default
                source = "default"
            if raw is None:
                continue
            values[option.name] = _convert(option, raw, source, root)
            sources[option.name] = source
        backend = values.get("backend", "embedded")
        if backend not in BACKEND_CLASSES:
            raise ValueError(
                f"backend must be one of {', '.join(BACKEND_CLASSES)}, got {backend!r} (from {sources.get('backend')})"
            )
        given = frozenset(name for name, source in sources.items() if source != "default")
        return cls(root=root, sources=sources, settings_file=settings_file, given=given, **values)  # type: ignore[arg-type]

    def where(self, name: str) -> str:
        """Where an option's value came from, for error messages (``pytest.ini [pytest] s3pipe_outputs``)."""
        return self.sources.get(name, "default")

    def where_to_set(self, name: str) -> str:
        """Where a user sets an option for this project: its ini file's pytest section, else a new pytest.ini."""
        key = OPTIONS_BY_NAME[name].ini
        if self.settings_file is None:
            return f"`{key} = ...` in a pytest.ini [pytest] section in {self.root}"
        return f"`{key} = ...` in {self.settings_file} [{section_for(self.settings_file)}]"

    def path(self, relative: Path) -> Path:
        return relative if relative.is_absolute() else self.root / relative


def _convert(option: Option, raw: str, source: str, root: Path) -> object:
    match option.kind:
        case "bool":
            return parse_bool(raw, source=source)
        case "int":
            try:
                return int(raw)
            except ValueError:
                raise ValueError(f"{source}: expected an integer, got {raw!r}") from None
        case "path":
            path = Path(raw).expanduser()
            return path if path.is_absolute() else (root / path)
        case "map":
            return parse_output_map(raw)
        case "str":
            return raw
        case unreachable:
            assert_never(unreachable)


# ---------------------------------------------------------------------------- a project's configuration


def find_project_root(start: Path) -> Path:
    """The nearest directory (upwards) holding both ``infra/`` and ``lambda/``; else ``start``."""
    for candidate in (start, *start.parents):
        if (candidate / "infra").is_dir() and (candidate / "lambda").is_dir():
            return candidate
    return start


def project_config(start: Path, flags: Lookup = lambda _option: None) -> HarnessConfig:
    """A project's configuration as the pytest plugin resolves it: ``flags``, then the ``s3pipe_*`` keys of the
    file pytest would use (found upwards from ``start``, whose directory is the root), then ``S3PIPE_*``.

    Without such a file the root is the nearest directory holding ``infra/`` and ``lambda/``. Raises
    :class:`~s3pipe.errors.HarnessError` naming the file or the value that cannot be used.
    """
    try:
        ini = find_ini(start)
    except ValueError as error:
        raise HarnessError(
            "The project's pytest configuration cannot be read",
            tried=f"find the file pytest would use, upwards from {start}",
            seen=str(error),
            fix="fix the file's syntax (`pytest --co -q` shows pytest's own complaint), or run from another folder",
        ) from None
    root = ini.root if ini is not None else find_project_root(start)

    def lookup(option: Option) -> str | tuple[str, str] | None:
        if (given := flags(option)) is not None:
            return given
        if ini is not None and (configured := ini.get(option.ini)) is not None:
            return configured, ini.where(option.ini)
        return None

    try:
        return HarnessConfig.resolve(root, lookup, settings_file=ini.path if ini else None)
    except ValueError as error:
        raise HarnessError(
            "The s3pipe settings cannot be used",
            tried="read the s3pipe_* settings: flags, then "
            + (str(ini.path) if ini else "no ini file")
            + ", then S3PIPE_*",
            seen=str(error),
            fix="correct the value named above",
        ) from None
