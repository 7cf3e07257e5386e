"""pytest plugin (``pytest11`` entry point ``s3pipe``): options, session stack, per-test pipeline helper.

Fixtures
    ``s3pipe_config``   the resolved :class:`~s3pipe.config.HarnessConfig` (session)
    ``s3pipe_stack``    the deployed :class:`~s3pipe.stack.Stack`: started/applied once per session
                        (per xdist worker), reused warm when possible
    ``s3pipe_observer`` the session's log and DLQ readers for that stack
    ``key_prefix``      a unique S3 key prefix for the current test
    ``pipeline``        a :class:`~s3pipe.pipeline.Pipeline` bound to the stack and the test's prefix
    ``s3pipe_stack_factory``  deploy extra stacks (other settings) on the session's backend
    ``s3pipe_gateway``  the :class:`~s3pipe.gateway.GatewayClient` of the stack's function gateway
                        (fault plans, call journal); skips where the backend has none

Real AWS (a backend that is not an emulator): SIGTERM ends the run like Ctrl-C, so the session's
stacks are destroyed; signals that arrive while they are being destroyed are held (:mod:`s3pipe.teardown`).
An xdist controller hands the signal to its workers (their pids under ``<state_dir>/runs/<run id>/``)
and waits for them to tear down.
Every teardown loop closes every stack even when one fails. xdist workers share their controller's run
id (the ``s3pipe:run`` tag), and tests marked ``slow`` are skipped there unless selected (``-m slow``).

IAM audit (``--s3pipe-iam-audit``, on by default): at session end every AWS call the function
made is checked against its role's policy as deployed (:mod:`s3pipe.iam`); the report is
printed in the terminal summary and a call outside the policy fails the run.

Markers
    ``@pytest.mark.requires(Capability.X, ...)`` skip, with the reason, where the backend lacks X
    ``@pytest.mark.clean_stack``  purge queues and table before the test
    ``@pytest.mark.iam_expected_denial(action, resource, reason=...)``  the test makes the function
        attempt a call its role does not allow, on purpose: the IAM audit reports it as expected
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest

from s3pipe.aws.run import sweep_command
from s3pipe.backends.base import Capability
from s3pipe.config import OPTIONS, HarnessConfig, Option
from s3pipe.errors import HarnessError
from s3pipe.gateway.client import GatewayClient
from s3pipe.guard import check_deployment
from s3pipe.iam.audit import AuditResult, audit_session, failed, journal_mark, summary_lines
from s3pipe.iam.report import ExpectedDenial
from s3pipe.ini import IniFile, section_for, strip_inline_comment
from s3pipe.module_stack import ModuleSession, ModuleStack
from s3pipe.observe import StackObserver
from s3pipe.pipeline import Pipeline
from s3pipe.progress import Progress
from s3pipe.region import choose_region
from s3pipe.session import StackSession
from s3pipe.stack import Stack
from s3pipe.teardown import Interrupts, Step, close_all

#: ``s3pipe_module_factory``: module dir, variables, stack name -> the applied module.
ModuleFactory = Callable[..., ModuleStack]

_CONFIG_KEY = pytest.StashKey[HarnessConfig]()
_STACK_KEY = pytest.StashKey[Stack]()
_AUDIT_KEY = pytest.StashKey[list[AuditResult]]()
#: Where each stack's gateway journal stood when the stack was opened (by stack name): its audit starts there.
_MARKS_KEY = pytest.StashKey[dict[str, int]]()
_INTERRUPTS_KEY = pytest.StashKey[Interrupts]()
_WORKER_AUDIT = "s3pipe_iam_audit"
_WORKER_RUN_ID = "s3pipe_run_id"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("s3pipe", "s3-event-pipeline harness (flag > ini > S3PIPE_* env > default)")
    for option in OPTIONS:
        if option.kind == "bool":
            group.addoption(
                option.flag,
                action="store_const",
                const="1",
                default=None,
                dest=option.ini,
                help=f"{option.help} [env {option.env}]",
            )
            group.addoption(
                option.flag.replace("--s3pipe-", "--s3pipe-no-"),
                action="store_const",
                const="0",
                dest=option.ini,
                help=f"disable {option.flag}",
            )
        else:
            group.addoption(option.flag, default=None, dest=option.ini, help=f"{option.help} [env {option.env}]")
        parser.addini(option.ini, help=option.help, default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(*capabilities): the test needs these backend capabilities (s3pipe.Capability)"
    )
    config.addinivalue_line("markers", "clean_stack: purge the stack's queues and table before this test")
    config.addinivalue_line(
        "markers",
        "iam_expected_denial(action, resource, reason=''): the test makes the function attempt this call on "
        "purpose although its role does not allow it (IAM wildcards); the IAM audit reports it, the run passes",
    )
    config.addinivalue_line(
        "markers",
        "aws_semantics(*capabilities): the test asserts AWS behaviour; on a backend known to differ it runs "
        "as a strict xfail that names the difference",
    )

    inipath = Path(str(config.inipath)) if config.inipath else None
    ini = IniFile(inipath, section_for(inipath)) if inipath else None

    def lookup(option: Option) -> tuple[str, str] | None:
        value = config.getoption(option.ini, default=None)
        if value is not None:
            return str(value), option.flag
        ini_value = config.getini(option.ini)
        if ini_value in (None, "", []):
            return None
        return strip_inline_comment(str(ini_value)), ini.where(option.ini) if ini else f"ini {option.ini}"

    try:
        harness = HarnessConfig.resolve(Path(str(config.rootpath)), lookup, settings_file=inipath)
    except ValueError as error:
        raise pytest.UsageError(f"s3pipe: {error}") from None
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput and workerinput.get(_WORKER_RUN_ID):  # one run, one id: the controller's
        harness = harness.with_overrides(run_id=str(workerinput[_WORKER_RUN_ID]))
    config.stash[_CONFIG_KEY] = harness
    _hold_interrupts_on_real_resources(config, harness)


def _hold_interrupts_on_real_resources(config: pytest.Config, harness: HarnessConfig) -> None:
    """On a backend whose stacks outlive the process: SIGTERM/SIGINT tear down, and wait for the destroys."""
    from s3pipe.backends.registry import BACKEND_CLASSES  # local: keeps optional backends lazy

    cls = BACKEND_CLASSES.get(harness.backend)
    if cls is None or cls.is_emulator:
        return
    workers = harness.path(harness.state_dir) / "runs" / harness.run_id
    interrupts = Interrupts(
        hint=f"`{sweep_command(harness.run_id)}` deletes what is left",
        forward=lambda number: _forward_to_workers(config, workers, number),
    )
    if interrupts.install():
        config.stash[_INTERRUPTS_KEY] = interrupts
    worker = _worker_id(config)
    if worker != "main":  # the controller signals its workers by these pids
        workers.mkdir(parents=True, exist_ok=True)
        (workers / f"worker-{worker}.pid").write_text(str(os.getpid()))
        config.add_cleanup(lambda: (workers / f"worker-{worker}.pid").unlink(missing_ok=True))
    else:
        config.add_cleanup(lambda: _remove_if_empty(workers))


def _remove_if_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):
        directory.rmdir()


def _forward_to_workers(config: pytest.Config, workers: Path, number: int) -> bool:
    """xdist controller: send the signal to every live worker of this run (they hold the stacks); True if any."""
    if config.pluginmanager.get_plugin("dsession") is None:
        return False
    sent = False
    for pid_file in sorted(workers.glob("worker-*.pid")):
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), number)
            sent = True
    return sent


def pytest_unconfigure(config: pytest.Config) -> None:
    interrupts = config.stash.get(_INTERRUPTS_KEY, None)
    if interrupts is not None:
        interrupts.uninstall()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: every worker tags with this run's id."""
    node.workerinput[_WORKER_RUN_ID] = _harness_config(node.config).run_id


