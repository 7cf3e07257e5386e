"""The module names its region as a literal (providers.tf): the stack is deployed there, not elsewhere."""

from __future__ import annotations

from s3pipe import Stack

REGION = "eu-west-1"  # providers.tf


def test_every_resource_is_in_the_region_the_module_names(s3pipe_stack: Stack) -> None:
    outputs = s3pipe_stack.outputs
    arns = {
        "inbox": outputs.queue_arn,
        "dead-letter queue": outputs.dlq_arn,
        "orders table": outputs.table_arn,
        "worker": outputs.function_arn,
    }

    assert {name: arn.split(":")[3] for name, arn in arns.items()} == dict.fromkeys(arns, REGION)
    assert outputs.region == REGION
    location = s3pipe_stack.s3.get_bucket_location(Bucket=outputs.bucket_name).get("LocationConstraint")
    assert location == REGION  # S3 answers an empty constraint only for us-east-1


def test_the_harness_reads_the_modules_own_output_names(s3pipe_stack: Stack) -> None:
    outputs = s3pipe_stack.outputs  # mapped in pytest.ini; the rest derived or looked up
    assert (outputs.bucket_name, outputs.table_name) == ("team-orders-landing", "team-orders-orders")
    assert (outputs.function_name, outputs.role_name) == ("team-orders-worker", "team-orders-worker")
    assert outputs.queue_arn.endswith(":team-orders-inbox")
    assert outputs.dlq_arn.endswith(":team-orders-inbox-dlq")
    assert outputs.log_group_name == "/aws/lambda/team-orders-worker"
    assert outputs.accepted_suffixes == (".csv",)
    assert (outputs.max_receive_count, outputs.visibility_timeout_seconds, outputs.lambda_timeout) == (3, 20, 10)
