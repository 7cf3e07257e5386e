"""The generic module stack: any module directory with its variables, raw outputs and ready clients."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from s3pipe.backends.registry import backend_class
from s3pipe.config import HarnessConfig
from s3pipe.guard import check_deployment
from s3pipe.module_stack import ModuleSession, ModuleStack
from s3pipe.progress import Progress
from s3pipe.pytest_plugin import ModuleFactory
from s3pipe.snapshots import SnapshotStore

MODULE = Path(__file__).parent / "modules" / "table"


def test_a_module_that_is_not_a_pipeline_is_applied_with_its_variables(s3pipe_module_factory: ModuleFactory) -> None:
    stack = s3pipe_module_factory(MODULE, {"table_name": "Orders"})

    assert stack.outputs == {"table": "Orders", "bucket": "orders-files"}
    dynamodb = stack.client("dynamodb")
    dynamodb.put_item(TableName=stack.output("table"), Item={"id": {"S": "A-1"}})
    assert dynamodb.get_item(TableName="Orders", Key={"id": {"S": "A-1"}})["Item"]["id"] == {"S": "A-1"}
    stack.client("s3").put_object(Bucket=stack.output("bucket"), Key="k", Body=b"x")
    assert stack.endpoint.url is not None  # an emulator on loopback (the guard checked it before apply)


class Opener:
    """Module sessions of one module and variables, each under its own stack name, sharing a snapshot store."""

    def __init__(self, config: HarnessConfig, store: SnapshotStore) -> None:
        self.config = config
        self.store = store
        self.lines: list[str] = []
        self.sessions: list[ModuleSession] = []
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "main")

    def open(self, name: str) -> tuple[ModuleStack, list[str], float]:
        """The stack, its progress lines and the seconds its open took."""
        self.lines.clear()
        progress = Progress(write=self.lines.append)
        session = ModuleSession(
            self.config,
            progress,
            f"{name}-{self.worker}",
            MODULE,
            {"table_name": "Invoices"},
            guard=check_deployment,
            store=self.store,
        )
        self.sessions.append(session)
        started = time.monotonic()
        stack = session.open()
        seconds = time.monotonic() - started
        for line in self.lines:
            print(line)
        return stack, list(self.lines), seconds


def test_a_second_stack_of_the_same_module_restores_the_first_ones_snapshot(
    s3pipe_config: HarnessConfig, tmp_path: Path
) -> None:
    if not (s3pipe_config.snapshots and backend_class(s3pipe_config.backend).supports_snapshots):
        pytest.skip(f"snapshots are off, or backend {s3pipe_config.backend!r} has none")
    opener = Opener(s3pipe_config, SnapshotStore(tmp_path / "snapshots"))  # this test's own cache: a cold first open
    try:
        first, first_lines, first_seconds = opener.open("module-snap-first")
        second, second_lines, second_seconds = opener.open("module-snap-second")

        assert any("none usable for key" in line for line in first_lines)
        assert not any(line.split()[1:2] == ["apply"] for line in second_lines), second_lines
        [restore] = [line for line in second_lines if line.split()[1:2] == ["restore"]]
        assert "plan clean" in restore
        assert second.outputs == first.outputs == {"table": "Invoices", "bucket": "invoices-files"}
        assert second.endpoint.url != first.endpoint.url
        dynamodb = second.client("dynamodb")
        dynamodb.put_item(TableName=second.output("table"), Item={"id": {"S": "I-1"}})
        assert dynamodb.get_item(TableName="Invoices", Key={"id": {"S": "I-1"}})["Item"]["id"] == {"S": "I-1"}
        second.client("s3").put_object(Bucket=second.output("bucket"), Key="k", Body=b"x")
        assert second.client("s3").get_object(Bucket="invoices-files", Key="k")["Body"].read() == b"x"
        print(f"module stack: first open {first_seconds:.1f} s (apply + snapshot), restored {second_seconds:.1f} s")
    finally:
        for session in reversed(opener.sessions):
            session.close()
