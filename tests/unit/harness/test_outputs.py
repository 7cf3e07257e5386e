"""Output roles: a module of your own, with its own output names and none of the optional ones."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from s3pipe.config import HarnessConfig
from s3pipe.deploy import Deployer, StackSettings
from s3pipe.errors import HarnessError, OutputsError
from s3pipe.outputs import (
    REQUIRED_ROLES,
    ROLE_FIELDS,
    SdkLookup,
    check_roles,
    output_names,
    parse_output_map,
    resolve_outputs,
)
from s3pipe.progress import Progress
from s3pipe.stack import StackOutputs
from s3pipe.terraform.workspace import declared_outputs

URL = "http://127.0.0.1:4566/000000000000"
MAPPING_UUID = "6f0c1b52-1d1e-4c1e-9d3a-2b4c5d6e7f80"
FAKE = {"region_name": "ap-northeast-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}

#: What the article's module outputs: its own names, no ARNs, no timeouts, no mapping UUID.
ARTICLE = {
    "raw_bucket": "row-data-server-log-bucket-abc",
    "work_queue_url": f"{URL}/server-log-queue",
    "failed_queue_url": f"{URL}/server-log-dlq",
    "logs_table": "ServerLogsTable",
    "function": "server-log-function",
}
ARTICLE_MAP = "bucket = raw_bucket\nqueue_url = work_queue_url\ndlq_url = failed_queue_url\ntable = logs_table\n"


class RecordingLookup:
    """Answers like the deployed article stack; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def queue_attributes(self, queue_url: str) -> Mapping[str, str]:
        self.asked.append(f"queue {queue_url}")
        name = queue_url.rsplit("/", 1)[-1]
        attributes = {"QueueArn": f"arn:aws:sqs:ap-northeast-1:000000000000:{name}", "VisibilityTimeout": "45"}
        if name == "server-log-queue":
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": "x", "maxReceiveCount": 2})
        return attributes

    def function_configuration(self, function: str) -> Mapping[str, Any]:
        self.asked.append(f"function {function}")
        return {
            "FunctionArn": f"arn:aws:lambda:ap-northeast-1:000000000000:function:{function}",
            "Role": "arn:aws:iam::000000000000:role/server-log-role",
            "Timeout": 15,
        }

    def table_arn(self, table: str) -> str:
        self.asked.append(f"table {table}")
        return f"arn:aws:dynamodb:ap-northeast-1:000000000000:table/{table}"

    def mapping_uuid(self, function: str, queue_arn: str) -> str:
        self.asked.append(f"mapping {function} {queue_arn}")
        return "uuid-from-the-sdk"

    def bucket_suffixes(self, bucket: str, queue_arn: str) -> tuple[str, ...]:
        self.asked.append(f"suffixes {bucket}")
        return (".json",)


class NoLookup(RecordingLookup):
    def __getattribute__(self, name: str) -> Any:
        if name in {"queue_attributes", "function_configuration", "table_arn", "mapping_uuid", "bucket_suffixes"}:
            raise AssertionError(f"no SDK lookup expected, but {name} was called")
        return super().__getattribute__(name)


def resolve(raw: Mapping[str, Any], mapping: str = "", lookup: Any = None) -> StackOutputs:
    return resolve_outputs(
        raw,
        parse_output_map(mapping),
        lookup or RecordingLookup(),
        region="ap-northeast-1",
        name_prefix="s3p-t-000000",
        module="examples/article",
    )


def test_the_default_roles_are_infras_output_names() -> None:
    assert output_names({})["bucket_name"] == "bucket_name"
    assert {role: output_names({})[field] for role, field in ROLE_FIELDS.items()} == {
        "bucket": "bucket_name",
        "queue_url": "queue_url",
        "dlq_url": "dlq_url",
        "table": "table_name",
        "function": "function_name",
        "log_group": "log_group_name",
    }


def test_infras_complete_outputs_need_no_lookup() -> None:
    complete = StackOutputs.from_terraform(
        {
            **{field: f"v-{field}" for field in ROLE_FIELDS.values()},
            **{
                name: f"v-{name}"
                for name in (
                    "region",
                    "name_prefix",
                    "bucket_arn",
                    "queue_name",
                    "queue_arn",
                    "dlq_name",
                    "dlq_arn",
                    "function_arn",
                    "role_name",
                    "role_arn",
                    "table_arn",
                    "event_source_mapping_uuid",
                )
            },
            "accepted_suffixes": [".json"],
            "visibility_timeout_seconds": 10,
            "max_receive_count": 3,
            "lambda_timeout": 10,
        }
    )
    assert resolve(complete.to_json(), lookup=NoLookup()) == complete