def _held(config: pytest.Config) -> AbstractContextManager[None]:
    """Signals held while the stacks close (a no-op where interrupts are not taken over)."""
    interrupts = config.stash.get(_INTERRUPTS_KEY, None)
    return interrupts.held() if interrupts is not None else nullcontext()


def _harness_config(config: pytest.Config) -> HarnessConfig:
    return config.stash[_CONFIG_KEY]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The session header: where the stack runs, which module, and which region and why."""
    harness = _harness_config(config)
    module = harness.path(harness.infra_dir)
    return [f"s3pipe: backend {harness.backend}, module {module}, region {choose_region(harness, module)}"]


def _backend_capabilities(name: str) -> frozenset[Capability]:
    from s3pipe.backends.registry import backend_class  # local: keeps optional backends lazy

    return backend_class(name).capabilities


def _skips_slow_tests(config: pytest.Config, name: str) -> bool:
    """The backend skips ``slow`` tests unless the ``-m`` expression names them."""
    from s3pipe.backends.registry import backend_class  # local: keeps optional backends lazy

    return backend_class(name).skips_slow_tests and "slow" not in str(config.getoption("markexpr", "") or "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``aws_semantics(X)`` still run where the backend lacks X, as strict xfails.

    The test then documents the difference instead of hiding it: if the emulator starts to
    behave like AWS, the strict xfail fails and the marker (and README) must be updated.
    """
    harness = _harness_config(config)
    try:
        available = _backend_capabilities(harness.backend)
        skip_slow = _skips_slow_tests(config, harness.backend)
    except HarnessError:
        return
    for item in items:
        if skip_slow and item.get_closest_marker("slow") is not None:
            reason = f"backend {harness.backend!r}: slow tests run minutes of billed resources; select them: -m slow"
            item.add_marker(pytest.mark.skip(reason=reason))
        needed = [c for marker in item.iter_markers("requires") for c in marker.args]
        if missing_needed := _missing(needed, available):
            item.add_marker(pytest.mark.skip(reason=_skip_reason(harness.backend, missing_needed)))
        for marker in item.iter_markers("aws_semantics"):
            missing = [capability for capability in marker.args if capability not in available]
            if missing:
                details = "; ".join(c.value for c in missing)
                item.add_marker(
                    pytest.mark.xfail(strict=True, reason=f"backend {harness.backend!r} differs from AWS: {details}")
                )


