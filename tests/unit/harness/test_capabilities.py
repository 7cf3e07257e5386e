"""The capability matrix: each backend declares what it provides; ``requires`` skips, with the reason,
tests whose needs the configured backend lacks. The plugin is exercised in a child pytest run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import pytest

from s3pipe.backends.base import ONE_POLLER_CAPABILITIES, Backend, Capability, Credentials, Endpoint, Health
from s3pipe.backends.registry import BACKEND_CLASSES, backend_class, create_backend
from s3pipe.config import BACKENDS, HarnessConfig
from s3pipe.errors import BackendUnavailable
from s3pipe.progress import Progress
from s3pipe.session import StackSession

NEEDS = """
    import pytest
    from s3pipe.backends.base import Capability

    @pytest.mark.requires(Capability.LAMBDA_EXECUTION)
    def test_needs_lambda():
        pass

    @pytest.mark.requires(Capability.STRICT_BATCH_ITEM_IDENTIFIERS)
    def test_needs_strict_identifiers():
        pass

    @pytest.mark.requires(Capability.IAM_ENFORCEMENT, Capability.LOG_RETRIEVAL)
    def test_needs_iam_and_logs():
        pass

    def test_needs_nothing():
        pass
"""

TESTS = {
    "test_needs_lambda": {Capability.LAMBDA_EXECUTION},
    "test_needs_strict_identifiers": {Capability.STRICT_BATCH_ITEM_IDENTIFIERS},
    "test_needs_iam_and_logs": {Capability.IAM_ENFORCEMENT, Capability.LOG_RETRIEVAL},
    "test_needs_nothing": set(),
}


def test_every_backend_name_has_a_class_with_declared_capabilities() -> None:
    assert set(BACKEND_CLASSES) == set(BACKENDS)
    for name in BACKENDS:
        cls = backend_class(name)
        assert issubclass(cls, Backend)
        assert cls.name == name
        assert isinstance(cls.capabilities, frozenset)
        assert all(isinstance(c, Capability) for c in cls.capabilities)


#: What the session reads from each class instead of comparing names:
#: (owns_emulator, supports_warm_reuse, has_function_gateway, is_emulator).
BEHAVIOUR = {
    "embedded": (True, True, True, True),
    "localstack": (True, False, False, True),
    "external": (False, True, False, True),
    "aws": (False, False, False, False),
}


@pytest.mark.parametrize(("name", "expected"), BEHAVIOUR.items())
def test_each_backend_declares_its_behaviour_on_the_class(name: str, expected: tuple[bool, ...]) -> None:
    cls = backend_class(name)
    assert (cls.owns_emulator, cls.supports_warm_reuse, cls.has_function_gateway, cls.is_emulator) == expected
    assert cls.supports_snapshots is (name == "embedded")  # MiniStack's persistence (s3pipe.snapshots)


@pytest.mark.parametrize("name", BACKENDS)
def test_each_backend_builds_itself_from_the_configuration(name: str, tmp_path: Path) -> None:
    config = HarnessConfig.resolve(
        tmp_path, environ={"S3PIPE_BACKEND": name, "S3PIPE_ENDPOINT_URL": "http://127.0.0.1:4566", "S3PIPE_PORT": "0"}
    )
    backend = create_backend(config, Progress(write=lambda _line: None), port=4599)
    assert type(backend) is backend_class(name)
    assert (backend.pid, backend.function_endpoint_url) == (None, None)  # nothing started yet


class OneMoreBackend(Backend):
    name: ClassVar[str] = "one-more"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.LAMBDA_EXECUTION})
    owns_emulator: ClassVar[bool] = True

    def __init__(self, region: str) -> None:
        self.region = region

    @classmethod
    def from_config(cls, config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Self:
        return cls(config.region)

    def start(self) -> Endpoint:
        return Endpoint("http://127.0.0.1:1", self.region, Credentials.fake())

    def health(self) -> Health:
        return Health(True, "always")

    def stop(self) -> None:
        pass


def test_adding_a_backend_is_its_class_and_one_line_in_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BACKEND_CLASSES, OneMoreBackend.name, OneMoreBackend)
    config = HarnessConfig.resolve(tmp_path, environ={"S3PIPE_BACKEND": "one-more", "S3PIPE_REGION": "eu-west-3"})
    backend = create_backend(config, Progress(write=lambda _line: None))
    assert isinstance(backend, OneMoreBackend)
    assert backend.start().region == "eu-west-3"
    assert StackSession(config, Progress(), "s").backend_class is OneMoreBackend


def test_unknown_backend_class_is_a_clear_error() -> None:
    with pytest.raises(BackendUnavailable, match="Unknown backend 'nosuch'") as raised:
        backend_class("nosuch")
    assert "embedded, localstack, external, aws" in str(raised.value)


#: S3 event semantics the handler's replacement logic and key decoding rely on: MiniStack and AWS
#: have them; LocalStack 4.14.0 (services/s3/notifications.py) stamps every event with one constant
#: sequencer and encodes keys with urllib.parse.quote (a space as %20, where AWS writes +).
S3_EVENT_SEMANTICS = {Capability.S3_EVENT_SEQUENCER_ORDER, Capability.S3_EVENT_KEY_PLUS_ENCODING}


def test_s3_event_semantics_are_declared_where_they_hold() -> None:
    embedded, localstack, external, aws = (
        backend_class(n).capabilities for n in ("embedded", "localstack", "external", "aws")
    )
    assert embedded & aws >= S3_EVENT_SEMANTICS
    assert not S3_EVENT_SEMANTICS & localstack
    assert not S3_EVENT_SEMANTICS & external  # it may be a LocalStack: known only after start()


def test_matrix_is_consistent() -> None:
    embedded, localstack, external, aws = (
        backend_class(n).capabilities for n in ("embedded", "localstack", "external", "aws")
    )
    assert external <= embedded & localstack, "external declares only what every emulator it may be provides"
    assert Capability.IAM_ENFORCEMENT in aws & embedded  # MiniStack with AUTH=true
    assert Capability.IAM_ENFORCEMENT not in localstack | external
    assert Capability.LAMBDA_EXECUTION in embedded & localstack & aws
    assert Capability.ANY_CALLER_CREDENTIALS in embedded  # caller_keys.py in front of MiniStack
    assert Capability.ANY_CALLER_CREDENTIALS not in aws  # AWS checks every key


@pytest.mark.parametrize("backend", BACKENDS)
def test_requires_skips_with_the_reason_or_runs(suite: Any, backend: str) -> None:
    suite.makepyfile(test_needs=NEEDS)
    result = suite.runpytest_subprocess("-rs", "-v", "--s3pipe-backend", backend)

    provided = backend_class(backend).capabilities
    runs = [name for name, needed in TESTS.items() if needed <= provided]
    skipped = [name for name in TESTS if name not in runs]
    result.assert_outcomes(passed=len(runs), skipped=len(skipped))
    for name in runs:
        result.stdout.fnmatch_lines([f"*::{name} PASSED*"])
    for name in skipped:
        missing = sorted(c.name for c in TESTS[name] - provided)
        result.stdout.fnmatch_lines([f"SKIPPED *: backend {backend!r} does not provide: {missing[0]} (*"])


def test_skip_reason_names_every_missing_capability_with_its_meaning(suite: Any) -> None:
    suite.makepyfile(test_needs=NEEDS)
    result = suite.runpytest_subprocess("-rs", "--s3pipe-backend", "external")
    result.stdout.fnmatch_lines(
        [
            f"*backend 'external' does not provide: IAM_ENFORCEMENT ({Capability.IAM_ENFORCEMENT.value})*",
        ]
    )
    result.stdout.no_fnmatch_line("*LOG_RETRIEVAL (*")  # external has it: not listed as missing


AWS_SEMANTICS = """
    import pytest
    from s3pipe.backends.base import Capability

    @pytest.mark.aws_semantics(Capability.S3_EVENT_SEQUENCER_ORDER)
    def test_superseded_event_is_ignored():
        pass

    @pytest.mark.aws_semantics(Capability.S3_EVENT_KEY_PLUS_ENCODING)
    def test_keys_arrive_with_plus_for_space():
        pass
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_aws_semantics_is_a_strict_xfail_naming_the_difference_where_the_backend_differs(
    suite: Any, backend: str
) -> None:
    suite.makepyfile(test_semantics=AWS_SEMANTICS)
    result = suite.runpytest_subprocess("-rX", "-v", "--s3pipe-backend", backend)

    if backend_class(backend).capabilities >= S3_EVENT_SEMANTICS:
        result.assert_outcomes(passed=2)
        return
    # the tests pass here, so a strict xfail reports them as failures: the marker must then go
    result.assert_outcomes(failed=2)
    for capability in S3_EVENT_SEMANTICS:
        result.stdout.fnmatch_lines([f"*[[]XPASS(strict)[]] backend {backend!r} differs from AWS: {capability.value}*"])


