"""Real AWS, isolated: a fresh prefix the module must take, the provider pinned and tagging, nothing adopted,
nothing applied over an earlier run's state, and a failed destroy that says what is left.

Terraform is a fake executable (it records its calls and answers from a scenario); AWS answers through
botocore's Stubber. Nothing here reaches AWS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

import boto3
import pytest
from botocore.stub import Stubber
from test_terraform_cli import FakeTerraform, line

from s3pipe.aws.adoption import AdoptionRefused, planned_creations
from s3pipe.aws.isolation import IsolationRefused, provider_pins, state_resources
from s3pipe.aws.leftovers import DestroyFailed
from s3pipe.backends.base import Backend, Capability, Credentials, Endpoint, Health
from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, StackRecord, StackSettings
from s3pipe.errors import TerraformError
from s3pipe.module_stack import ModuleSession
from s3pipe.progress import Progress
from s3pipe.session import StackSession, stop_stack
from s3pipe.stack import Stack
from s3pipe.terraform.workspace import OVERRIDE_FILE, render_override

ROOT = Path(__file__).resolve().parents[3]
ACCOUNT = "123456789012"
REGION = "eu-west-1"
RUN = "r0123456789"

MODULE = """\
variable "name_prefix" {
  type = string
}

variable "tags" {
  type    = map(string)
  default = {}
}

provider "aws" {
  region = "eu-west-1"

  default_tags {
    tags = merge(var.tags, {
      team = "data"
    })
  }
}

provider "aws" {
  alias  = "east"
  region = "us-east-1"
}

resource "aws_sqs_queue" "this" {
  name = "${var.name_prefix}-queue"
}
"""

FIXED_NAMES = """\
variable "table_name" {
  type = string
}

resource "aws_sqs_queue" "this" {
  name = "server-log-queue"
}
"""


class StubbedSession(boto3.Session):
    """A real boto3 Session whose clients (one per service) answer from Stubbers, activated."""

    def __init__(self) -> None:
        super().__init__(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="secret", region_name=REGION)
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}

    def stub(self, service: str) -> Stubber:
        if service not in self.stubbers:
            self.clients[service] = super().client(service, region_name=REGION)  # type: ignore[call-overload]
            self.stubbers[service] = Stubber(self.clients[service])
            self.stubbers[service].activate()
        return self.stubbers[service]

    def client(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        service = args[0] if args else kwargs["service_name"]
        self.stub(service)
        return self.clients[service]

    def verify(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


class Aws(Backend):
    """Behaves like the aws backend (isolation required, real resources) without calling AWS."""

    name: ClassVar[str] = "aws"
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    is_emulator: ClassVar[bool] = False
    requires_isolation: ClassVar[bool] = True
    session: ClassVar[StubbedSession | None] = None

    @classmethod
    def from_config(cls, config: HarnessConfig, progress: Progress, *, port: int | None = None) -> Self:
        return cls()

    def start(self) -> Endpoint:
        return endpoint(self.session)

    def health(self) -> Health:
        return Health(True, "fake")

    def stop(self) -> None:
        pass


def endpoint(session: boto3.Session | None = None) -> Endpoint:
    return Endpoint(None, REGION, Credentials("AKIAEXAMPLE", "secret"), session=session, account_id=ACCOUNT)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTerraform:
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}:{__import__('os').environ.get('PATH', '')}")
    return FakeTerraform(directory)


@pytest.fixture
def config(tmp_path: Path, fake: FakeTerraform) -> HarnessConfig:
    plugins = tmp_path / "plugins" / "registry.terraform.io" / "hashicorp" / "aws" / "5.0.0" / "linux_amd64"
    plugins.mkdir(parents=True)
    (plugins / "terraform-provider-aws_v5.0.0").write_text("")
    environ = {
        "S3PIPE_BACKEND": "aws",
        "S3PIPE_STATE_DIR": str(tmp_path / "state"),
        "S3PIPE_TF_PLUGIN_DIR": str(tmp_path / "plugins"),
    }
    resolved = HarnessConfig.resolve(tmp_path, environ=environ)
    return resolved.with_overrides(run_id=RUN, terraform_binary=str(fake.path))


def module(tmp_path: Path, text: str = MODULE, name: str = "module") -> Path:
    directory = tmp_path / name
    directory.mkdir(exist_ok=True)
    (directory / "main.tf").write_text(text)
    return directory


def plan_creating(**names: tuple[str, str]) -> str:
    """``terraform show -json`` of a plan creating these resources: address -> (type, name)."""
    attribute = {"aws_sqs_queue": "name", "aws_s3_bucket": "bucket", "aws_sns_topic": "name"}
    changes = [
        {
            "address": address,
            "mode": "managed",
            "type": kind,
            "change": {"actions": ["create"], "after": {attribute.get(kind, "name"): name}},
        }
        for address, (kind, name) in names.items()
    ]
    return json.dumps({"format_version": "1.2", "resource_changes": changes})


def commands(fake: FakeTerraform) -> list[str]:
    return [call["argv"][0] for call in fake.calls()]


def initialised(deployer: Deployer, stack_name: str = "ci") -> Deployer:
    """The working copy's ``.terraform`` a real ``terraform init`` creates (the fake one does not)."""
    (deployer.workspace(stack_name).workdir / ".terraform").mkdir(parents=True, exist_ok=True)
    return deployer


