"""The canary's verdicts, with fake clients (no emulator): each failure is one line saying what did not work."""

from __future__ import annotations

from typing import Any

import pytest

from s3pipe.backends.base import Credentials, Endpoint
from s3pipe.snapshots.canary import CANARY_PREFIX, run_canary
from s3pipe.stack import Stack, StackOutputs

from .test_snapshot_lifecycle import PREFIX, stack_outputs

CODE = "uPD0/h9D5GaERnkCAtMMEqoaRUCzbG37UuzgBfxB4LE="


class FakeAws:
    """Lambda, S3, DynamoDB and SQS as far as the canary uses them; ``pipeline_works`` decides the item."""

    def __init__(self, *, code: str = CODE, state: str = "Enabled", pipeline_works: bool = True, visible: int = 0):
        self.code = code
        self.state = state
        self.pipeline_works = pipeline_works
        self.visible = visible
        self.objects: dict[str, bytes] = {}
        self.deleted_items: list[dict[str, Any]] = []
        self.deleted_versions: list[tuple[str, str]] = []

    # lambda
    def get_function_configuration(self, **_: Any) -> dict[str, Any]:
        return {"CodeSha256": self.code}

    def get_event_source_mapping(self, **_: Any) -> dict[str, Any]:
        return {"State": self.state}

    # s3
    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> dict[str, Any]:  # noqa: N803
        self.objects[Key] = Body
        return {}

    def list_object_versions(self, *, Bucket: str, Prefix: str) -> dict[str, Any]:  # noqa: N803
        return {"Versions": [{"Key": key, "VersionId": "v1"} for key in self.objects if key.startswith(Prefix)]}

    def delete_object(self, *, Bucket: str, Key: str, VersionId: str) -> dict[str, Any]:  # noqa: N803
        self.deleted_versions.append((Key, VersionId))
        return {}

    # dynamodb
    def query(self, **kwargs: Any) -> dict[str, Any]:
        pk = kwargs["ExpressionAttributeValues"][":pk"]["S"]
        if self.pipeline_works and self.objects:
            return {"Items": [{"PK": {"S": pk}, "SK": {"S": "REC#0000000001"}}]}
        return {"Items": []}

    def delete_item(self, **kwargs: Any) -> dict[str, Any]:
        self.deleted_items.append(kwargs["Key"])
        return {}

    # sqs
    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {
            "Attributes": {
                "ApproximateNumberOfMessages": str(self.visible),
                "ApproximateNumberOfMessagesNotVisible": "0",
            }
        }


def stack_with(aws: FakeAws) -> Stack:
    stack = Stack(
        "pytest",
        StackOutputs.from_terraform(stack_outputs(4566)),
        Endpoint("http://127.0.0.1:4566", "ap-northeast-1", Credentials.fake()),
        "embedded",
        frozenset(),
    )
    for client in ("lambda_", "s3", "dynamodb", "sqs"):
        stack.__dict__[client] = aws  # the cached clients
    return stack


def test_a_working_stack_passes_and_is_left_clean() -> None:
    aws = FakeAws()
    assert run_canary(stack_with(aws), CODE) is None
    [key] = aws.objects
    assert key.startswith(CANARY_PREFIX)
    assert aws.deleted_versions == [(key, "v1")]
    assert aws.deleted_items == [
        {"PK": {"S": f"SRC#s3://{PREFIX}-raw-logs/{key}"}, "SK": {"S": "REC#0000000001"}},
        {"PK": {"S": f"HEAD#s3://{PREFIX}-raw-logs/{key}"}, "SK": {"S": "HEAD"}},  # the version's head item too
    ]


def test_other_code_fails_before_anything_is_uploaded() -> None:
    aws = FakeAws(code="other")
    assert run_canary(stack_with(aws), CODE) == f"function code hash is other, the handler zip's is {CODE}"
    assert aws.objects == {}


def test_a_disabled_mapping_fails() -> None:
    assert run_canary(stack_with(FakeAws(state="Disabled")), CODE) == (
        "event source mapping uuid-1 is 'Disabled', not Enabled"
    )


@pytest.mark.parametrize(
    ("visible", "seen"),
    [
        (1, "1 message(s) wait in the queue: the notification delivered, the mapping did not poll"),
        (0, "the queue is empty: no notification arrived, or the function consumed it without writing"),
    ],
)
def test_no_item_says_where_the_object_stopped(visible: int, seen: str) -> None:
    aws = FakeAws(pipeline_works=False, visible=visible)
    verdict = run_canary(stack_with(aws), CODE, timeout=0.2)
    assert verdict is not None
    assert verdict.startswith(f"no item for s3://{PREFIX}-raw-logs/{CANARY_PREFIX}")
    assert verdict.endswith(f"within 0 s ({seen})")
    assert len(aws.deleted_versions) == 1  # cleaned up also when it fails