def test_unknown_backend_name_is_a_usage_error(suite: Any) -> None:
    suite.makepyfile(test_needs=NEEDS)
    result = suite.runpytest_subprocess("--s3pipe-backend", "nosuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*s3pipe: backend must be one of embedded, localstack, external, aws, got 'nosuch'*"])


def test_every_emulator_has_one_poller_and_aws_declares_its_scaling_pollers() -> None:
    for name in ("embedded", "localstack", "external"):
        assert backend_class(name).capabilities >= ONE_POLLER_CAPABILITIES, name
    assert not ONE_POLLER_CAPABILITIES & backend_class("aws").capabilities
    assert OneMoreBackend.capabilities >= ONE_POLLER_CAPABILITIES  # a new emulator class gets them too


SLOW = """
    import pytest

    @pytest.mark.slow
    def test_a_long_one():
        pass

    def test_a_short_one():
        pass
"""


def test_slow_tests_are_skipped_on_aws_unless_selected(suite: Any) -> None:
    suite.makepyfile(test_slow=SLOW)
    (Path(str(suite.path)) / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: long\n")

    on_aws = suite.runpytest_subprocess("-rs", "-p", "no:xdist", "--s3pipe-backend", "aws")
    selected = suite.runpytest_subprocess("-rs", "-p", "no:xdist", "--s3pipe-backend", "aws", "-m", "slow")
    embedded = suite.runpytest_subprocess("-rs", "-p", "no:xdist")

    on_aws.assert_outcomes(passed=1, skipped=1)
    on_aws.stdout.fnmatch_lines(["*backend 'aws': slow tests run minutes of billed resources; select them: -m slow*"])
    selected.assert_outcomes(passed=1)
    embedded.assert_outcomes(passed=2)