# ---------------------------------------------------------------------------- the provider override on AWS


def test_the_override_pins_the_account_and_tags_with_the_run_keeping_the_modules_own_tags(tmp_path: Path) -> None:
    directory = module(tmp_path)
    pins = provider_pins(ACCOUNT, RUN, "pytest-gw0", directory)
    text = render_override(endpoint(), tmp_path / "terraform.tfstate", ["east"], pins)

    default, east = text.split('provider "aws" {')[1:]
    for block in (default, east):
        assert 'allowed_account_ids = ["123456789012"]' in block
        assert '"s3pipe:run" = "r0123456789", "s3pipe:stack" = "pytest-gw0"' in block
    # an override's nested block replaces the module's: its own default tags are merged in, not dropped
    assert 'tags = merge(merge(var.tags, {\n      team = "data"\n    }), { "s3pipe:run"' in default
    assert 'tags = { "s3pipe:run" = "r0123456789", "s3pipe:stack" = "pytest-gw0" }' in east


def test_an_emulator_override_gets_no_account_pin_and_no_tags(tmp_path: Path) -> None:
    emulator = Endpoint("http://127.0.0.1:4566", REGION, Credentials.fake())
    text = render_override(emulator, tmp_path / "terraform.tfstate", ["east"])
    assert "allowed_account_ids" not in text
    assert "default_tags" not in text


def test_a_pin_needs_a_confirmed_account(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="without a confirmed account"):
        provider_pins(None, RUN, "ci", module(tmp_path))


# ---------------------------------------------------------------------------- a name prefix the module must take


def test_a_module_without_the_prefix_variable_is_refused_before_terraform_runs(
    config: HarnessConfig, fake: FakeTerraform, tmp_path: Path
) -> None:
    deployer = Deployer(config, Progress(write=lambda _line: None))
    with pytest.raises(IsolationRefused) as raised:
        deployer.apply_module("ci", Aws(), endpoint(), module(tmp_path, FIXED_NAMES), {"table_name": "Orders"})
    message = str(raised.value)
    assert "cannot take a name prefix" in message
    assert "the module's variables: table_name" in message
    assert 'variable "name_prefix"' in message
    assert "s3pipe_name_prefix_variable" in message
    assert commands(fake) == []  # no init, no plan, no apply


def test_the_seed_articles_module_is_refused_on_aws(config: HarnessConfig, fake: FakeTerraform) -> None:
    article = ROOT / "examples" / "article"
    outputs = {
        "bucket": "raw_bucket",
        "queue_url": "work_queue_url",
        "dlq_url": "failed_queue_url",
        "table": "logs_table",
        "function": "function",
    }
    configured = config.with_overrides(
        infra_dir=article, lambda_dir=article / "handler", zip_variable="handler_zip", outputs=outputs
    )
    deployer = Deployer(configured, Progress(write=lambda _line: None))
    with pytest.raises(IsolationRefused, match="cannot take a name prefix"):
        deployer.deploy("ci", Aws(), endpoint(), StackSettings(name_prefix="s3p-ci-abc123"))
    assert commands(fake) == []


