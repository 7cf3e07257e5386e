################################################################################
# Ingest function: reads the objects named by the S3 events it receives from
# the main queue and writes their lines to the table.
################################################################################

# Created by Terraform (not implicitly by Lambda) so that its retention and
# encryption apply from the first invocation and it is destroyed with the stack.
resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The function only calls regional AWS APIs (S3, SQS, DynamoDB) and needs no private network; a VPC would only add NAT gateway or VPC endpoint costs without isolating anything.
  #checkov:skip=CKV_AWS_116:A dead_letter_config only applies to asynchronous invocations; this function is invoked synchronously by the SQS event source mapping, whose failures go to the main queue's redrive DLQ.
  #checkov:skip=CKV_AWS_272:The package is a reproducible zip built and checksummed (source_code_hash) by the project; there is no AWS Signer profile in this pipeline to sign it with.
  function_name = local.function_name
  description   = "Ingests server logs from ${local.bucket_name} (via ${local.queue_name}) into ${local.table_name}."
  role          = aws_iam_role.this.arn

  # try(): a missing package fails the precondition below on plan/apply, but
  # must not block `terraform destroy` of a stack whose zip is already gone.
  filename         = var.lambda_zip_path
  source_code_hash = try(filebase64sha256(var.lambda_zip_path), null)
  handler          = var.lambda_handler
  runtime          = var.lambda_runtime
  memory_size      = var.lambda_memory_size
  timeout          = var.lambda_timeout

  reserved_concurrent_executions = var.lambda_reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  # The handler reads exactly these names; extra_environment wins on a collision.
  environment {
    variables = merge(
      {
        TABLE_NAME        = aws_dynamodb_table.this.name
        DLQ_URL           = aws_sqs_queue.dlq.url
        ACCEPTED_SUFFIXES = join(",", var.accepted_suffixes)
        LOG_LEVEL         = var.log_level
        # Visibility backoff of retried messages (lambda/log_ingest/backoff.py).
        RETRY_BACKOFF_BASE_SECONDS = tostring(var.retry_backoff_base_seconds)
        RETRY_BACKOFF_MAX_SECONDS  = tostring(var.retry_backoff_max_seconds)
        # What an s3:ObjectRemoved:* event does (lambda/log_ingest/versions.py).
        ON_OBJECT_REMOVED = var.on_object_removed
      },
      var.extra_environment,
    )
  }

  tracing_config {
    mode = var.lambda_tracing_mode
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  lifecycle {
    precondition {
      condition     = fileexists(var.lambda_zip_path)
      error_message = "The deployment package lambda_zip_path = \"${var.lambda_zip_path}\" does not exist; build the zip first (relative paths resolve against the directory Terraform runs in)."
    }
  }

  # The role must be usable with all its permissions before the function
  # exists; otherwise its first invocations can fail with AccessDenied.
  depends_on = [aws_iam_role_policy.this]
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn = aws_sqs_queue.this.arn
  function_name    = aws_lambda_function.this.arn
  enabled          = true

  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds

  # The handler reports the failed messages of a batch; the others are deleted.
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }

  lifecycle {
    precondition {
      condition     = var.batch_size <= 10 || var.maximum_batching_window_in_seconds >= 1
      error_message = "A batch_size above 10 (here ${var.batch_size}) requires maximum_batching_window_in_seconds >= 1; AWS refuses the event source mapping otherwise."
    }
  }

  # AWS checks that the role may receive from the queue when the mapping is created.
  depends_on = [aws_iam_role_policy.this]
}
