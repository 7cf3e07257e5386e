"""``s3pipe snapshot key|list|prune``."""

from __future__ import annotations

import pytest

from s3pipe import cli
from s3pipe.config import HarnessConfig
from s3pipe.snapshots import SnapshotStore
from s3pipe.snapshots.inputs import default_key_parts

from .fakes import content, parts


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert cli.main(["snapshot", *argv]) == 0
    return capsys.readouterr().out.splitlines()


def test_key_prints_the_default_stacks_key(project: HarnessConfig, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "key") == [default_key_parts(project).key]


def test_an_unknown_action_is_refused(project: HarnessConfig, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["snapshot", "drop"])
    assert "invalid choice: 'drop'" in capsys.readouterr().err


def test_list_marks_the_current_key_and_says_why_others_are_unusable(
    project: HarnessConfig, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = SnapshotStore(project.cache_dir / "snapshots")
    assert run(capsys, "list") == [f"no snapshots in {store.root}"]
    current = default_key_parts(project)
    store.save(current, content(tmp_path_factory.mktemp("a")))
    store.save(parts(), content(tmp_path_factory.mktemp("b")))
    (store.path_for(parts().key) / "manifest.json").unlink()

    lines = run(capsys, "list")

    assert lines[0] == f"snapshots in {store.root} (* = the current key):"
    current_line = next(line for line in lines if current.key in line)
    assert current_line.startswith(f"* {current.key}")
    assert "from stack 'pytest-gw0'  ministack 1.5.33, terraform 1.11.4" in current_line
    other_line = next(line for line in lines if parts().key in line)
    assert other_line.startswith(f"  {parts().key}")
    assert other_line.endswith("unusable: half-written (no manifest.json)")


def test_prune_keeps_the_current_key_unless_all(
    project: HarnessConfig, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = SnapshotStore(project.cache_dir / "snapshots")
    current = default_key_parts(project)
    store.save(current, content(tmp_path_factory.mktemp("a")))
    store.save(parts(), content(tmp_path_factory.mktemp("b")))

    lines = run(capsys, "prune")

    assert lines == [
        f"removed {parts().key}: not the current key",
        f"1 removed from {store.root}; kept the current key {current.key}",
    ]
    assert [entry.key for entry in store.entries()] == [current.key]
    assert run(capsys, "prune", "--all")[-1] == f"1 removed from {store.root}"
    assert store.entries() == []
