"""Nothing outlives the run: every stack is closed when one close fails, and SIGTERM/SIGINT tear down.

The pytest runs here are child processes (``python -m pytest``) of a throwaway project whose conftest
replaces the ``aws`` backend and Terraform with stand-ins that record to files: what is asserted is what
the plugin does, in a real pytest (and pytest-xdist) process receiving a real signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from s3pipe.teardown import Interrupts, TeardownFailed, close_all

# ---------------------------------------------------------------------------- close_all


def test_every_step_runs_when_one_fails_and_the_failure_is_raised_as_it_is() -> None:
    ran: list[str] = []

    def failing() -> None:
        ran.append("b")
        raise RuntimeError("destroy of b failed")

    with pytest.raises(RuntimeError, match="destroy of b failed"):
        close_all([("a", lambda: ran.append("a")), ("b", failing), ("c", lambda: ran.append("c"))])
    assert ran == ["a", "b", "c"]


def test_several_failures_are_all_named() -> None:
    def fail(message: str) -> Callable[[], None]:
        def step() -> None:
            raise RuntimeError(message)

        return step

    with pytest.raises(TeardownFailed) as raised:
        close_all([("stack 'a'", fail("first\nits detail")), ("stack 'b'", fail("second")), ("c", lambda: None)])
    message = str(raised.value)
    assert "2 teardown steps failed (every step was run)" in message
    assert "stack 'a': RuntimeError: first" in message
    assert "  its detail" in message
    assert "stack 'b': RuntimeError: second" in message


# ---------------------------------------------------------------------------- Interrupts, in this process


def test_a_signal_raises_keyboard_interrupt_once_then_is_held() -> None:
    said: list[str] = []
    interrupts = Interrupts(say=said.append, hint="`s3pipe aws sweep --run r1 --yes`")
    assert interrupts.install()
    try:
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)  # Python runs the handler as soon as the call returns
        os.kill(os.getpid(), signal.SIGINT)  # a second one while tearing down: held, said
    finally:
        interrupts.uninstall()
    assert interrupts.pending == "SIGINT"
    assert "SIGINT: held while the stacks are being destroyed" in said[-1]
    assert "s3pipe aws sweep --run r1" in said[-1]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_signal_while_held_is_raised_after_the_block() -> None:
    interrupts = Interrupts(say=lambda _line: None)
    assert interrupts.install()
    finished: list[str] = []

    def destroy_while_signalled() -> None:
        with interrupts.held():
            os.kill(os.getpid(), signal.SIGTERM)
            finished.append("destroy completed")  # not cut short

    try:
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            destroy_while_signalled()
    finally:
        interrupts.uninstall()
    assert finished == ["destroy completed"]


# ---------------------------------------------------------------------------- the plugin, in a child pytest

CONFTEST = """
import os
import time
from pathlib import Path
from typing import ClassVar

import pytest

from s3pipe.backends import registry
from s3pipe.backends.base import Backend, Capability, Credentials, Endpoint, Health
from s3pipe.deploy import Deployer
from s3pipe import module_stack
from s3pipe.stack import Stack

LOG = Path(os.environ["S3PIPE_TEST_LOG"])


def log(line):
    with LOG.open("a") as handle:
        handle.write(line + "\\n")


class FakeAws(Backend):
    name: ClassVar[str] = "aws"
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    is_emulator: ClassVar[bool] = False

    @classmethod
    def from_config(cls, config, progress, *, port=None):
        return cls()

    def start(self):
        return Endpoint(None, "eu-west-1", Credentials("AKIAEXAMPLE", "secret"), account_id="123456789012")

    def health(self):
        return Health(True, "fake")

    def stop(self):
        pass


registry.BACKEND_CLASSES["aws"] = FakeAws


def deploy(self, stack_name, backend, endpoint, settings, extra_files=None):
    log(f"deployed {stack_name} run={self.config.run_id} pid={os.getpid()}")
    return Stack(stack_name, None, endpoint, "aws", frozenset())


def destroy(self, stack_name, endpoint, *, run_id=None):
    time.sleep(float(os.environ.get("S3PIPE_TEST_DESTROY_S", "0")))
    log(f"destroyed {stack_name}")
    if stack_name in os.environ.get("S3PIPE_TEST_FAILING", "").split(","):
        raise RuntimeError(f"destroy of {stack_name} failed")


Deployer.deploy = deploy
Deployer.destroy = destroy


