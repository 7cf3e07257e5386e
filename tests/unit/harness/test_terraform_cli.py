"""The Terraform wrapper against a fake ``terraform`` executable that replays recorded ``-json`` output."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from s3pipe.errors import TerraformError
from s3pipe.terraform.cli import ResourceTiming, Terraform, terraform_version

FAKE_TERRAFORM = """\
#!{python}
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "calls.jsonl"), "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}) + "\\n")
with open(os.path.join(here, "scenario.json")) as handle:
    step = json.load(handle).get(sys.argv[1], {{}})
for line in step.get("stderr", []):
    print(line, file=sys.stderr, flush=True)
for line in step.get("stdout", []):
    print(line, flush=True)
sys.exit(step.get("exit", 0))
"""


def hook(addr: str, action: str, **extra: Any) -> dict[str, Any]:
    resource_type, _, name = addr.partition(".")
    return {
        "resource": {
            "addr": addr,
            "module": "",
            "resource": addr,
            "implied_provider": "aws",
            "resource_type": resource_type,
            "resource_name": name,
            "resource_key": None,
        },
        "action": action,
        **extra,
    }


def line(message: str, kind: str, level: str = "info", **fields: Any) -> str:
    return json.dumps({"@level": level, "@message": message, "@module": "terraform.ui", "type": kind, **fields})


APPLY_OK = [
    line("Terraform 1.9.5", "version", terraform="1.9.5", ui="1.2"),
    line("aws_sqs_queue.dlq: Plan to create", "planned_change", change={"action": "create"}),
    line("aws_sqs_queue.dlq: Creating...", "apply_start", hook=hook("aws_sqs_queue.dlq", "create")),
    line(
        "aws_sqs_queue.dlq: Creation complete after 1s",
        "apply_complete",
        hook=hook("aws_sqs_queue.dlq", "create", id_key="id", id_value="u", elapsed_seconds=1),
    ),
    "this line is not JSON and must be tolerated",
    line(
        "aws_lambda_function.ingest: Modifications complete after 12s",
        "apply_complete",
        hook=hook("aws_lambda_function.ingest", "update", elapsed_seconds=12),
    ),
    line(
        "Warning: Argument is deprecated",
        "diagnostic",
        level="warn",
        diagnostic={"severity": "warning", "summary": "Argument is deprecated", "detail": "use x"},
    ),
    line("Apply complete! Resources: 1 added, 1 changed, 0 destroyed.", "change_summary"),
]

APPLY_FAILED = [
    line("Terraform 1.9.5", "version", terraform="1.9.5", ui="1.2"),
    line(
        "Error: creating SQS Queue (s3p-dev-queue): InvalidAttributeValue",
        "diagnostic",
        level="error",
        diagnostic={
            "severity": "error",
            "summary": "creating SQS Queue (s3p-dev-queue): InvalidAttributeValue",
            "detail": "VisibilityTimeout must be >= function timeout",
            "range": {"filename": "queues.tf", "start": {"line": 12, "column": 1, "byte": 200}},
        },
    ),
    line(
        "Error: Unsupported argument",
        "diagnostic",
        level="error",
        diagnostic={"severity": "error", "summary": "Unsupported argument", "detail": ""},
    ),
    line("Unrelated output that must not be reported", "log"),
]


class FakeTerraform:
    """A ``terraform`` on PATH whose answers the test chooses, recording every call."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "terraform"
        self.path.write_text(FAKE_TERRAFORM.format(python=sys.executable))
        self.path.chmod(0o755)
        self.scenario({})

    def scenario(self, steps: dict[str, dict[str, Any]]) -> None:
        (self.directory / "scenario.json").write_text(json.dumps(steps))

    def calls(self) -> list[dict[str, Any]]:
        log = self.directory / "calls.jsonl"
        return [json.loads(row) for row in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTerraform:
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ.get('PATH', '')}")
    return FakeTerraform(directory)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def terraform(workdir: Path, **env: str) -> Terraform:
    return Terraform(workdir, {"S3PIPE_TEST_MARKER": "1", **env})


# ---------------------------------------------------------------------------- finding terraform


def test_missing_binary_is_not_installed(tmp_path: Path) -> None:
    with pytest.raises(TerraformError) as raised:
        Terraform(tmp_path, {}, binary="s3pipe-no-such-terraform")
    error = raised.value
    assert error.summary == "Terraform was not found"
    assert "s3pipe-no-such-terraform" in error.tried
    assert error.seen == ["no executable named 's3pipe-no-such-terraform' on PATH"]
    assert "S3PIPE_TERRAFORM" in error.fix