def _missing(needed: list[Capability], available: frozenset[Capability]) -> list[Capability]:
    return [capability for capability in needed if capability not in available]


def _skip_reason(backend: str, missing: list[Capability]) -> str:
    details = "; ".join(f"{c.name} ({c.value})" for c in missing)
    return f"backend {backend!r} does not provide: {details}"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Second look for attached endpoints: their capabilities are known once the stack is up."""
    stack: Stack | None = item.config.stash.get(_STACK_KEY, None)
    if stack is None:
        return
    needed = [c for marker in item.iter_markers("requires") for c in marker.args]
    missing = _missing(needed, stack.capabilities)
    if missing:
        pytest.skip(_skip_reason(stack.backend, missing))


def _worker_id(config: pytest.Config) -> str:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"


def _progress(config: pytest.Config) -> Progress:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    worker = _worker_id(config)
    prefix = "[s3pipe]" if worker == "main" else f"[s3pipe {worker}]"
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and worker == "main":

        def write(line: str) -> None:
            # progress lines belong on the terminal even while fixture output is being captured
            reporter.ensure_newline()
            if capture is not None:
                with capture.global_and_fixture_disabled():
                    reporter.write_line(line)
            else:
                reporter.write_line(line)

        return Progress(write=write, prefix=prefix)
    return Progress(prefix=prefix)  # xdist workers: stderr shows with -s or in the failure report


@pytest.fixture(scope="session")
def s3pipe_config(pytestconfig: pytest.Config) -> HarnessConfig:
    return _harness_config(pytestconfig)


@pytest.fixture(scope="session")
def s3pipe_session(
    request: pytest.FixtureRequest, pytestconfig: pytest.Config, s3pipe_config: HarnessConfig
) -> Iterator[StackSession]:
    """The session's stack lifecycle; one stack per xdist worker so workers never collide."""
    worker = _worker_id(pytestconfig)
    name = os.environ.get("S3PIPE_STACK_NAME") or ("pytest" if worker == "main" else f"pytest-{worker}")
    session = StackSession(s3pipe_config, _progress(pytestconfig), name, guard=check_deployment)
    try:
        yield session
    finally:
        with _held(pytestconfig):
            close_all(_closing(pytestconfig, s3pipe_config, session, request.session))