def test_a_module_with_its_own_names_and_no_optional_outputs_is_completed() -> None:
    lookup = RecordingLookup()
    outputs = resolve(ARTICLE, ARTICLE_MAP + "function = function", lookup)

    assert (outputs.bucket_name, outputs.table_name, outputs.function_name) == (
        "row-data-server-log-bucket-abc",
        "ServerLogsTable",
        "server-log-function",
    )
    assert outputs.bucket_arn == "arn:aws:s3:::row-data-server-log-bucket-abc"
    assert (outputs.queue_name, outputs.dlq_name) == ("server-log-queue", "server-log-dlq")
    assert outputs.queue_arn == "arn:aws:sqs:ap-northeast-1:000000000000:server-log-queue"
    assert outputs.dlq_arn == "arn:aws:sqs:ap-northeast-1:000000000000:server-log-dlq"
    assert (outputs.visibility_timeout_seconds, outputs.max_receive_count, outputs.lambda_timeout) == (45, 2, 15)
    assert (outputs.role_name, outputs.log_group_name) == ("server-log-role", "/aws/lambda/server-log-function")
    assert outputs.table_arn == "arn:aws:dynamodb:ap-northeast-1:000000000000:table/ServerLogsTable"
    assert (outputs.event_source_mapping_uuid, outputs.accepted_suffixes) == ("uuid-from-the-sdk", (".json",))
    assert (outputs.region, outputs.name_prefix) == ("ap-northeast-1", "s3p-t-000000")
    # each resource is asked once, however many values come from it
    assert sorted(lookup.asked) == sorted(
        [
            f"queue {URL}/server-log-queue",
            f"queue {URL}/server-log-dlq",
            "function server-log-function",
            "table ServerLogsTable",
            "mapping server-log-function arn:aws:sqs:ap-northeast-1:000000000000:server-log-queue",
            "suffixes row-data-server-log-bucket-abc",
        ]
    )


def test_an_optional_output_the_module_has_is_read_not_looked_up() -> None:
    lookup = RecordingLookup()
    outputs = resolve({**ARTICLE, "table_arn": "arn:from-the-module"}, ARTICLE_MAP + "function = function", lookup)
    assert outputs.table_arn == "arn:from-the-module"
    assert not any(question.startswith("table") for question in lookup.asked)


def test_a_missing_required_role_lists_the_modules_outputs_and_the_ini_line() -> None:
    with pytest.raises(OutputsError) as raised:
        resolve(ARTICLE, ARTICLE_MAP)  # `function` not mapped: the default name function_name is absent
    error = raised.value
    assert isinstance(error, HarnessError)
    assert "no output for the role(s) function" in error.summary
    assert "failed_queue_url, function, logs_table, raw_bucket, work_queue_url" in "\n".join(error.seen)
    assert "s3pipe_outputs =\n    function = <one of its outputs>" in error.fix


def test_every_required_role_missing_is_named_at_once() -> None:
    with pytest.raises(OutputsError) as raised:
        resolve({"something": "else"})
    assert all(role in raised.value.summary for role in REQUIRED_ROLES)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("bucket = b\nqueue_url = q", {"bucket": "b", "queue_url": "q"}),
        ("bucket=b, table=t", {"bucket": "b", "table": "t"}),
        ("\n  # a comment\n  function = fn\n", {"function": "fn"}),
        ("queue_arn = my_queue_arn", {"queue_arn": "my_queue_arn"}),  # any StackOutputs field, too
        ("", {}),
    ],
)
def test_the_mapping_reads_lines_or_commas(raw: str, expected: dict[str, str]) -> None:
    assert parse_output_map(raw) == expected


@pytest.mark.parametrize(("raw", "problem"), [("buckett = b", "unknown role 'buckett'"), ("bucket b", "is not")])
def test_a_bad_mapping_says_what_is_wrong(raw: str, problem: str) -> None:
    with pytest.raises(OutputsError, match=problem) as raised:
        parse_output_map(raw)
    assert "bucket, queue_url, dlq_url, table, function, log_group" in raised.value.fix


