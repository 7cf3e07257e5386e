"""Fixtures of the snapshot unit tests: nothing here needs an emulator, Terraform or the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3pipe.snapshots import SnapshotStore


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "cache" / "snapshots")