def test_terraform_missing_from_path_is_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TerraformError, match="Terraform was not found"):
        Terraform(tmp_path, {})


def test_binary_is_resolved_on_path(fake: FakeTerraform, workdir: Path) -> None:
    assert terraform(workdir).binary == str(fake.path)


def test_version_parses_the_json_answer(fake: FakeTerraform, workdir: Path) -> None:
    fake.scenario({"version": {"stdout": ['{"terraform_version": "1.9.5", "platform": "linux_amd64"}']}})
    assert terraform_version(terraform(workdir).binary) == "1.9.5"
    assert fake.calls()[0]["argv"] == ["version", "-json"]


# ---------------------------------------------------------------------------- environment and arguments


def test_terraform_runs_in_the_workdir_with_exactly_the_given_environment(
    fake: FakeTerraform, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3PIPE_PARENT_ONLY", "leaks if inherited")
    terraform(workdir, TF_PLUGIN_CACHE_DIR="/cache").init()
    [call] = fake.calls()
    assert Path(call["cwd"]) == workdir
    assert call["env"]["S3PIPE_TEST_MARKER"] == "1"
    assert call["env"]["TF_PLUGIN_CACHE_DIR"] == "/cache"
    assert call["env"]["TF_IN_AUTOMATION"] == "1"
    assert "S3PIPE_PARENT_ONLY" not in call["env"]


def test_init_arguments(fake: FakeTerraform, workdir: Path) -> None:
    terraform(workdir).init(["-plugin-dir=/mirror"])
    assert fake.calls()[0]["argv"] == ["init", "-input=false", "-no-color", "-reconfigure", "-plugin-dir=/mirror"]


def test_apply_refreshes_by_default(fake: FakeTerraform, workdir: Path) -> None:
    terraform(workdir).apply()
    assert fake.calls()[0]["argv"] == ["apply", "-auto-approve", "-input=false", "-json"]


def test_apply_without_refresh_passes_refresh_false(fake: FakeTerraform, workdir: Path) -> None:
    terraform(workdir).apply(refresh=False)
    assert fake.calls()[0]["argv"] == ["apply", "-auto-approve", "-input=false", "-json", "-refresh=false"]


def test_destroy_and_validate_arguments(fake: FakeTerraform, workdir: Path) -> None:
    tf = terraform(workdir)
    tf.destroy()
    tf.validate()
    assert [call["argv"] for call in fake.calls()] == [
        ["destroy", "-auto-approve", "-input=false", "-json"],
        ["validate", "-no-color"],
    ]


# ---------------------------------------------------------------------------- apply progress


def test_apply_turns_apply_complete_events_into_resource_timings(fake: FakeTerraform, workdir: Path) -> None:
    fake.scenario({"apply": {"stdout": APPLY_OK}})
    seen: list[ResourceTiming] = []

    result = terraform(workdir).apply(on_resource=seen.append)

    expected = [
        ResourceTiming("aws_sqs_queue.dlq", "create", 1.0),
        ResourceTiming("aws_lambda_function.ingest", "update", 12.0),
    ]
    assert seen == expected
    assert result.resources == expected
    assert result.exit_code == 0
    assert result.diagnostics == []  # warnings are not errors
    assert result.lines == APPLY_OK
    assert result.command[1:] == ["apply", "-auto-approve", "-input=false", "-json"]
    assert result.seconds >= 0


def test_apply_without_callback_still_records_timings(fake: FakeTerraform, workdir: Path) -> None:
    fake.scenario({"apply": {"stdout": APPLY_OK}})
    assert [t.address for t in terraform(workdir).apply().resources] == [
        "aws_sqs_queue.dlq",
        "aws_lambda_function.ingest",
    ]


def test_failed_apply_lists_the_error_diagnostics(fake: FakeTerraform, workdir: Path) -> None:
    fake.scenario({"apply": {"stdout": APPLY_FAILED, "stderr": ["some stderr noise"], "exit": 1}})
    reported: list[ResourceTiming] = []

    with pytest.raises(TerraformError) as raised:
        terraform(workdir).apply(on_resource=reported.append)

    error = raised.value
    assert error.summary == "`terraform apply` failed"
    assert error.tried == "terraform apply -auto-approve -input=false -json"
    assert error.seen == [
        f"exit code 1 in {workdir}",
        "creating SQS Queue (s3p-dev-queue): InvalidAttributeValue (queues.tf:12): "
        "VisibilityTimeout must be >= function timeout",
        "Unsupported argument",
    ]
    assert "Unrelated output" not in str(error)
    assert reported == []


def test_failure_without_diagnostics_reports_the_output_tail(fake: FakeTerraform, workdir: Path) -> None:
    fake.scenario(
        {
            "init": {
                "stdout": ["Initializing the backend...", ""],
                "stderr": ["Error: Failed to query available provider packages"],
                "exit": 1,
            }
        }
    )
    with pytest.raises(TerraformError) as raised:
        terraform(workdir).init()
    assert raised.value.summary == "`terraform init` failed"
    assert raised.value.seen == [
        f"exit code 1 in {workdir}",
        "Initializing the backend...",
        "Error: Failed to query available provider packages",
    ]


def test_any_non_zero_exit_is_a_failure(fake: FakeTerraform, workdir: Path) -> None:
    fake.scenario({"validate": {"stdout": ["Success! The configuration is valid."], "exit": 3}})
    with pytest.raises(TerraformError, match="exit code 3 in"):
        terraform(workdir).validate()


def test_stderr_is_kept_apart_from_stdout(fake: FakeTerraform, workdir: Path) -> None:
    fake.scenario({"validate": {"stdout": ["ok"], "stderr": ["warn 1", "warn 2"]}})
    result = terraform(workdir).validate()
    assert result.lines == ["ok"]
    assert result.stderr == ["warn 1", "warn 2"]


# ---------------------------------------------------------------------------- outputs


def test_outputs_are_values_only_and_stderr_warnings_do_not_corrupt_them(fake: FakeTerraform, workdir: Path) -> None:
    document = {
        "bucket_name": {"sensitive": False, "type": "string", "value": "s3p-dev-raw-logs"},
        "accepted_suffixes": {"sensitive": False, "type": ["list", "string"], "value": [".json", ".log"]},
        "max_receive_count": {"sensitive": False, "type": "number", "value": 3},
    }
    fake.scenario(
        {
            "output": {
                "stdout": json.dumps(document, indent=2).splitlines(),
                "stderr": ["Warning: Value for undeclared variable", "  The root module does not declare x."],
            }
        }
    )
    assert terraform(workdir).outputs() == {
        "bucket_name": "s3p-dev-raw-logs",
        "accepted_suffixes": [".json", ".log"],
        "max_receive_count": 3,
    }
    assert fake.calls()[0]["argv"] == ["output", "-json"]


def test_no_outputs_at_all_is_an_empty_dict(fake: FakeTerraform, workdir: Path) -> None:
    assert terraform(workdir).outputs() == {}


def test_providers_schema_is_parsed(fake: FakeTerraform, workdir: Path) -> None:
    fake.scenario({"providers": {"stdout": ['{"format_version": "1.0", "provider_schemas": {}}']}})
    assert terraform(workdir).providers_schema() == {"format_version": "1.0", "provider_schemas": {}}
    assert fake.calls()[0]["argv"] == ["providers", "schema", "-json"]


# ---------------------------------------------------------------------------- plan -detailed-exitcode

PLAN_CHANGES = [
    line("Terraform 1.9.5", "version", terraform="1.9.5", ui="1.2"),
    line(
        "aws_dynamodb_table.this: Drift detected (delete)",
        "resource_drift",
        change={"resource": {"addr": "aws_dynamodb_table.this"}, "action": "delete"},
    ),
    line(
        "aws_dynamodb_table.this: Plan to create",
        "planned_change",
        change={"resource": {"addr": "aws_dynamodb_table.this"}, "action": "create"},
    ),
    line("Plan: 1 to add, 0 to change, 0 to destroy.", "change_summary"),
]


def test_a_plan_without_changes_is_clean_and_never_locks(fake: FakeTerraform, workdir: Path) -> None:
    fake.scenario({"plan": {"stdout": [line("No changes.", "change_summary")], "exit": 0}})
    check = terraform(workdir).plan_is_clean()
    assert (check.clean, check.changes) == (True, [])
    assert fake.calls()[0]["argv"] == ["plan", "-detailed-exitcode", "-input=false", "-lock=false", "-json"]


def test_a_plan_with_changes_exit_2_names_them(fake: FakeTerraform, workdir: Path) -> None:
    fake.scenario({"plan": {"stdout": PLAN_CHANGES, "exit": 2}})
    check = terraform(workdir).plan_is_clean()
    assert not check.clean
    assert check.changes == ["aws_dynamodb_table.this (delete drifted)", "aws_dynamodb_table.this (create)"]


def test_a_plan_that_fails_raises(fake: FakeTerraform, workdir: Path) -> None:
    fake.scenario({"plan": {"stdout": APPLY_FAILED, "exit": 1}})
    with pytest.raises(TerraformError, match="VisibilityTimeout must be >= function timeout"):
        terraform(workdir).plan_is_clean()
