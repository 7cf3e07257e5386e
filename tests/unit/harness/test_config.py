"""Option resolution: CLI/ini lookup -> environment -> default, for every kind, with errors naming the source."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from s3pipe.config import (
    BACKENDS,
    DEFAULT_LOCALSTACK_IMAGE,
    DEFAULT_REGION,
    OPTIONS,
    OPTIONS_BY_NAME,
    HarnessConfig,
    Option,
    parse_bool,
)

ROOT = Path("/project")


def lookup_from(values: dict[str, str]) -> Callable[[Option], str | None]:
    """A CLI/ini lookup that knows ``values`` (option name -> raw string)."""

    def lookup(option: Option) -> str | None:
        return values.get(option.name)

    return lookup


def resolve(cli: dict[str, str] | None = None, env: dict[str, str] | None = None) -> HarnessConfig:
    return HarnessConfig.resolve(ROOT, lookup_from(cli or {}), environ=env or {})


# ---------------------------------------------------------------------------- the option table


def test_every_option_has_a_flag_an_ini_key_and_an_environment_variable() -> None:
    option = OPTIONS_BY_NAME["tf_plugin_dir"]
    assert option.flag == "--s3pipe-tf-plugin-dir"
    assert option.ini == "s3pipe_tf_plugin_dir"
    assert option.env == "S3PIPE_TF_PLUGIN_DIR"
    assert len({o.flag for o in OPTIONS}) == len({o.env for o in OPTIONS}) == len(OPTIONS)


def test_defaults_without_any_setting() -> None:
    config = resolve()
    assert config.root == ROOT
    assert config.backend == "embedded"
    assert config.endpoint_url is None
    assert config.region == DEFAULT_REGION
    assert config.keep is False
    assert config.reuse is True
    assert config.tf_plugin_dir is None
    assert config.port == 0
    assert config.start_timeout == 60
    assert config.localstack_image == DEFAULT_LOCALSTACK_IMAGE
    assert config.allow_aws is False


def test_default_paths_are_taken_relative_to_the_root() -> None:
    config = resolve()
    assert config.infra_dir == ROOT / "infra"
    assert config.lambda_dir == ROOT / "lambda"
    assert config.state_dir == ROOT / ".s3pipe"


# ---------------------------------------------------------------------------- resolution order, per kind

ORDER_CASES = [
    # option, cli value, env value, expected from cli, expected from env, attribute default
    ("region", "eu-west-1", "us-east-2", "eu-west-1", "us-east-2", DEFAULT_REGION),
    ("keep", "yes", "1", True, True, False),
    ("reuse", "off", "no", False, False, True),
    ("port", "4566", "4600", 4566, 4600, 0),
    ("start_timeout", "5", "7", 5, 7, 60),
    ("infra_dir", "cli-infra", "env-infra", ROOT / "cli-infra", ROOT / "env-infra", ROOT / "infra"),
    ("tf_plugin_dir", "/abs/plugins", "rel/plugins", Path("/abs/plugins"), ROOT / "rel/plugins", None),
]


@pytest.mark.parametrize("case", ORDER_CASES, ids=[case[0] for case in ORDER_CASES])
def test_lookup_wins_over_environment_which_wins_over_default(
    case: tuple[str, str, str, object, object, object],
) -> None:
    name, cli, env, from_cli, from_env, default = case
    variable = OPTIONS_BY_NAME[name].env
    assert getattr(resolve(cli={name: cli}, env={variable: env}), name) == from_cli
    assert getattr(resolve(env={variable: env}), name) == from_env
    assert getattr(resolve(), name) == default


def test_environment_comes_from_os_environ_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3PIPE_REGION", "sa-east-1")
    assert HarnessConfig.resolve(ROOT).region == "sa-east-1"


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), (" on ", True), ("Yes", True)])
def test_true_spellings(raw: str, expected: bool) -> None:
    assert parse_bool(raw, source="x") is expected


@pytest.mark.parametrize("raw", ["0", "false", "No", "OFF", ""])
def test_false_spellings(raw: str) -> None:
    assert parse_bool(raw, source="x") is False


def test_home_relative_path_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = resolve(env={"S3PIPE_STATE_DIR": "~/state"})
    assert config.state_dir == tmp_path / "state"


def test_config_path_keeps_absolute_paths_and_joins_relative_ones() -> None:
    config = resolve()
    assert config.path(Path("/elsewhere/x")) == Path("/elsewhere/x")
    assert config.path(Path("sub/x")) == ROOT / "sub/x"


def test_with_overrides_changes_only_what_is_named() -> None:
    config = resolve(env={"S3PIPE_REGION": "eu-west-1"})
    changed = config.with_overrides(port=4566, keep=True)
    assert (changed.port, changed.keep, changed.region) == (4566, True, "eu-west-1")
    assert (config.port, config.keep) == (0, False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_known_backend_is_accepted(backend: str) -> None:
    assert resolve(env={"S3PIPE_BACKEND": backend}).backend == backend


# ---------------------------------------------------------------------------- bad values


def test_bad_boolean_from_the_environment_names_the_variable() -> None:
    with pytest.raises(ValueError, match="S3PIPE_KEEP") as raised:
        resolve(env={"S3PIPE_KEEP": "maybe"})
    assert "'maybe'" in str(raised.value)
    assert "1/0/true/false/yes/no" in str(raised.value)


def test_bad_boolean_from_the_command_line_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--s3pipe-allow-aws") as raised:
        resolve(cli={"allow_aws": "sure"}, env={"S3PIPE_ALLOW_AWS": "1"})
    assert "'sure'" in str(raised.value)


def test_bad_integer_from_the_environment_names_the_variable() -> None:
    with pytest.raises(ValueError, match=r"S3PIPE_PORT: expected an integer, got 'http'"):
        resolve(env={"S3PIPE_PORT": "http"})


def test_bad_integer_from_the_command_line_names_the_flag() -> None:
    with pytest.raises(ValueError, match=r"--s3pipe-start-timeout: expected an integer, got '1.5'"):
        resolve(cli={"start_timeout": "1.5"})


def test_bad_integer_error_does_not_chain_the_int_error() -> None:
    with pytest.raises(ValueError, match="expected an integer") as raised:
        resolve(env={"S3PIPE_PORT": "x"})
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_unknown_backend_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="backend must be one of") as raised:
        resolve(env={"S3PIPE_BACKEND": "moto"})
    message = str(raised.value)
    assert "'moto'" in message
    for name in BACKENDS:
        assert name in message


def test_unknown_backend_error_names_its_source() -> None:
    with pytest.raises(ValueError, match="backend must be one of") as raised:
        resolve(env={"S3PIPE_BACKEND": "moto"})
    assert "S3PIPE_BACKEND" in str(raised.value)
