"""The IAM audit's view of the worker: every call it made, evaluated against its own role as deployed."""

from __future__ import annotations

from order_files import Order, lines_of

from s3pipe import GatewayClient, Pipeline, Stack
from s3pipe.iam import audit_stack


def test_the_audit_sees_the_workers_reads_and_writes_allowed_by_its_role(
    pipeline: Pipeline, s3pipe_stack: Stack, s3pipe_gateway: GatewayClient
) -> None:
    outputs = s3pipe_stack.outputs
    mark = s3pipe_gateway.cursor()
    order = Order.new()
    upload = pipeline.upload("incoming/audited.csv", order.csv())

    def stored() -> None:
        assert lines_of(pipeline.query(order.order_id)) == order.expected()

    pipeline.eventually(stored, what=f"the lines of {order.order_id} in the orders table")

    calls = s3pipe_gateway.calls(mark)
    journal = "\n".join(str(call) for call in calls)
    reads = [call for call in calls if call.action == "GetObject" and pipeline.prefix in call.path]
    assert [call.resources for call in reads] == [(f"{outputs.bucket_arn}/{upload.key}",)], journal
    assert [call.iam_actions for call in reads] == [("s3:GetObject",)], journal
    writes = [call for call in calls if call.action == "PutItem"]
    assert len(writes) >= len(order.lines), journal
    assert {call.resources for call in writes} == {(outputs.table_arn,)}, journal

    report = audit_stack(s3pipe_stack, s3pipe_gateway, since=mark)
    print(report.render_text())

    assert report.role == outputs.role_name == "team-orders-worker"
    assert report.calls_seen >= len(calls) > 0  # the audit reads the journal again, a moment later
    assert report.violations == [], report.render_text()
    allowed_by = {(kind.action, kind.resource): kind.statements for kind in report.kinds}
    assert allowed_by[("s3:GetObject", f"{outputs.bucket_arn}/*")] == ("ReadOrderFiles",)
    assert allowed_by[("dynamodb:PutItem", outputs.table_arn)] == ("WriteOrders",)
    assert report.unused == [], report.render_text()  # least privilege: nothing granted goes unused
    platform = {(grant.statement, grant.action) for grant in report.platform}
    assert ("ConsumeInbox", "sqs:ReceiveMessage") in platform  # the mapping's, not the function's
