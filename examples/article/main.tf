# The seed article's pipeline in its single-file layout: S3 -> SQS -> Lambda -> DynamoDB.
# Its own names and outputs; aws provider only (the harness builds the zip, so no archive/random
# providers); a DLQ added, so a file the handler cannot read ends somewhere a test can see.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = "ap-northeast-1"
}

variable "handler_zip" {
  description = "Path of the handler's zip (the harness passes it: s3pipe_zip_variable = handler_zip)."
  type        = string
}

# ------------------------------------------------------------------ data lake

resource "aws_s3_bucket" "server_log" {
  bucket        = "row-data-server-log-bucket"
  force_destroy = true
}

resource "aws_s3_bucket_notification" "bucket_notification" {
  bucket = aws_s3_bucket.server_log.id

  queue {
    queue_arn     = aws_sqs_queue.server_log_queue.arn
    events        = ["s3:ObjectCreated:*"]
    filter_suffix = ".json"
  }
}

# ------------------------------------------------------------------ work queue and its DLQ

resource "aws_sqs_queue" "server_log_dlq" {
  name = "server-log-dlq"
}

# The queue policy is inline (the article has a separate aws_sqs_queue_policy): the aws provider
# waits ~25 s after each queue or queue-policy create, so this saves one wait. Its ARNs are
# written out, as the queue cannot refer to its own ARN.
resource "aws_sqs_queue" "server_log_queue" {
  name                       = "server-log-queue"
  visibility_timeout_seconds = 5
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.server_log_dlq.arn
    maxReceiveCount     = 2
  })
  policy = data.aws_iam_policy_document.sqs_allow_s3.json
}

data "aws_iam_policy_document" "sqs_allow_s3" {
  statement {
    effect = "Allow"
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    actions   = ["sqs:SendMessage"]
    resources = ["arn:aws:sqs:*:*:server-log-queue"]
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = ["arn:aws:s3:::row-data-server-log-bucket"]
    }
  }
}

# ------------------------------------------------------------------ function

data "aws_iam_policy_document" "assume_role" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda_execution_role" {
  name               = "server-log-role"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
}

data "aws_iam_policy_document" "lambda_policy" {
  statement {
    effect    = "Allow"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:aws:logs:*:*:*"]
  }
  statement {
    effect    = "Allow"
    actions   = ["dynamodb:PutItem"]
    resources = [aws_dynamodb_table.server_logs_table.arn]
  }
  statement {
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.server_log.arn}/*"]
  }
  statement {
    effect    = "Allow"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.server_log_queue.arn]
  }
}

resource "aws_iam_role_policy" "lambda_policy" {
  name   = "lambda_server_log_policy"
  role   = aws_iam_role.lambda_execution_role.id
  policy = data.aws_iam_policy_document.lambda_policy.json
}

resource "aws_lambda_function" "server_log_function" {
  function_name    = "server-log-function"
  handler          = "main.lambda_handler"
  runtime          = "python3.12"
  timeout          = 3
  role             = aws_iam_role.lambda_execution_role.arn
  filename         = var.handler_zip
  source_code_hash = filebase64sha256(var.handler_zip)

  environment {
    variables = {
      TABLE_NAME = aws_dynamodb_table.server_logs_table.name
    }
  }
}

resource "aws_lambda_event_source_mapping" "server_log_queue_mapping" {
  event_source_arn = aws_sqs_queue.server_log_queue.arn
  function_name    = aws_lambda_function.server_log_function.arn
  batch_size       = 1
}

# ------------------------------------------------------------------ table

resource "aws_dynamodb_table" "server_logs_table" {
  name         = "ServerLogsTable"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "PK"
  range_key    = "SK"

  attribute {
    name = "PK"
    type = "S"
  }

  attribute {
    name = "SK"
    type = "S"
  }
}

# ------------------------------------------------------------------ outputs (its own names, no ARNs)

output "raw_bucket" {
  value = aws_s3_bucket.server_log.id
}

output "work_queue_url" {
  value = aws_sqs_queue.server_log_queue.url
}

output "failed_queue_url" {
  value = aws_sqs_queue.server_log_dlq.url
}

output "logs_table" {
  value = aws_dynamodb_table.server_logs_table.name
}

output "function" {
  value = aws_lambda_function.server_log_function.function_name
}