def test_the_configured_prefix_variable_receives_the_prefix(
    config: HarnessConfig, fake: FakeTerraform, tmp_path: Path
) -> None:
    zip_variable = 'variable "lambda_zip_path" {\n  type = string\n}\n'
    directory = module(tmp_path, MODULE.replace("name_prefix", "prefix") + zip_variable)
    deployer = Deployer(config.with_overrides(name_prefix_variable="prefix"), Progress(write=lambda _line: None))
    variables = deployer.module_variables(
        directory, {"name_prefix": "s3p-ci-abc123", "lambda_zip_path": "z", "other": 1}, StackSettings("x")
    )
    assert variables == {"prefix": "s3p-ci-abc123", "lambda_zip_path": "z"}


# ---------------------------------------------------------------------------- never adopt


def test_a_plan_that_would_adopt_an_existing_queue_is_refused_before_apply(
    config: HarnessConfig, fake: FakeTerraform, tmp_path: Path
) -> None:
    session = StubbedSession()
    fake.scenario(
        {
            "show": {
                "stdout": [
                    plan_creating(
                        **{
                            "aws_sqs_queue.this": ("aws_sqs_queue", "s3p-ci-abc123-queue"),
                            "aws_s3_bucket.this": ("aws_s3_bucket", "s3p-ci-abc123-raw"),
                        }
                    )
                ]
            }
        }
    )
    url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/s3p-ci-abc123-queue"
    session.stub("sqs").add_response("get_queue_url", {"QueueUrl": url}, {"QueueName": "s3p-ci-abc123-queue"})
    session.stub("s3").add_client_error(
        "head_bucket", service_error_code="404", http_status_code=404, expected_params={"Bucket": "s3p-ci-abc123-raw"}
    )
    deployer = initialised(Deployer(config, Progress(write=lambda _line: None)))

    with pytest.raises(AdoptionRefused) as raised:
        deployer.apply_module("ci", Aws(), endpoint(session), module(tmp_path), {"name_prefix": "s3p-ci-abc123"})

    message = str(raised.value)
    assert f"aws_sqs_queue.this: queue 's3p-ci-abc123-queue' exists ({url}); CreateQueue would return it" in message
    assert "s3p-ci-abc123-raw" not in message  # free: not refused
    assert f"account {ACCOUNT} ({REGION})" in message
    assert commands(fake) == ["init", "plan", "show"]  # never applied
    session.verify()


def test_free_names_apply_exactly_the_checked_plan_with_the_override_pinned(
    config: HarnessConfig, fake: FakeTerraform, tmp_path: Path
) -> None:
    session = StubbedSession()
    fake.scenario(
        {
            "show": {"stdout": [plan_creating(**{"aws_sqs_queue.this": ("aws_sqs_queue", "s3p-ci-abc123-queue")})]},
            "apply": {"stdout": [line("Apply complete!", "change_summary")]},
            "output": {"stdout": ["{}"]},
        }
    )
    session.stub("sqs").add_client_error(
        "get_queue_url", service_error_code="AWS.SimpleQueueService.NonExistentQueue", http_status_code=400
    )
    deployer = initialised(Deployer(config, Progress(write=lambda _line: None)))

    deployer.apply_module("ci", Aws(), endpoint(session), module(tmp_path), {"name_prefix": "s3p-ci-abc123"})

    calls = fake.calls()
    assert [call["argv"][0] for call in calls] == ["init", "plan", "show", "apply", "output"]
    plan_file = str(deployer.workspace("ci").root / "s3pipe.tfplan")
    assert f"-out={plan_file}" in calls[1]["argv"]
    assert calls[3]["argv"][-1] == plan_file
    override = (deployer.workspace("ci").workdir / OVERRIDE_FILE).read_text()
    assert f'allowed_account_ids = ["{ACCOUNT}"]' in override
    assert f'"s3pipe:run" = "{RUN}", "s3pipe:stack" = "ci"' in override
    session.verify()


def test_only_names_known_at_plan_time_of_adopting_types_are_checked() -> None:
    plan = {
        "resource_changes": [
            {"address": "a", "mode": "managed", "type": "aws_sqs_queue", "change": {"actions": ["create"]}},
            {"address": "b", "mode": "data", "type": "aws_sqs_queue", "change": {"actions": ["read"], "after": {}}},
            {
                "address": "c",
                "mode": "managed",
                "type": "aws_dynamodb_table",
                "change": {"actions": ["create"], "after": {"name": "t"}},
            },
            {
                "address": "d",
                "mode": "managed",
                "type": "aws_sns_topic",
                "change": {"actions": ["delete", "create"], "after": {"name": "topic"}},
            },
            {
                "address": "e",
                "mode": "managed",
                "type": "aws_s3_bucket",
                "change": {"actions": ["update"], "after": {"bucket": "kept"}},
            },
        ]
    }
    assert [(p.address, p.name) for p in planned_creations(plan)] == [("d", "topic")]


