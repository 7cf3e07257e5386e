"""The happy path and a malformed file, through the deployed pipeline with the generic helpers only."""

from __future__ import annotations

from order_files import Order, lines_of

from s3pipe import Pipeline


def test_each_row_of_an_order_file_becomes_an_item(pipeline: Pipeline) -> None:
    order = Order.new()
    upload = pipeline.upload("incoming/orders.csv", order.csv())

    def stored() -> list[dict[str, object]]:
        items = pipeline.query(order.order_id)
        assert lines_of(items) == order.expected(), f"items of {order.order_id} so far: {items}"
        return items

    items = pipeline.eventually(stored, what=f"the lines of {order.order_id} in the orders table")

    assert {item["source"] for item in items} == {f"s3://{upload.bucket}/{upload.key}"}
    assert sorted(int(str(item["source_line"])) for item in items) == [2, 3]  # line 1 is the header


def test_a_malformed_row_fails_the_file_until_sqs_moves_it_to_the_dlq(pipeline: Pipeline) -> None:
    order = Order.new(("SKU-GOOD", 1, "5.00"))
    upload = pipeline.upload("incoming/broken.csv", order.csv(f"{order.order_id},SKU-BAD,lots,1.00"))

    # every receive raises on line 3; after inbox_max_receive_count (3) receives of 20 s visibility, SQS redrives
    [entry] = pipeline.dlq_entries_for(upload, timeout=180)

    assert entry.concerns(upload.bucket, upload.key)
    assert entry.failure_class == "redriven"  # moved by SQS, not by the handler
    pipeline.settle()
    # rows before the bad one were written (PutItem per row, no transaction); the bad one never was
    assert pipeline.get_item(order.order_id, "SKU-GOOD") is not None
    assert pipeline.get_item(order.order_id, "SKU-BAD") is None
