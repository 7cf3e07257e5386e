"""The generic module stack: any module directory with its variables, raw outputs and ready clients."""

from __future__ import annotations

from pathlib import Path

from s3pipe.pytest_plugin import ModuleFactory

MODULE = Path(__file__).parent / "modules" / "table"


def test_a_module_that_is_not_a_pipeline_is_applied_with_its_variables(s3pipe_module_factory: ModuleFactory) -> None:
    stack = s3pipe_module_factory(MODULE, {"table_name": "Orders"})

    assert stack.outputs == {"table": "Orders", "bucket": "orders-files"}
    dynamodb = stack.client("dynamodb")
    dynamodb.put_item(TableName=stack.output("table"), Item={"id": {"S": "A-1"}})
    assert dynamodb.get_item(TableName="Orders", Key={"id": {"S": "A-1"}})["Item"]["id"] == {"S": "A-1"}
    stack.client("s3").put_object(Bucket=stack.output("bucket"), Key="k", Body=b"x")
    assert stack.endpoint.url is not None  # an emulator on loopback (the guard checked it before apply)
