"""Harness errors: the rendered summary/tried/seen/fix layout, ``tail``, and each named constructor's content."""

from __future__ import annotations

import pytest

from s3pipe.backends.health import REQUIRED_SERVICES
from s3pipe.errors import (
    BackendUnavailable,
    EmulatorError,
    EnvironmentSetupError,
    GuardError,
    HarnessError,
    ProviderInstallError,
    SettleTimeout,
    TerraformError,
    tail,
)

# ---------------------------------------------------------------------------- rendering


def test_render_lays_out_summary_tried_seen_and_fix() -> None:
    error = HarnessError("It broke", tried="run x", seen=["first", "second"], fix="do y")
    assert error.render() == "It broke\n  tried: run x\n  seen:\n    | first\n    | second\n  fix:   do y"
    assert str(error) == error.render()


def test_a_single_seen_string_is_one_line() -> None:
    error = HarnessError("s", tried="t", seen="only this", fix="f")
    assert error.seen == ["only this"]
    assert "    | only this\n" in str(error)


def test_nothing_seen_says_so() -> None:
    error = HarnessError("s", tried="t", seen=[], fix="f")
    assert "  seen:\n    | (nothing)\n" in str(error)


def test_fields_stay_available_for_callers() -> None:
    error = HarnessError("s", tried="t", seen=("a", "b"), fix="f")
    assert (error.summary, error.tried, error.seen, error.fix) == ("s", "t", ["a", "b"], "f")


@pytest.mark.parametrize("cls", [EnvironmentSetupError, EmulatorError, TerraformError, ProviderInstallError])
def test_named_error_classes_are_harness_errors(cls: type[HarnessError]) -> None:
    assert issubclass(cls, HarnessError)
    assert issubclass(GuardError, HarnessError)
    assert issubclass(BackendUnavailable, HarnessError)


def test_settle_timeout_is_a_test_failure_not_a_harness_error() -> None:
    assert issubclass(SettleTimeout, AssertionError)
    assert not issubclass(SettleTimeout, HarnessError)


# ---------------------------------------------------------------------------- tail


def test_tail_keeps_the_last_non_empty_lines_without_trailing_space() -> None:
    lines = ["a  ", "", "   ", "b\n", "c\t"]
    assert tail(lines) == ["a", "b", "c"]
    assert tail(lines, 2) == ["b", "c"]


def test_tail_defaults_to_twenty_lines() -> None:
    lines = [f"line {i}" for i in range(50)]
    assert tail(lines) == lines[-20:]


def test_tail_accepts_any_iterable() -> None:
    assert tail(iter(["x", "y"])) == ["x", "y"]


# ---------------------------------------------------------------------------- named constructors


def test_environment_setup_failure_shows_the_command_exit_code_and_output_tail() -> None:
    output = [f"pip line {i}" for i in range(30)]
    error = EnvironmentSetupError.command_failed(["pip", "install", "ministack"], 1, output, "/cache/venv")
    assert "/cache/venv" in error.summary
    assert error.tried == "pip install ministack"
    assert error.seen == ["exit code 1", *output[-20:]]
    assert "PIP_INDEX_URL" in error.fix
    assert "S3PIPE_MINISTACK_PYTHON" in error.fix


def test_emulator_exited_early_names_endpoint_exit_code_and_log() -> None:
    error = EmulatorError.exited_early("MiniStack", "http://127.0.0.1:4566", 3, ["boom"], "/tmp/m.log")
    assert error.summary == "MiniStack exited before it became healthy"
    assert "http://127.0.0.1:4566/_localstack/health" in error.tried
    assert error.seen == ["exit code 3", "log: /tmp/m.log", "boom"]
    assert "S3PIPE_PORT" in error.fix


def test_emulator_health_timeout_reports_the_wait_and_last_answer() -> None:
    error = EmulatorError.health_timeout("LocalStack", "http://127.0.0.1:1", 59.6, "not ready: s3=absent", ["l1"])
    assert error.summary == "LocalStack did not become healthy within 60 s"
    assert error.seen == ["last health answer: not ready: s3=absent", "l1"]
    assert "S3PIPE_START_TIMEOUT" in error.fix


def test_emulator_health_timeout_names_every_required_service() -> None:
    error = EmulatorError.health_timeout("MiniStack", "http://127.0.0.1:1", 1, "x", [])
    for service in REQUIRED_SERVICES:
        assert service in error.tried


def test_emulator_unreachable_says_how_to_start_or_point_at_one() -> None:
    error = EmulatorError.unreachable("http://127.0.0.1:9", "URLError: refused")
    assert error.summary == "No AWS emulator answers at http://127.0.0.1:9"
    assert error.tried == "GET http://127.0.0.1:9/_localstack/health"
    assert error.seen == ["URLError: refused"]
    assert "s3pipe up" in error.fix
    assert "S3PIPE_ENDPOINT_URL" in error.fix


def test_terraform_not_installed_names_the_binary_and_the_override() -> None:
    error = TerraformError.not_installed("tofu")
    assert error.summary == "Terraform was not found"
    assert error.tried == "run `tofu version -json`"
    assert error.seen == ["no executable named 'tofu' on PATH"]
    assert "S3PIPE_TERRAFORM" in error.fix


def test_terraform_command_failed_prefers_diagnostics_over_output() -> None:
    error = TerraformError.command_failed(
        ["terraform", "apply", "-json"], "/w", 1, ["Invalid reference (main.tf:3)"], ["noise"]
    )
    assert error.summary == "`terraform apply` failed"
    assert error.tried == "terraform apply -json"
    assert error.seen == ["exit code 1 in /w", "Invalid reference (main.tf:3)"]
    assert "kept in the directory shown" in error.fix


def test_terraform_command_failed_without_diagnostics_shows_the_output_tail() -> None:
    error = TerraformError.command_failed(["terraform", "init"], "/w", 2, [], ["Error: no provider"])
    assert error.seen == ["exit code 2 in /w", "Error: no provider"]


def test_registry_unreachable_without_cli_config_says_nothing_was_given() -> None:
    error = ProviderInstallError.registry_unreachable("registry.terraform.io", "URLError: timed out", None)
    assert error.seen == [
        "registry.terraform.io: URLError: timed out",
        "no TF_CLI_CONFIG_FILE and no --s3pipe-tf-plugin-dir given",
    ]
    assert "S3PIPE_TF_PLUGIN_DIR" in error.fix
    assert "filesystem_mirror" in error.fix
    assert "registry.terraform.io/hashicorp/aws/<version>/<os_arch>/" in error.fix


def test_registry_unreachable_with_a_missing_cli_config_names_it() -> None:
    error = ProviderInstallError.registry_unreachable("registry.terraform.io", "x", "/etc/tf.rc")
    assert "TF_CLI_CONFIG_FILE=/etc/tf.rc (file does not exist)" in error.seen


def test_plugin_dir_missing_says_where_it_looked() -> None:
    error = ProviderInstallError.plugin_dir_missing("/mirror")
    assert "/mirror" in error.summary
    assert error.tried == "look for /mirror/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*"
    assert "registry.terraform.io/" in error.fix
