"""The generic module stack: any module directory with its variables, raw outputs and ready clients."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from s3pipe.backends.health import probe_health
from s3pipe.backends.registry import backend_class
from s3pipe.config import HarnessConfig
from s3pipe.guard import check_deployment
from s3pipe.module_stack import ModuleSession, ModuleStack
from s3pipe.progress import Progress
from s3pipe.pytest_plugin import ModuleFactory
from s3pipe.session import stop_stack
from s3pipe.snapshots import SnapshotStore

MODULE = Path(__file__).parent / "modules" / "table"


def test_a_module_that_is_not_a_pipeline_is_applied_with_its_variables(s3pipe_module_factory: ModuleFactory) -> None:
    stack = s3pipe_module_factory(MODULE, {"table_name": "Orders"})
    prefix = f"{stack.name_prefix}-" if stack.name_prefix else ""  # AWS: this run's fresh prefix; emulators: none

    assert stack.outputs == {"table": f"{prefix}Orders", "bucket": f"{prefix}orders-files"}
    dynamodb = stack.client("dynamodb")
    dynamodb.put_item(TableName=stack.output("table"), Item={"id": {"S": "A-1"}})
    assert dynamodb.get_item(TableName=f"{prefix}Orders", Key={"id": {"S": "A-1"}})["Item"]["id"] == {"S": "A-1"}
    stack.client("s3").put_object(Bucket=stack.output("bucket"), Key="k", Body=b"x")
    if backend_class(stack.backend).is_emulator:
        assert stack.endpoint.url is not None  # an emulator on loopback (the guard checked it before apply)


class Opener:
    """Module sessions of one module, each under its own stack name, sharing a snapshot store (None: the default)."""

    def __init__(self, config: HarnessConfig, store: SnapshotStore | None) -> None:
        self.config = config
        self.store = store
        self.lines: list[str] = []
        self.sessions: list[ModuleSession] = []
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "main")

    def open(
        self, name: str, variables: Mapping[str, Any] | None = None, *, suffix: bool = True
    ) -> tuple[ModuleStack, list[str], float]:
        """The stack, its progress lines and the seconds its open took (``suffix``: the worker id appended)."""
        self.lines.clear()
        progress = Progress(write=self.lines.append)
        session = ModuleSession(
            self.config,
            progress,
            f"{name}-{self.worker}" if suffix else name,
            MODULE,
            variables or {"table_name": "Invoices"},
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
        [verified] = [line for line in first_lines if line.split()[1:2] == ["restore"]]
        assert verified.endswith(", plan clean")  # the snapshot's first restore, in the session that stored it
        [restore] = [line for line in second_lines if line.split()[1:2] == ["restore"]]
        assert restore.endswith(", its plan was clean when first restored")
        assert not any(line.split()[1:2] == ["plan"] for line in second_lines), second_lines
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


def test_a_kept_module_stack_is_attached_by_the_next_session_without_applying(s3pipe_config: HarnessConfig) -> None:
    if not backend_class(s3pipe_config.backend).supports_warm_reuse:
        pytest.skip(f"backend {s3pipe_config.backend!r} has no warm reuse")
    name = f"module-warm-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    kept = dataclasses.replace(s3pipe_config, keep=True, reuse=True)
    stop_stack(kept, name)  # one left by an interrupted run of this test
    opener = Opener(kept, None)  # the default snapshot cache, as a session has it
    endpoint_url: str | None = None
    try:
        first, _lines, first_seconds = opener.open(name, {"table_name": "Kept"}, suffix=False)
        endpoint_url = first.endpoint.url
        first.client("dynamodb").put_item(TableName=first.output("table"), Item={"id": {"S": "K-1"}})
        opener.sessions.pop().close()  # keep: left running, recorded

        opener.config = dataclasses.replace(kept, keep=False)
        second, second_lines, second_seconds = opener.open(name, {"table_name": "Kept"}, suffix=False)

        assert not any(line.split()[1:2] in (["apply"], ["restore"]) for line in second_lines), second_lines
        assert any(f"warm module stack {name!r}" in line and "unchanged" in line for line in second_lines)
        assert second.endpoint.url == endpoint_url
        assert second.outputs == first.outputs == {"table": "Kept", "bucket": "kept-files"}
        item = second.client("dynamodb").get_item(TableName="Kept", Key={"id": {"S": "K-1"}})
        assert item["Item"]["id"] == {"S": "K-1"}
        print(f"module stack: first open {first_seconds:.1f} s, reused warm {second_seconds:.1f} s")
    finally:
        for session in reversed(opener.sessions):
            session.close()
        stopped = stop_stack(kept, name)
    assert stopped  # the attached session left it running; `s3pipe down` stops it
    assert endpoint_url is not None
    deadline = time.monotonic() + 30
    while probe_health(endpoint_url).healthy and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not probe_health(endpoint_url).healthy, f"{endpoint_url} still answers after stop_stack"
