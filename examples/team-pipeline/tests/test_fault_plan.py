"""A fault plan on the worker's own calls: its PutItem is throttled, the file is retried and still stored."""

from __future__ import annotations

from order_files import Order, lines_of

from s3pipe import FaultPlan, FaultRule, GatewayClient, Pipeline

#: The handler's botocore retry setting (handler/app.py): attempts per SDK call.
SDK_ATTEMPTS = 3


def test_a_throttled_put_item_fails_the_message_and_the_retry_stores_every_row(
    pipeline: Pipeline, s3pipe_gateway: GatewayClient
) -> None:
    # every attempt of the worker's first PutItem call is throttled, so the call fails after its
    # SDK retries, the message is reported in batchItemFailures and SQS delivers it again
    plan = FaultPlan(seed=18, rules=(FaultRule("dynamodb", "PutItem", "throttle", max_count=1, scope="sdk_call"),))
    pipeline.settle(timeout=180)  # nothing else in flight: every PutItem from here on is this file's
    mark = s3pipe_gateway.cursor()
    order = Order.new()

    with s3pipe_gateway.faults(plan):
        upload = pipeline.upload("incoming/throttled.csv", order.csv())

        def stored() -> None:
            items = pipeline.query(order.order_id)
            assert lines_of(items) == order.expected(), f"items of {order.order_id} so far: {items}"

        pipeline.eventually(stored, timeout=120, what=f"the lines of {order.order_id} after the throttled write")

    calls = s3pipe_gateway.calls(mark)
    journal = "\n".join(str(call) for call in calls)
    throttled = [call for call in calls if call.fault == "throttle"]
    expected = [("dynamodb", "PutItem", 400)] * SDK_ATTEMPTS
    assert [(call.service, call.action, call.status) for call in throttled] == expected, journal
    assert len({call.sdk_invocation for call in throttled}) == 1, journal  # one SDK call, each of its attempts
    assert [call.sdk_attempt for call in throttled] == list(range(1, SDK_ATTEMPTS + 1)), journal
    reads = [call for call in calls if call.action == "GetObject" and upload.key in call.path]
    assert len(reads) == 2, journal  # the failed receive and the retry each read the file
    writes = [call for call in calls if call.action == "PutItem" and call.fault is None]
    assert [call.status for call in writes] == [200] * len(order.lines), journal  # the retry wrote each row once