@pytest.fixture(scope="session")
def s3pipe_stack(pytestconfig: pytest.Config, s3pipe_session: StackSession) -> Stack:
    try:
        stack = s3pipe_session.open()
    except HarnessError as error:
        pytest.exit(f"s3pipe could not provide a stack:\n{error}", returncode=3)
    pytestconfig.stash[_STACK_KEY] = stack
    _mark_journal(pytestconfig, stack)
    return stack


@pytest.fixture(scope="session")
def s3pipe_observer(s3pipe_stack: Stack) -> StackObserver:
    return StackObserver(s3pipe_stack)


@pytest.fixture
def key_prefix(request: pytest.FixtureRequest) -> str:
    """``t/<test name>-<random>/``: unique per test and per run, so warm stacks never mix runs."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name).strip("-")[:60]
    return f"t/{name}-{secrets.token_hex(3)}/"


@pytest.fixture
def pipeline(
    request: pytest.FixtureRequest, s3pipe_stack: Stack, s3pipe_observer: StackObserver, key_prefix: str
) -> Pipeline:
    helper = Pipeline(s3pipe_stack, s3pipe_observer, key_prefix)
    if request.node.get_closest_marker("clean_stack") is not None:
        helper.purge()
    return helper


@pytest.fixture(scope="session")
def s3pipe_stack_factory(
    request: pytest.FixtureRequest, pytestconfig: pytest.Config, s3pipe_config: HarnessConfig
) -> Iterator[Callable[..., Stack]]:
    """Deploy more stacks with other settings, e.g. ``factory("chaos", extra_environment={...})``."""
    sessions: list[StackSession] = []

    def factory(name: str, **settings: Any) -> Stack:
        worker = _worker_id(pytestconfig)
        stack_name = name if worker == "main" else f"{name}-{worker}"
        extra_files = settings.pop("extra_files", None)
        session = StackSession(
            s3pipe_config,
            _progress(pytestconfig),
            stack_name,
            settings,
            guard=check_deployment,
            extra_files=extra_files,
        )
        sessions.append(session)
        stack = session.open()
        _mark_journal(pytestconfig, stack)
        return stack

    yield factory
    with _held(pytestconfig):
        close_all(
            step
            for session in reversed(sessions)
            for step in _closing(pytestconfig, s3pipe_config, session, request.session)
        )


@pytest.fixture(scope="session")
def s3pipe_module_factory(pytestconfig: pytest.Config, s3pipe_config: HarnessConfig) -> Iterator[ModuleFactory]:
    """Apply any module directory with variables on the configured backend: raw outputs and clients.

    ``s3pipe_module_factory("modules/table", {"table_name": "t"})`` -> :class:`~s3pipe.ModuleStack`; a
    relative directory is taken from the rootdir. Each module stack runs on its own backend instance and is
    stopped (on AWS: destroyed) at the end of the session; with ``--s3pipe-keep`` it is left running and
    the next session attaches to it while its module and variables are unchanged.
    """
    sessions: list[ModuleSession] = []

    def factory(module_dir: str | Path, variables: Mapping[str, Any] | None = None, *, name: str = "") -> ModuleStack:
        worker = _worker_id(pytestconfig)
        base = name or f"module-{Path(module_dir).name}"
        stack_name = base if worker == "main" else f"{base}-{worker}"
        session = ModuleSession(
            s3pipe_config, _progress(pytestconfig), stack_name, Path(module_dir), variables, guard=check_deployment
        )
        sessions.append(session)
        return session.open()

    yield factory
    with _held(pytestconfig):
        close_all((f"module stack {session.stack_name!r}", session.close) for session in reversed(sessions))


@pytest.fixture(scope="session")
def s3pipe_gateway(s3pipe_stack: Stack) -> GatewayClient:
    """The function gateway of the session's stack: fault plans (``faults(plan)``) and the call journal."""
    if not s3pipe_stack.gateway_url:
        pytest.skip(f"backend {s3pipe_stack.backend!r} has no function gateway (the embedded backend has one)")
    return GatewayClient(s3pipe_stack.gateway_url)


