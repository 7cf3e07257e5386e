"""The ``s3pipe`` command line: parser, project root discovery, ``package``, ``status`` and ``down``."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from s3pipe import cli
from s3pipe.config import find_project_root
from s3pipe.deploy import StackRecord
from s3pipe.errors import HarnessError
from s3pipe.lambda_zip import zip_bytes

HANDLER = b"def handler(event, context):\n    return {}\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A minimal project (infra/ + lambda/) as the working directory, with no S3PIPE_* settings."""
    for name in list(os.environ):
        if name.startswith("S3PIPE_"):
            monkeypatch.delenv(name)
    root = tmp_path / "project"
    (root / "infra").mkdir(parents=True)
    (root / "infra" / "main.tf").write_text('resource "aws_sqs_queue" "q" {}\n')
    (root / "lambda" / "log_ingest").mkdir(parents=True)
    (root / "lambda" / "log_ingest" / "handler.py").write_bytes(HANDLER)
    (root / "lambda" / "log_ingest" / "__pycache__").mkdir()
    (root / "lambda" / "log_ingest" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"cache")
    monkeypatch.chdir(root)
    return root


def record(name: str, **changes: object) -> StackRecord:
    values: dict[str, object] = {
        "name": name,
        "backend": "embedded",
        "endpoint_url": "http://127.0.0.1:4566",
        "region": "ap-northeast-1",
        "infra_hash": "i",
        "lambda_sha256": "l",
        "settings_hash": "{}",
        "outputs": {},
    }
    values.update(changes)
    return StackRecord(**values)  # type: ignore[arg-type]


def save(project: Path, stack: str, stack_record: StackRecord) -> Path:
    directory = project / ".s3pipe" / "stacks" / stack
    directory.mkdir(parents=True, exist_ok=True)
    stack_record.save(directory / "stack.json")
    return directory


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# ---------------------------------------------------------------------------- parser


def test_parser_has_every_subcommand() -> None:
    parser = cli.build_parser()
    for command in ("up", "down", "status", "demo", "package", "bench"):
        args = parser.parse_args([command])
        assert args.command == command
        assert callable(args.handler)


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.build_parser().parse_args([])
    assert raised.value.code == 2
    assert "required" in capsys.readouterr().err


def test_up_defaults() -> None:
    args = cli.build_parser().parse_args(["up"])
    assert (args.stack, args.port, args.detach, args.handler) == ("dev", None, False, cli.cmd_up)
    for name in ("backend", "endpoint_url", "region", "tf_plugin_dir", "state_dir", "infra_dir", "lambda_dir"):
        assert getattr(args, name) is None, name  # unset: the environment or the default decides


def test_up_options() -> None:
    args = cli.build_parser().parse_args(["up", "--port", "4600", "--stack", "mine", "--detach", "--backend", "aws"])
    assert (args.port, args.stack, args.detach, args.backend) == (4600, "mine", True, "aws")


def test_other_defaults() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["down"]).stack == "dev"
    assert parser.parse_args(["package"]).out == "build/lambda.zip"
    assert parser.parse_args(["bench"]).quick is False
    assert parser.parse_args(["bench", "--quick"]).quick is True
    assert parser.parse_args(["status", "--state-dir", "/x"]).state_dir == "/x"


# ---------------------------------------------------------------------------- project root


def test_project_root_is_found_from_a_subdirectory(project: Path) -> None:
    deep = project / "lambda" / "log_ingest"
    assert find_project_root(deep) == project
    assert find_project_root(project) == project


def test_without_a_project_the_start_directory_is_the_root(tmp_path: Path) -> None:
    (tmp_path / "only-infra" / "infra").mkdir(parents=True)
    assert find_project_root(tmp_path / "only-infra") == tmp_path / "only-infra"


