"""Retention of the embedded emulator's per-run logs: the newest runs are kept, running ones never pruned."""

from __future__ import annotations

import os
from pathlib import Path

from s3pipe.backends.run_logs import pid_file, prune_runs, runs


def make_run(log_dir: Path, port: int, age: int, pid: int | None = None) -> list[Path]:
    """The files of a run on ``port``, last written ``age`` minutes ago."""
    files = [log_dir / f"ministack-{port}.log", log_dir / f"gateway-{port}.jsonl", log_dir / f"gateway-{port}.jsonl.1"]
    if pid is not None:
        files.append(pid_file(log_dir, port))
    for path in files:
        path.write_text(f"{pid}\n" if path.name.startswith("run-") else "x\n")
        stamp = 1_800_000_000 - age * 60
        os.utime(path, (stamp, stamp))
    return files


def test_the_newest_runs_are_kept_and_the_others_removed(tmp_path: Path) -> None:
    for index, port in enumerate((4001, 4002, 4003, 4004)):
        make_run(tmp_path, port, age=index)  # 4001 is the newest
    (tmp_path / "notes.txt").write_text("not a run file")

    pruned = prune_runs(tmp_path, keep=2, alive=lambda pid: False)

    assert sorted(run.port for run in pruned) == [4003, 4004]
    assert [run.port for run in runs(tmp_path)] == [4001, 4002]
    assert not list(tmp_path.glob("*-4003.*"))
    assert not list(tmp_path.glob("*-4004.*"))
    assert (tmp_path / "notes.txt").exists()


def test_a_running_run_is_never_pruned_however_old(tmp_path: Path) -> None:
    make_run(tmp_path, 5001, age=0)
    make_run(tmp_path, 5002, age=10, pid=111)  # a kept warm emulator: alive
    make_run(tmp_path, 5003, age=20, pid=222)  # its supervisor died without cleaning up

    pruned = prune_runs(tmp_path, keep=1, alive=lambda pid: pid == 111)

    assert [run.port for run in pruned] == [5003]
    assert sorted(run.port for run in runs(tmp_path)) == [5001, 5002]
    assert pid_file(tmp_path, 5002).exists()


def test_nothing_to_prune_in_a_missing_directory(tmp_path: Path) -> None:
    assert prune_runs(tmp_path / "none", keep=0) == []