def test_the_mapping_comes_from_ini_flag_or_environment(tmp_path: Path) -> None:
    from_env = HarnessConfig.resolve(tmp_path, environ={"S3PIPE_OUTPUTS": "bucket=raw_bucket,table=logs_table"})
    assert dict(from_env.outputs) == {"bucket": "raw_bucket", "table": "logs_table"}
    from_ini = HarnessConfig.resolve(tmp_path, lambda option: ARTICLE_MAP if option.name == "outputs" else None)
    assert from_ini.outputs["dlq_url"] == "failed_queue_url"
    assert HarnessConfig.resolve(tmp_path, environ={}).outputs == {}
    with pytest.raises(ValueError, match="unknown role"):
        HarnessConfig.resolve(tmp_path, environ={"S3PIPE_OUTPUTS": "nope=x"})


# ---------------------------------------------------------------------------- the SDK lookups


def test_sdk_lookup_reads_the_mapping_and_the_buckets_suffix_filter() -> None:
    lambda_ = boto3.client("lambda", **FAKE)
    s3 = boto3.client("s3", **FAKE)
    clients = {"lambda": lambda_, "s3": s3}
    queue_arn = "arn:aws:sqs:ap-northeast-1:000000000000:q"
    with Stubber(lambda_) as lambdas, Stubber(s3) as buckets:
        lambdas.add_response(
            "list_event_source_mappings",
            {"EventSourceMappings": [{"UUID": MAPPING_UUID}]},
            {"FunctionName": "fn", "EventSourceArn": queue_arn},
        )
        buckets.add_response(
            "get_bucket_notification_configuration",
            {
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "Suffix", "Value": ".json"}]}},
                    },
                    {"QueueArn": "arn:other", "Events": ["s3:ObjectCreated:*"]},
                ]
            },
            {"Bucket": "b"},
        )
        lookup = SdkLookup(clients.__getitem__)
        assert lookup.mapping_uuid("fn", queue_arn) == MAPPING_UUID
        assert lookup.bucket_suffixes("b", queue_arn) == (".json",)


# ---------------------------------------------------------------------------- the module's variables


def test_only_the_variables_a_module_declares_are_passed(tmp_path: Path) -> None:
    module = tmp_path / "article"
    module.mkdir()
    (module / "main.tf").write_text('variable "handler_zip" {\n  type = string\n}\n# variable "region" {}\n')
    config = HarnessConfig.resolve(tmp_path, environ={"S3PIPE_ZIP_VARIABLE": "handler_zip"})
    settings = StackSettings("s3p-t-000000", extra_variables={"owner": "me"})
    variables = settings.to_variables("ap-northeast-1", Path("/a/lambda.zip"), config.zip_variable)

    passed = Deployer(config, Progress()).module_variables(module, variables, settings)

    assert passed == {"handler_zip": "/a/lambda.zip", "owner": "me"}


def test_a_module_without_the_zip_variable_is_told_which_ini_key_names_it(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('variable "code_zip" {}\n')
    config = HarnessConfig.resolve(tmp_path, environ={})
    settings = StackSettings("s3p-t-000000")
    with pytest.raises(HarnessError, match="no variable 'lambda_zip_path'") as raised:
        Deployer(config, Progress()).module_variables(tmp_path, settings.to_variables("r", Path("z")), settings)
    assert "code_zip" in "\n".join(raised.value.seen)
    assert "s3pipe_zip_variable" in raised.value.fix


def test_a_missing_role_is_found_before_any_apply(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'output "raw_bucket" { value = 1 }\noutput "work_queue_url" {\n  value = 2\n}\n# output "function" {}\n'
    )
    declared = declared_outputs(tmp_path)
    assert declared == {"raw_bucket", "work_queue_url"}
    with pytest.raises(OutputsError) as raised:
        check_roles(declared, parse_output_map(ARTICLE_MAP + "function = function"), tmp_path)
    assert "role(s) dlq_url, table, function" in raised.value.summary
    assert "raw_bucket, work_queue_url" in "\n".join(raised.value.seen)
    (tmp_path / "extra.tf.json").write_text("{}")
    assert declared_outputs(tmp_path) is None  # JSON syntax is not read: the check waits for the apply
