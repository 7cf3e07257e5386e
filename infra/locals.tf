data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  ##############################################################################
  # Names: every name derives from var.name_prefix (at most 32 characters, so
  # the bucket name stays within 63 and the role/function names within 64).
  ##############################################################################

  bucket_name    = "${var.name_prefix}-raw-logs"
  queue_name     = "${var.name_prefix}-queue"
  dlq_name       = "${var.name_prefix}-dlq"
  table_name     = "${var.name_prefix}-server-logs"
  function_name  = "${var.name_prefix}-ingest"
  role_name      = "${var.name_prefix}-ingest"
  log_group_name = "/aws/lambda/${local.function_name}"

  ##############################################################################
  # ARNs constructed from the names, known at plan time. Policies that refer to
  # them do not wait for the resources they name, which lets the slow SQS
  # creations (the provider waits ~25 s in each) overlap with everything else.
  ##############################################################################

  bucket_arn    = "arn:${local.partition}:s3:::${local.bucket_name}"
  queue_arn     = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.queue_name}"
  dlq_arn       = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.dlq_name}"
  table_arn     = "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${local.table_name}"
  log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  ##############################################################################
  # Derived settings
  ##############################################################################

  # AWS recommends a visibility timeout of six times the function timeout for
  # SQS event sources, so that retries of throttled invocations fit in it.
  visibility_timeout_seconds = coalesce(var.visibility_timeout_seconds, 6 * var.lambda_timeout)

  kms_enabled     = var.kms_key_arn != null
  tracing_enabled = var.lambda_tracing_mode == "Active"
}