# ---------------------------------------------------------------------------------------------- IAM audit


def _expected_denials(session: pytest.Session) -> list[ExpectedDenial]:
    """What the session's tests declared with ``@pytest.mark.iam_expected_denial``."""
    return [
        ExpectedDenial(str(marker.args[0]), str(marker.args[1]), str(marker.kwargs.get("reason", "")), item.nodeid)
        for item in session.items
        for marker in item.iter_markers("iam_expected_denial")
        if len(marker.args) >= 2
    ]


def _closing(
    config: pytest.Config, harness: HarnessConfig, session: StackSession, pytest_session: pytest.Session
) -> list[Step]:
    """A stack's teardown steps: its IAM audit, then its close (each runs whatever the other did)."""
    return [
        (f"IAM audit of stack {session.stack_name!r}", lambda: _audit(config, harness, session, pytest_session)),
        (f"stack {session.stack_name!r}", session.close),
    ]


def _mark_journal(config: pytest.Config, stack: Stack) -> None:
    config.stash.setdefault(_MARKS_KEY, {})[stack.name] = journal_mark(stack)


def _audit(
    config: pytest.Config, harness: HarnessConfig, session: StackSession, pytest_session: pytest.Session
) -> None:
    """Audit a stack before it closes; xdist workers hand the result to the controller."""
    since = config.stash.get(_MARKS_KEY, {}).get(session.stack.name, 0) if session.stack else 0
    result = audit_session(harness, session, _expected_denials(pytest_session), since)
    if result is None:
        return
    config.stash.setdefault(_AUDIT_KEY, []).append(result)
    workeroutput: dict[str, Any] | None = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput.setdefault(_WORKER_AUDIT, []).append(result.to_json())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: collect each worker's audit results."""
    del error
    results = getattr(node, "workeroutput", {}).get(_WORKER_AUDIT) or []
    node.config.stash.setdefault(_AUDIT_KEY, []).extend(AuditResult.from_json(result) for result in results)


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    """After the session fixtures (and with them the audits) are torn down: a violation fails the run."""
    result = yield
    audits = session.config.stash.get(_AUDIT_KEY, [])
    if failed(audits) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return result


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    results = config.stash.get(_AUDIT_KEY, [])
    if not results or getattr(config, "workerinput", None) is not None:
        return
    bad = failed(results)
    terminalreporter.section("s3pipe IAM least-privilege audit", sep="=", red=bad, green=not bad)
    for line in summary_lines(results):
        alarming = (
            line.startswith(("FAILED", "NOT AUDITED"))
            or "NOT ALLOWED" in line
            or "DENIED" in line
            or "could not run" in line
        )
        terminalreporter.write_line(line, red=alarming)