def test_command_line_options_override_the_environment(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3PIPE_REGION", "eu-west-1")
    monkeypatch.setenv("S3PIPE_BACKEND", "external")
    args = cli.build_parser().parse_args(["status", "--region", "us-east-2"])
    config = cli.load_config(args, keep=True)
    assert (config.root, config.region, config.backend, config.keep) == (project, "us-east-2", "external", True)


# ---------------------------------------------------------------------------- package


def test_package_writes_a_reproducible_zip(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["package", "--out", "dist/one.zip"]) == 0
    first_output = capsys.readouterr().out
    os.utime(project / "lambda" / "log_ingest" / "handler.py", (1, 1))
    assert cli.main(["package", "--out", "dist/two.zip"]) == 0

    one = (project / "dist" / "one.zip").read_bytes()
    assert one == (project / "dist" / "two.zip").read_bytes()
    assert one == zip_bytes({"log_ingest/handler.py": HANDLER})
    with zipfile.ZipFile(project / "dist" / "one.zip") as archive:
        assert archive.namelist() == ["log_ingest/handler.py"]
    sha = hashlib.sha256(one).hexdigest()
    assert f"sha256={sha}" in first_output
    assert f"base64sha256={base64.b64encode(hashlib.sha256(one).digest()).decode()}" in first_output
    assert str(project / "dist" / "one.zip") in first_output


def test_package_uses_the_lambda_dir_option(project: Path) -> None:
    (project / "other").mkdir()
    (project / "other" / "x.py").write_bytes(b"x = 1\n")
    assert cli.main(["package", "--lambda-dir", "other", "--out", "o.zip"]) == 0
    with zipfile.ZipFile(project / "o.zip") as archive:
        assert archive.namelist() == ["x.py"]


def test_package_of_an_empty_lambda_dir_fails(project: Path) -> None:
    (project / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no files to package"):
        cli.main(["package", "--lambda-dir", "empty", "--out", "o.zip"])


# ---------------------------------------------------------------------------- status


@pytest.mark.usefixtures("project")
def test_status_without_stacks(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status"]) == 0
    assert capsys.readouterr().out == "no stacks recorded\n"


#: How ``status`` says an AWS stack is destroyed.
DOWN_PROD = ["(`s3pipe", "down", "--stack", "prod`", "destroys", "it)"]


def test_status_lists_recorded_stacks_with_their_state(
    project: Path, capsys: pytest.CaptureFixture[str], dead_pid: int
) -> None:
    save(project, "dev", record("dev", emulator_pid=os.getpid()))
    save(project, "old", record("old", emulator_pid=dead_pid))
    save(project, "shared", record("shared", backend="external", endpoint_url="http://127.0.0.1:4599"))
    aws = record("prod", backend="aws", endpoint_url=None, run_id="r0123456789", account_id="123456789012")
    save(project, "prod", aws)
    (save(project, "broken", record("broken")) / "stack.json").write_text("{corrupt")

    assert cli.main(["status"]) == 0

    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows == [
        ["dev", "embedded", "http://127.0.0.1:4566", "running"],
        ["old", "embedded", "http://127.0.0.1:4566", "stopped"],
        ["prod", "aws", "AWS:123456789012:ap-northeast-1", "deployed", "run=r0123456789", *DOWN_PROD],
        ["shared", "external", "http://127.0.0.1:4599", "external"],
    ]


def test_status_reads_the_state_dir_option(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save(project, "dev", record("dev"))
    assert cli.main(["status", "--state-dir", str(project / "elsewhere")]) == 0
    assert capsys.readouterr().out == "no stacks recorded\n"


# ---------------------------------------------------------------------------- down


def test_down_without_a_stack_says_nothing_was_running(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["down", "--stack", "dev"]) == 0
    assert capsys.readouterr().out == "stack 'dev': nothing running\n"
    assert not (project / ".s3pipe" / "stacks" / "dev" / "stack.json").exists()


def test_down_stops_the_recorded_emulator_and_forgets_the_stack(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        directory = save(project, "dev", record("dev", emulator_pid=emulator.pid))

        assert cli.main(["down", "--stack", "dev"]) == 0

        assert emulator.wait(timeout=15) == -15  # SIGTERM
        assert capsys.readouterr().out == "stack 'dev': stopped\n"
        assert not (directory / "stack.json").exists()
    finally:
        if emulator.poll() is None:
            emulator.kill()
            emulator.wait()


def test_down_of_a_dead_stack_just_forgets_it(project: Path, capsys: pytest.CaptureFixture[str], dead_pid: int) -> None:
    directory = save(project, "dev", record("dev", emulator_pid=dead_pid))
    (directory / "up.pid").write_text(str(dead_pid))
    assert cli.main(["down", "--stack", "dev"]) == 0
    assert capsys.readouterr().out == "stack 'dev': nothing running\n"
    assert not (directory / "stack.json").exists()
    assert not (directory / "up.pid").exists()


@pytest.mark.usefixtures("project")
def test_harness_errors_become_exit_code_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(args: object) -> int:
        raise HarnessError("It broke", tried="t", seen="s", fix="f")

    monkeypatch.setattr(cli, "cmd_status", fail)
    assert cli.main(["status"]) == 2
    assert capsys.readouterr().err.startswith("s3pipe: It broke\n  tried: t")


@pytest.mark.usefixtures("project")
def test_interrupt_becomes_exit_code_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_status", interrupted)
    assert cli.main(["status"]) == 130


# ---------------------------------------------------------------------------- up's credentials line


def _stack_on(backend: str) -> Any:
    """What ``credentials_note`` reads of a stack: its capabilities and endpoint."""
    from s3pipe.backends.base import Credentials, Endpoint
    from s3pipe.backends.registry import backend_class

    capabilities = backend_class(backend).capabilities
    url = None if backend == "aws" else "http://127.0.0.1:4566"
    return SimpleNamespace(
        has=lambda capability: capability in capabilities,
        endpoint=Endpoint(url, "ap-northeast-1", Credentials.fake()),
    )


def test_up_says_any_credentials_work_on_the_embedded_emulator() -> None:
    note = cli.credentials_note(_stack_on("embedded"))
    assert "any access key and secret work" in note
    assert "DUMMY/DUMMY" in note
    assert "test" not in note.split()  # no longer printed as a requirement


def test_up_names_the_fake_pair_where_the_emulator_checks_keys() -> None:
    assert (
        cli.credentials_note(_stack_on("external")) == "credentials: AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"
    )
    assert cli.credentials_note(_stack_on("aws")) == "credentials: your AWS profile's"


def test_sigterm_during_up_ends_the_apply_and_closes_the_stack(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGTERM while `s3pipe up` applies (a cancelled job) closes what the open created; before, it killed the
    process and left a real stack behind."""
    import signal
    import time as time_module

    closed: list[bool | None] = []

    class Applying:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def open(self) -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            time_module.sleep(5)  # the apply, cut short by the signal
            raise AssertionError("the SIGTERM did not interrupt the apply")

        def close(self, *, keep: bool | None = None) -> None:
            closed.append(keep)

    monkeypatch.setattr(cli, "StackSession", Applying)
    previous = signal.getsignal(signal.SIGTERM)

    assert cli.main(["up", "--port", "0"]) == 130  # interrupted, as Ctrl-C

    assert closed == [False]
    assert signal.getsignal(signal.SIGTERM) is previous  # handed back after the open
