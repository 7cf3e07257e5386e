"""The key hashes what decides a cold apply's result, and nothing that changes between sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3pipe.config import HarnessConfig
from s3pipe.snapshots.inputs import default_key_parts, installed_ministack_version, provider_part
from s3pipe.snapshots.key import (
    SNAPSHOT_FORMAT,
    aws_provider_versions,
    provider_fingerprint,
    session_independent,
)
from s3pipe.terraform.cli import terraform_version

from .fakes import parts


def test_equal_parts_give_equal_keys() -> None:
    assert parts().key == parts().key
    assert len(parts().key) == 32


@pytest.mark.parametrize(
    "change",
    [
        {"infra_hash": "c" * 64},
        {"lambda_sha256": "d" * 64},
        {"variables": {"region": "ap-northeast-1", "batch_size": 5}},
        {"emulator": "embedded ministack==1.5.34"},
        {"terraform": "1.12.0"},
        {"provider": "plugin dir 5.99.0"},
        {"format": SNAPSHOT_FORMAT + 1},
    ],
)
def test_every_part_changes_the_key(change: dict[str, object]) -> None:
    changed = parts(**change)
    assert changed.key != parts().key
    assert changed.differences(parts().to_json()) == list(change)


def test_session_independent_variables_drop_the_prefix_and_zip_path() -> None:
    first = {
        "name_prefix": "s3p-pytest-gw0-aaaaaa",
        "lambda_zip_path": "/a/lambda.zip",
        "batch_size": 10,
        "extra_environment": {"MODE": "x"},
    }
    second = {**first, "name_prefix": "s3p-pytest-gw1-bbbbbb", "lambda_zip_path": "/b/lambda.zip"}
    assert (
        session_independent(first)
        == session_independent(second)
        == {
            "batch_size": 10,
            "extra_environment": {"MODE": "x"},
        }
    )


def test_settings_that_change_the_stack_still_change_the_variables() -> None:
    base = {"name_prefix": "p", "extra_environment": {"MODE": "x"}}
    other = {"name_prefix": "p", "extra_environment": {"MODE": "y"}}
    assert session_independent(base) != session_independent(other)


def test_provider_versions_are_read_from_unpacked_and_packed_layouts(tmp_path: Path) -> None:
    provider = tmp_path / "registry.terraform.io" / "hashicorp" / "aws"
    (provider / "5.100.0" / "linux_amd64").mkdir(parents=True)
    (provider / "5.100.0" / "linux_amd64" / "terraform-provider-aws_v5.100.0_x5").write_text("")
    (provider / "terraform-provider-aws_5.99.1_linux_amd64.zip").write_text("")
    assert aws_provider_versions(tmp_path) == ["5.100.0", "5.99.1"]
    assert provider_fingerprint("plugin dir", tmp_path) == "plugin dir 5.100.0,5.99.1"
    assert provider_fingerprint("plugin dir", tmp_path / "empty") == "plugin dir none"
    assert provider_fingerprint("registry", None) == "registry"
    assert str(tmp_path) not in provider_fingerprint("plugin dir", tmp_path)  # CI caches must share keys


def test_terraform_version_of_a_missing_binary_says_why(tmp_path: Path) -> None:
    assert terraform_version(str(tmp_path / "no-terraform")).startswith("unknown (FileNotFoundError")


def test_terraform_version_is_read_from_its_json(tmp_path: Path) -> None:
    fake = tmp_path / "terraform"
    fake.write_text('#!/bin/sh\necho \'{"terraform_version": "1.11.4", "platform": "linux_amd64"}\'\n')
    fake.chmod(0o755)
    assert terraform_version(str(fake)) == "1.11.4"


def test_installed_ministack_version_comes_from_its_dist_info(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "lib" / "python3.12" / "site-packages" / "ministack-1.5.33.dist-info").mkdir(parents=True)
    assert installed_ministack_version(venv / "bin" / "python") == "1.5.33"
    assert installed_ministack_version(tmp_path / "other" / "bin" / "python") is None


def test_default_key_depends_on_module_handler_and_versions(project: HarnessConfig) -> None:
    first = default_key_parts(project)
    assert first.key == default_key_parts(project).key
    assert first.provider == "plugin dir 5.100.0"
    assert first.terraform == "1.11.4"
    assert first.emulator.startswith("embedded ministack==1.5.33 settings ")
    assert "name_prefix" not in first.variables

    (project.root / "infra" / "main.tf").write_text('resource "aws_sqs_queue" "r" {}\n')
    after_module = default_key_parts(project)
    assert after_module.differences(first.to_json()) == ["infra_hash"]

    (project.root / "lambda" / "log_ingest" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    assert default_key_parts(project).differences(after_module.to_json()) == ["lambda_sha256"]

    assert default_key_parts(project.with_overrides(region="eu-west-1")).differences(first.to_json()) == [
        "infra_hash",
        "lambda_sha256",
        "variables",
        "emulator",  # MINISTACK_REGION
    ]


def test_provider_part_names_the_source_kind_without_paths(
    project: HarnessConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert provider_part(project) == "plugin dir 5.100.0"
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text('provider_installation { filesystem_mirror { path = "/m" } }\n')
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(cli_config))
    part = provider_part(project.with_overrides(tf_plugin_dir=None))
    assert part.startswith("CLI config ")
    assert str(tmp_path) not in part


def test_the_emulators_fixed_settings_are_part_of_the_key(
    project: HarnessConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from s3pipe.snapshots import inputs

    before = inputs.emulator_part(project)
    original = inputs.emulator_environment

    def without_auth(port: int, region: str, base: dict[str, str] | None = None) -> dict[str, str]:
        return {**original(port, region, base), "AUTH": "false"}

    monkeypatch.setattr(inputs, "emulator_environment", without_auth)
    assert inputs.emulator_part(project) != before