# ---------------------------------------------------------------------------- a fresh prefix, never an old state


STATE = {
    "version": 4,
    "resources": [
        {
            "mode": "managed",
            "type": "aws_sqs_queue",
            "name": "this",
            "instances": [{"attributes": {"arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:s3p-ci-old-queue", "id": "u"}}],
        },
        {"mode": "data", "type": "aws_caller_identity", "name": "me", "instances": [{"attributes": {"id": "x"}}]},
    ],
}


class Recording(Deployer):
    """Terraform replaced for the session's deploy; destroy is the real one (against the fake terraform)."""

    def __init__(self, config: HarnessConfig) -> None:
        super().__init__(config, Progress(write=lambda _line: None))
        self.settings: list[StackSettings] = []

    def deploy(self, stack_name: str, backend: Backend, endpoint: Endpoint, settings: StackSettings, *_: Any) -> Stack:
        self.settings.append(settings)
        workspace = self.workspace(stack_name)
        workspace.workdir.mkdir(parents=True, exist_ok=True)
        workspace.state_path.write_text(json.dumps(STATE))
        record = StackRecord("ci", "aws", None, REGION, "i", "l", "s", {"name_prefix": settings.name_prefix})
        record.run_id, record.account_id = RUN, ACCOUNT
        record.save(workspace.record_path)
        return Stack("ci", None, endpoint, "aws", frozenset())  # type: ignore[arg-type]


def test_every_run_gets_a_fresh_prefix_even_with_a_record_left(config: HarnessConfig, fake: FakeTerraform) -> None:
    deployer = Recording(config)
    prefixes = []
    for _ in range(2):
        session = StackSession(config, Progress(write=lambda _line: None), "ci", backend_class=Aws, deployer=deployer)
        session.open()
        prefixes.append(deployer.settings[-1].name_prefix)
        session.close()  # the fake terraform's destroy succeeds: the record is forgotten...
        StackRecord("ci", "aws", None, REGION, "i", "l", "s", {"name_prefix": prefixes[-1]}).save(
            deployer.workspace("ci").record_path  # ...but even one left behind is not reused
        )
        deployer.workspace("ci").forget_state()
    assert prefixes[0] != prefixes[1]
    assert all(prefix.startswith("s3p-ci-") for prefix in prefixes)


def test_a_state_left_by_an_earlier_run_is_refused_and_not_destroyed(
    config: HarnessConfig, fake: FakeTerraform
) -> None:
    deployer = Recording(config)
    workspace = deployer.workspace("ci")
    workspace.root.mkdir(parents=True)
    workspace.state_path.write_text(json.dumps(STATE))
    session = StackSession(config, Progress(write=lambda _line: None), "ci", backend_class=Aws, deployer=deployer)

    with pytest.raises(IsolationRefused) as raised:
        session.open()
    session.close()

    message = str(raised.value)
    assert "still has resources on AWS from an earlier run" in message
    assert f"aws_sqs_queue.this (arn:aws:sqs:{REGION}:{ACCOUNT}:s3p-ci-old-queue)" in message
    assert "s3pipe down --stack ci`" in message
    assert deployer.settings == []  # never applied
    assert commands(fake) == []  # and never destroyed: it may be a kept stack


def test_a_module_stack_on_aws_gets_a_fresh_prefix_in_its_variable(config: HarnessConfig, tmp_path: Path) -> None:
    applied: list[dict[str, Any]] = []

    class Applier(Deployer):
        def apply_module(self, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], str]:
            applied.append(dict(args[4]))
            return {}, "h"

        def destroy(self, stack_name: str, endpoint: Endpoint, *, run_id: str | None = None) -> None:
            applied.append({"destroyed": stack_name})

    deployer = Applier(config, Progress(write=lambda _line: None))
    session = ModuleSession(
        config,
        Progress(write=lambda _line: None),
        "tables",
        module(tmp_path),
        {"table_name": "T"},
        backend_class=Aws,
        deployer=deployer,
    )
    stack = session.open()
    session.close()

    assert stack.name_prefix.startswith("s3p-tables-")
    assert applied == [{"table_name": "T", "name_prefix": stack.name_prefix}, {"destroyed": "tables"}]


