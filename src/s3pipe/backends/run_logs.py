"""Per-run logs of the embedded emulator under ``<state_dir>/logs``: naming, liveness, retention.

Every emulator start is a *run*, named by its port: ``ministack-<port>.log``, the gateway journal
``gateway-<port>.jsonl`` (and its rotated ``.1``) and, while it runs, ``run-<port>.pid`` naming the
supervisor's process. :func:`prune_runs` keeps the newest runs and never touches a running one
(a warm emulator kept for reuse is running), so the directory stays bounded across sessions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from s3pipe.backends.probes import pid_alive

#: Runs kept by default (the newest, by their files' modification time); running ones are kept besides.
DEFAULT_KEEP_RUNS = 20
_RUN_FILE = re.compile(r"^(?:ministack-(?P<a>\d+)\.log|gateway-(?P<b>\d+)\.jsonl(?:\.\d+)?|run-(?P<c>\d+)\.pid)$")


def pid_file(log_dir: Path, port: int) -> Path:
    """The marker that says the run on ``port`` is alive (written at start, removed at stop)."""
    return log_dir / f"run-{port}.pid"


@dataclass
class Run:
    """The files of one emulator run."""

    port: int
    files: list[Path] = field(default_factory=list)

    @property
    def newest(self) -> float:
        return max((path.stat().st_mtime for path in self.files if path.exists()), default=0.0)

    def running(self, alive: Callable[[int], bool]) -> bool:
        marker = next((path for path in self.files if path.name.startswith("run-")), None)
        if marker is None:
            return False
        try:
            return alive(int(marker.read_text().strip()))
        except (OSError, ValueError):
            return False


def runs(log_dir: Path) -> list[Run]:
    """The runs whose files are in ``log_dir``, newest first."""
    found: dict[int, Run] = {}
    for path in log_dir.iterdir() if log_dir.is_dir() else ():
        match = _RUN_FILE.match(path.name)
        if match and path.is_file():
            port = int(match.group("a") or match.group("b") or match.group("c"))
            found.setdefault(port, Run(port)).files.append(path)
    return sorted(found.values(), key=lambda run: run.newest, reverse=True)


def prune_runs(log_dir: Path, keep: int = DEFAULT_KEEP_RUNS, alive: Callable[[int], bool] = pid_alive) -> list[Run]:
    """Delete the files of every run but the newest ``keep`` and the running ones; returns the pruned runs."""
    pruned: list[Run] = []
    for index, run in enumerate(runs(log_dir)):
        if index < keep or run.running(alive):
            continue
        for path in run.files:
            path.unlink(missing_ok=True)
        pruned.append(run)
    return pruned