class FakeModuleSession:
    def __init__(self, config, progress, stack_name, module_dir, variables=None, **kwargs):
        self.stack_name = stack_name

    def open(self):
        log(f"opened {self.stack_name}")
        return self.stack_name

    def close(self):
        log(f"closed {self.stack_name}")
        if self.stack_name in os.environ.get("S3PIPE_TEST_FAILING", "").split(","):
            raise RuntimeError(f"close of {self.stack_name} failed")


import s3pipe.pytest_plugin as plugin

plugin.ModuleSession = FakeModuleSession
"""

WAITING_TEST = """
import os
import time
from pathlib import Path


def test_waits_for_a_signal(s3pipe_stack):
    Path(os.environ["S3PIPE_TEST_LOG"]).with_suffix(f".ready-{os.getpid()}").write_text("ready")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.1)
"""


def child_env(log: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3PIPE_", "PYTEST_ADDOPTS", "PYTEST_XDIST"))}
    env.update({"S3PIPE_TEST_LOG": str(log), "PYTHONDONTWRITEBYTECODE": "1", **extra})
    return env


def project(tmp_path: Path, **tests: str) -> Path:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for name, source in tests.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return tmp_path / "log.txt"


def pytest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--s3pipe-backend", "aws", *args]


def wait_for(path_glob: Callable[[], list[Path]], count: int, process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while len(path_glob()) < count:
        if process.poll() is not None or time.monotonic() > deadline:
            output = process.communicate()[0] if process.poll() is not None else "(still running)"
            raise AssertionError(f"{what} not seen; child output:\n{output}")
        time.sleep(0.05)


def test_a_failing_close_does_not_stop_the_other_module_stacks(tmp_path: Path) -> None:
    log = project(
        tmp_path,
        test_modules="""
        def test_three_module_stacks(s3pipe_module_factory):
            for name in ("first", "second", "third"):
                s3pipe_module_factory("modules/x", name=name)
        """,
    )
    done = subprocess.run(
        pytest_command("-q", "-n", "0"),
        cwd=tmp_path,
        env=child_env(log, S3PIPE_TEST_FAILING="third"),  # closed first (reverse order)
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = log.read_text().splitlines()
    assert [line for line in lines if line.startswith("closed")] == ["closed third", "closed second", "closed first"]
    assert "close of third failed" in done.stdout
    assert done.returncode != 0


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_the_session_destroys_the_stack(tmp_path: Path, signal_number: int) -> None:
    log = project(tmp_path, test_wait=WAITING_TEST)
    process = subprocess.Popen(
        pytest_command("-q", "-n", "0", "-s"),
        cwd=tmp_path,
        env=child_env(log, S3PIPE_TEST_DESTROY_S="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: list(tmp_path.glob("log.ready-*")), 1, process, "the test running")
        process.send_signal(signal_number)
        time.sleep(0.3)
        process.send_signal(signal_number)  # impatient: a second one while the destroy runs is held
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
    lines = log.read_text().splitlines()
    assert lines[0].startswith("deployed pytest run=r")
    assert lines[-1] == "destroyed pytest", output
    assert "held while the stacks are being destroyed" in output
    assert process.returncode == pytest.ExitCode.INTERRUPTED


def test_sigterm_to_the_xdist_controller_destroys_every_workers_stack_under_one_run_id(tmp_path: Path) -> None:
    log = project(tmp_path, test_wait=WAITING_TEST, test_wait_too=WAITING_TEST)
    process = subprocess.Popen(
        pytest_command("-q", "-n", "2"),
        cwd=tmp_path,
        env=child_env(log, S3PIPE_TEST_DESTROY_S="12"),  # longer than pytest-xdist's own 10 s exit timeout
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: list(tmp_path.glob("log.ready-*")), 2, process, "both workers running")
        process.send_signal(signal.SIGTERM)  # the controller only, as a CI runner cancelling a job may
        output = process.communicate(timeout=120)[0]
    finally:
        if process.poll() is None:
            process.kill()
    lines = log.read_text().splitlines()
    deployed = sorted(line.split()[1] for line in lines if line.startswith("deployed"))
    runs = {line.split()[2] for line in lines if line.startswith("deployed")}
    assert deployed == ["pytest-gw0", "pytest-gw1"]
    assert len(runs) == 1, f"the workers tagged with different run ids: {runs}"
    assert sorted(line for line in lines if line.startswith("destroyed")) == [
        "destroyed pytest-gw0",
        "destroyed pytest-gw1",
    ], output