# ---------------------------------------------------------------------------- a failed destroy says what is left


def test_a_failed_destroy_lists_what_is_left_from_the_state_and_by_tag_with_the_sweep(
    config: HarnessConfig, fake: FakeTerraform
) -> None:
    session = StubbedSession()
    Aws.session = session
    left = f"arn:aws:sqs:{REGION}:{ACCOUNT}:s3p-ci-old-queue"
    session.stub("resourcegroupstaggingapi").add_response(
        "get_resources",
        {"ResourceTagMappingList": [{"ResourceARN": left, "Tags": [{"Key": "s3pipe:run", "Value": RUN}]}]},
        {
            "TagFilters": [
                {"Key": "s3pipe:run", "Values": [RUN]},
                {"Key": "s3pipe:stack", "Values": ["ci"]},
            ]
        },
    )
    error = line("Error: deleting SQS Queue: AccessDenied", "diagnostic", level="error", diagnostic={"summary": "x"})
    fake.scenario({"destroy": {"stdout": [error], "exit": 1}})
    deployer = Recording(config)
    stack_session = StackSession(config, Progress(write=lambda _line: None), "ci", backend_class=Aws, deployer=deployer)
    try:
        stack_session.open()
        with pytest.raises(DestroyFailed) as raised:
            stack_session.close()
    finally:
        Aws.session = None

    message = str(raised.value)
    assert f"resources of run {RUN} may still exist" in message
    assert f"aws_sqs_queue.this ({left})" in message  # from the state
    assert f"tagged s3pipe:run={RUN}, s3pipe:stack=ci (1):" in message
    assert f"s3pipe aws sweep --run {RUN} --region {REGION} --yes" in message
    assert deployer.workspace("ci").record_path.exists()  # still known to `s3pipe down` and `status`
    session.verify()


def test_s3pipe_down_destroys_a_recorded_aws_stack(config: HarnessConfig, fake: FakeTerraform) -> None:
    deployer = Deployer(config, Progress(write=lambda _line: None))
    workspace = deployer.workspace("ci")
    workspace.workdir.mkdir(parents=True)
    workspace.state_path.write_text(json.dumps(STATE))
    record = StackRecord("ci", "aws", None, REGION, "i", "l", "s", {}, run_id=RUN, account_id=ACCOUNT)
    record.save(workspace.record_path)

    assert stop_stack(config, "ci")

    destroy = [call for call in fake.calls() if call["argv"][0] == "destroy"]
    assert len(destroy) == 1
    assert destroy[0]["cwd"] == str(workspace.workdir)
    assert not workspace.record_path.exists()


def test_state_resources_reads_managed_instances_only(tmp_path: Path) -> None:
    path = tmp_path / "terraform.tfstate"
    path.write_text(json.dumps(STATE))
    assert state_resources(path) == [f"aws_sqs_queue.this (arn:aws:sqs:{REGION}:{ACCOUNT}:s3p-ci-old-queue)"]
    assert state_resources(tmp_path / "missing") == []


def test_a_stack_is_recorded_before_its_apply_so_down_finds_a_half_applied_one(
    config: HarnessConfig, fake: FakeTerraform
) -> None:
    seen: list[StackRecord | None] = []

    class FailingApply(Recording):
        def deploy(self, stack_name: str, *_: Any) -> Stack:
            seen.append(StackRecord.load(self.workspace(stack_name).record_path))
            self.workspace(stack_name).workdir.mkdir(parents=True, exist_ok=True)
            self.workspace(stack_name).state_path.write_text(json.dumps(STATE))
            raise TerraformError("`terraform apply` failed", tried="terraform apply", seen="x", fix="y")

    deployer = FailingApply(config)
    session = StackSession(config, Progress(write=lambda _line: None), "ci", backend_class=Aws, deployer=deployer)
    with pytest.raises(TerraformError):
        session.open()

    [record] = seen
    assert record is not None
    assert (record.backend, record.endpoint_url, record.region) == ("aws", None, REGION)
    assert (record.run_id, record.account_id) == (RUN, ACCOUNT)
    session.close()  # the fake terraform's destroy succeeds
    assert commands(fake) == ["destroy"]
    assert not deployer.workspace("ci").record_path.exists()
