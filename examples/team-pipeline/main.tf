# Order files land in a bucket; each new .csv object is announced on a queue; the worker reads it
# and writes one item per row to the orders table. A file that keeps failing ends in the DLQ.
#
#   landing bucket --s3:ObjectCreated:*.csv--> inbox queue (+ DLQ) --> worker (Lambda) --> orders table

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  bucket_name   = "${var.name}-landing"
  queue_name    = "${var.name}-inbox"
  table_name    = "${var.name}-orders"
  function_name = "${var.name}-worker"

  # Constructed, so the queue's policy does not wait for the bucket and the role waits for nothing.
  arn_prefix    = "arn:${data.aws_partition.current.partition}"
  where         = "${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  bucket_arn    = "${local.arn_prefix}:s3:::${local.bucket_name}"
  queue_arn     = "${local.arn_prefix}:sqs:${local.where}:${local.queue_name}"
  table_arn     = "${local.arn_prefix}:dynamodb:${local.where}:table/${local.table_name}"
  log_group_arn = "${local.arn_prefix}:logs:${local.where}:log-group:/aws/lambda/${local.function_name}"
}

# ------------------------------------------------------------------ storage and queues (vendored modules)

module "landing" {
  source = "./modules/s3-bucket"

  bucket              = local.bucket_name
  force_destroy       = true
  versioning_enabled  = true
  sse_algorithm       = "AES256"
  block_public_access = true

  tags = var.tags
}

module "inbox" {
  source = "./modules/sqs"

  name                       = local.queue_name
  visibility_timeout_seconds = var.inbox_visibility_timeout_seconds
  policy                     = data.aws_iam_policy_document.inbox.json

  create_dlq        = true
  max_receive_count = var.inbox_max_receive_count

  tags = var.tags
}

module "orders" {
  source = "./modules/dynamodb-table"

  name      = local.table_name
  hash_key  = "order_id"
  range_key = "sku"
  attributes = [
    { name = "order_id", type = "S" },
    { name = "sku", type = "S" },
  ]
  point_in_time_recovery_enabled = true

  tags = var.tags
}

# Only the landing bucket of this account may send to the inbox.
data "aws_iam_policy_document" "inbox" {
  statement {
    sid       = "LandingBucketNotifies"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [local.queue_arn]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.bucket_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_s3_bucket_notification" "landing" {
  bucket = module.landing.s3_bucket_id

  queue {
    id            = "order-files"
    queue_arn     = module.inbox.queue_arn
    events        = ["s3:ObjectCreated:*"]
    filter_suffix = ".csv"
  }
}

# ------------------------------------------------------------------ the worker

data "aws_iam_policy_document" "worker_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "worker" {
  name               = local.function_name
  assume_role_policy = data.aws_iam_policy_document.worker_assume.json
  tags               = var.tags
}

# Exactly what the worker and its event source mapping use, nothing more.
data "aws_iam_policy_document" "worker" {
  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  statement {
    sid       = "ConsumeInbox"
    effect    = "Allow"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [local.queue_arn]
  }

  statement {
    sid       = "ReadOrderFiles"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/*"]
  }

  statement {
    sid       = "WriteOrders"
    effect    = "Allow"
    actions   = ["dynamodb:PutItem"]
    resources = [local.table_arn]
  }
}

resource "aws_iam_role_policy" "worker" {
  name   = "worker"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = 14
  tags              = var.tags
}

resource "aws_lambda_function" "worker" {
  function_name    = local.function_name
  description      = "Writes the rows of the order files landing in ${local.bucket_name} to ${local.table_name}."
  role             = aws_iam_role.worker.arn
  runtime          = "python3.12"
  handler          = "app.handler"
  filename         = var.function_zip
  source_code_hash = filebase64sha256(var.function_zip)
  timeout          = var.worker_timeout_seconds
  memory_size      = 256

  environment {
    variables = {
      TABLE_NAME = module.orders.dynamodb_table_id
    }
  }

  tags = var.tags

  # The role must be complete, and the log group exist, before the first invocation.
  depends_on = [aws_iam_role_policy.worker, aws_cloudwatch_log_group.worker]
}

resource "aws_lambda_event_source_mapping" "inbox" {
  event_source_arn        = module.inbox.queue_arn
  function_name           = aws_lambda_function.worker.arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  lifecycle {
    precondition {
      condition     = var.inbox_visibility_timeout_seconds >= var.worker_timeout_seconds
      error_message = "The inbox's visibility timeout (${var.inbox_visibility_timeout_seconds} s) must be at least the worker's timeout (${var.worker_timeout_seconds} s)."
    }
  }

  depends_on = [aws_iam_role_policy.worker]
}
