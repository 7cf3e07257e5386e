"""The embedded emulator's supervisor, run for real on a harmless child that spawns a grandchild.

The contract: SIGTERM, or EOF on stdin with ``--watch-stdin``, ends the child *and* everything it
spawned; a ``detach`` line hands them over (they keep running); the supervisor exits with the
child's exit code. Process disappearance is polled with a deadline, never waited for with sleeps.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3pipe.backends import supervisor
from s3pipe.backends.embedded import SUPERVISOR

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX")

#: Marks every process these tests start, so cleanup can never touch anything else.
MARKER = "s3pipe-supervisor-unit-test"
GRANDCHILD = f"import time  # {MARKER}\ntime.sleep(300)"
CHILD = f"""# {MARKER}
import os, subprocess, sys
grandchild = subprocess.Popen([sys.executable, "-c", {GRANDCHILD!r}])
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as handle:
    handle.write(f"{{os.getpid()}} {{grandchild.pid}}")
os.replace(tmp, sys.argv[1])
sys.exit(grandchild.wait())
"""
#: A child that ignores SIGTERM and ends once its grandchild has ended (reaping it): only the group-wide
#: signal can end the grandchild, and no orphan is left for init to reap (which may take a while).
#: (SIGTERM is ignored only after the grandchild started: an ignored signal stays ignored across exec.)
REAPING_CHILD = CHILD.replace(
    "tmp = sys.argv[1]", "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntmp = sys.argv[1]"
)
DEADLINE = 15.0


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an orphan may wait a while to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in {"Z", "X"}
    return True


def ours(pid: int) -> bool:
    try:
        return MARKER in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def wait_until(condition: object, what: str, deadline: float = DEADLINE) -> None:
    assert callable(condition)
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out after {deadline:.0f} s waiting for {what}"
        time.sleep(0.01)


class Run:
    """One supervisor run; knows the pids of its child and grandchild once they are up."""

    def __init__(
        self, tmp_path: Path, *, watch_stdin: bool, command: list[str] | None = None, child: str = CHILD
    ) -> None:
        self.pidfile = tmp_path / f"pids-{time.monotonic_ns()}"
        argv = [sys.executable, str(SUPERVISOR)]
        if watch_stdin:
            argv.append("--watch-stdin")
        argv += ["--", *(command or [sys.executable, "-c", child, str(self.pidfile)])]
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if watch_stdin else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.child = 0
        self.grandchild = 0

    def wait_for_family(self) -> None:
        wait_until(self.pidfile.exists, "the child to write its pid file")
        self.child, self.grandchild = (int(pid) for pid in self.pidfile.read_text().split())
        assert running(self.child)
        assert running(self.grandchild)

    def family_gone(self) -> bool:
        return not running(self.child) and not running(self.grandchild)

    def cleanup(self) -> None:
        for pid in (self.grandchild, self.child):
            if pid and running(pid) and ours(pid):
                os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=DEADLINE)
        if self.process.stdin:
            self.process.stdin.close()
        if self.process.stderr:
            self.process.stderr.close()


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        run.cleanup()


def start(
    runs: list[Run], tmp_path: Path, *, watch_stdin: bool, command: list[str] | None = None, child: str = CHILD
) -> Run:
    run = Run(tmp_path, watch_stdin=watch_stdin, command=command, child=child)
    runs.append(run)
    return run


def test_sigterm_reaps_child_and_grandchild(runs: list[Run], tmp_path: Path) -> None:
    run = start(runs, tmp_path, watch_stdin=False)
    run.wait_for_family()

    run.process.send_signal(signal.SIGTERM)

    wait_until(run.family_gone, "child and grandchild to end after SIGTERM")


def test_sigterm_stops_promptly_when_the_group_obeys(runs: list[Run], tmp_path: Path) -> None:
    """No waiting out the SIGKILL grace period once every process of the group has ended."""
    run = start(runs, tmp_path, watch_stdin=False, child=REAPING_CHILD)
    run.wait_for_family()
    started = time.monotonic()

    run.process.send_signal(signal.SIGTERM)

    with contextlib.suppress(subprocess.TimeoutExpired):
        run.process.wait(timeout=supervisor.GRACE_SECONDS / 2)
    assert run.process.poll() is not None, f"still stopping after {time.monotonic() - started:.1f} s"
    assert run.family_gone()


def test_eof_on_stdin_reaps_child_and_grandchild(runs: list[Run], tmp_path: Path) -> None:
    run = start(runs, tmp_path, watch_stdin=True)
    run.wait_for_family()
    assert run.process.stdin is not None

    run.process.stdin.write(b"not a command\n")
    run.process.stdin.close()  # what happens when the harness that started it dies

    wait_until(run.family_gone, "child and grandchild to end after stdin EOF")


def test_detach_then_eof_leaves_the_emulator_running(runs: list[Run], tmp_path: Path) -> None:
    run = start(runs, tmp_path, watch_stdin=True)
    run.wait_for_family()
    assert run.process.stdin is not None

    run.process.stdin.write(b"detach\n")
    run.process.stdin.close()

    # Proving that nothing happens needs a window: EOF without `detach` reaps within milliseconds.
    window_end = time.monotonic() + 0.5
    while time.monotonic() < window_end:
        assert run.process.poll() is None, "the supervisor ended after detach"
        assert running(run.child), "the child was stopped after detach"
        assert running(run.grandchild), "the grandchild was stopped after detach"
        time.sleep(0.02)

    # handed over, but still supervised: when the emulator ends, its workers are reaped with it
    os.kill(run.child, signal.SIGKILL)
    wait_until(run.family_gone, "the grandchild to be reaped after the child ended")


@pytest.mark.parametrize("watch_stdin", [False, True])
def test_supervisor_exits_with_the_childs_exit_code(runs: list[Run], tmp_path: Path, watch_stdin: bool) -> None:
    run = start(runs, tmp_path, watch_stdin=watch_stdin, command=[sys.executable, "-c", "raise SystemExit(7)"])
    assert run.process.wait(timeout=DEADLINE) == 7


def test_child_exit_reaps_what_it_left_behind(runs: list[Run], tmp_path: Path) -> None:
    orphan_file = tmp_path / "orphan"
    leaver = (
        f"# {MARKER}\nimport os, subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-c', {GRANDCHILD!r}])\n"
        f"open({str(orphan_file)!r} + '.tmp', 'w').write(str(p.pid))\n"
        f"os.replace({str(orphan_file)!r} + '.tmp', {str(orphan_file)!r})\n"
        "sys.exit(0)\n"
    )
    run = start(runs, tmp_path, watch_stdin=False, command=[sys.executable, "-c", leaver])
    wait_until(orphan_file.exists, "the child to start its worker")
    run.grandchild = int(orphan_file.read_text())
    wait_until(lambda: not running(run.grandchild), "the worker the child left behind to be ended")


def test_usage_error_without_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert supervisor.main(["--watch-stdin"]) == 2
    assert "usage: supervisor.py" in capsys.readouterr().err
