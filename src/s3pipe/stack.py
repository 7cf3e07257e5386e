"""A deployed stack: its Terraform outputs as a typed object, and ready boto3 clients."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from s3pipe.aws.pacing import pace_reads
from s3pipe.backends.base import Capability, Endpoint
from s3pipe.errors import HarnessError, OutputsError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


@dataclass(frozen=True)
class StackOutputs:
    """What the harness knows about a deployed pipeline (see infra/outputs.tf; other modules: s3pipe.outputs)."""

    region: str
    name_prefix: str
    bucket_name: str
    bucket_arn: str
    queue_name: str
    queue_url: str
    queue_arn: str
    dlq_name: str
    dlq_url: str
    dlq_arn: str
    function_name: str
    function_arn: str
    role_name: str
    role_arn: str
    table_name: str
    table_arn: str
    log_group_name: str
    event_source_mapping_uuid: str
    accepted_suffixes: tuple[str, ...]
    visibility_timeout_seconds: int
    max_receive_count: int
    lambda_timeout: int

    @classmethod
    def from_terraform(cls, outputs: Mapping[str, Any]) -> StackOutputs:
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [name for name in names if outputs.get(name) is None]
        if missing:
            raise OutputsError.incomplete(missing, outputs)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = outputs[f.name]
            if f.name == "accepted_suffixes":
                values[f.name] = tuple(str(item) for item in raw)
            elif f.type == "int":
                values[f.name] = int(raw)
            else:
                values[f.name] = str(raw)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["accepted_suffixes"] = list(self.accepted_suffixes)
        return data


#: How long a change of the event source mapping's state may take (AWS: Enabling/Disabling can take minutes).
MAPPING_STATE_TIMEOUT = 300.0

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    max_pool_connections=64,
    connect_timeout=5,
    read_timeout=30,
)


def endpoint_session(endpoint: Endpoint) -> boto3.Session:
    """The endpoint's own session on real AWS (its credentials refresh); else one with its static credentials."""
    if endpoint.session is not None:
        return endpoint.session
    credentials = endpoint.credentials
    return boto3.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        region_name=endpoint.region,
    )


def make_client(endpoint: Endpoint, service: str, session: boto3.Session | None = None, **config: Any) -> Any:
    """A boto3 client for ``endpoint``: retries, path-style S3 and no HTTP(S) proxy on an emulator."""
    client_config = _CLIENT_CONFIG
    if endpoint.url:  # an emulator on loopback: never through an HTTP(S)_PROXY of the environment
        client_config = client_config.merge(Config(proxies={}))
    if service == "s3" and endpoint.url:
        client_config = client_config.merge(Config(s3={"addressing_style": "path"}))
    if config:
        client_config = client_config.merge(Config(**config))
    session = session or endpoint_session(endpoint)
    return session.client(service, endpoint_url=endpoint.url, config=client_config)  # type: ignore[call-overload]


@dataclass
class Stack:
    """What a test talks to: outputs, endpoint, backend facts and boto3 clients."""

    name: str
    outputs: StackOutputs
    endpoint: Endpoint
    backend: str
    capabilities: frozenset[Capability]
    workdir: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    #: The function gateway (embedded backend): recorded calls and fault injection, see s3pipe.gateway.
    gateway_url: str | None = None
    #: The emulator's own log file, when it writes one (what the function did, whatever the handler).
    emulator_log: str | None = None
    #: Least seconds between two CloudWatch Logs reads through :attr:`logs` (the backend's; AWS has a quota).
    log_read_interval: float = 0.0
    #: Tags naming the run and the stack (on AWS, where every resource of the stack carries them; tests that
    #: create resources of their own add them too, so ``s3pipe aws sweep`` finds those); empty on emulators.
    resource_tags: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def session(self) -> boto3.Session:
        return endpoint_session(self.endpoint)

    def client(self, service: str, **config: Any) -> Any:
        return make_client(self.endpoint, service, self.session, **config)

    @cached_property
    def s3(self) -> S3Client:
        client: S3Client = self.client("s3")
        return client

    @cached_property
    def sqs(self) -> SQSClient:
        client: SQSClient = self.client("sqs")
        return client

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self.client("dynamodb")
        return client

    @cached_property
    def lambda_(self) -> LambdaClient:
        client: LambdaClient = self.client("lambda")
        return client

    @cached_property
    def logs(self) -> CloudWatchLogsClient:
        """The logs client; every reader of it is paced together when the backend has a quota to respect.

        A paced client makes one attempt per read: the pacer is its backoff (botocore's own retry sleeps would
        come on top of it), and a throttled read is retried by the next poll (:class:`~s3pipe.observe.FunctionLogs`).
        """
        if self.log_read_interval <= 0:
            plain: CloudWatchLogsClient = self.client("logs")
            return plain
        client: CloudWatchLogsClient = self.client("logs", retries={"mode": "standard", "total_max_attempts": 1})
        pace_reads(client, self.log_read_interval)
        return client

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities

    @contextmanager
    def mapping_paused(self, timeout: float = MAPPING_STATE_TIMEOUT) -> Iterator[None]:
        """Hold the event source mapping (messages pile up in the queue), and resume it after the block.

        Waits for the mapping's state to change each way (AWS passes through Disabling/Enabling, and
        polls on while Disabling): the block starts once it is Disabled, and ends once it is Enabled.
        """
        self.set_mapping_enabled(False, timeout)
        try:
            yield
        finally:
            self.set_mapping_enabled(True, timeout)

    def set_mapping_enabled(self, enabled: bool, timeout: float = MAPPING_STATE_TIMEOUT) -> str:
        """Enable or disable the event source mapping and poll until its state says so; the state reached."""
        uuid = self.outputs.event_source_mapping_uuid
        wanted = "Enabled" if enabled else "Disabled"
        self.lambda_.update_event_source_mapping(UUID=uuid, Enabled=enabled)
        started = time.monotonic()
        interval = 0.05
        states: list[str] = []
        while True:
            state = self.lambda_.get_event_source_mapping(UUID=uuid).get("State")
            if state is None or state == wanted:  # an emulator without states applies the change at once
                return state or wanted
            if not states or states[-1] != state:
                states.append(state)
            if time.monotonic() - started >= timeout:
                raise HarnessError(
                    f"The event source mapping {uuid} did not become {wanted} within {timeout:.0f} s",
                    tried=f"update_event_source_mapping(Enabled={enabled}) and poll get_event_source_mapping",
                    seen=f"states seen: {' -> '.join(states)}",
                    fix="check the mapping in the Lambda console (StateTransitionReason) or raise the timeout",
                )
            time.sleep(interval)
            interval = min(interval * 2, 2.0)

    def aws_cli_hint(self) -> str:
        if self.endpoint.url is None:
            return f"aws --region {self.endpoint.region}"
        return f"aws --endpoint-url={self.endpoint.url} --region {self.endpoint.region}"
