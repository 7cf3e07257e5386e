################################################################################
# Execution role of the ingest function
#
# One inline policy (aws_iam_role_policy) rather than a managed policy and an
# attachment: the permissions exist only for this role, live and die with it,
# need no policy name of their own in the account, and are granted by a single
# PutRolePolicy that the function and the mapping can depend on.
#
# Every ARN is constructed from the names (locals.tf), so the role is complete
# before the resources it names exist and does not wait for them.
################################################################################

data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "LambdaAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = local.role_name
  description        = "Execution role of the ${local.function_name} Lambda function."
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
}

data "aws_iam_policy_document" "this" {
  statement {
    sid     = "WriteOwnLogGroup"
    effect  = "Allow"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    # The log group itself is created by Terraform, so no logs:CreateLogGroup.
    resources = ["${local.log_group_arn}:*"]
  }

  statement {
    sid    = "ReadRawLogObjects"
    effect = "Allow"
    # GetObjectVersion: the handler reads the exact version named in the event.
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.bucket_arn}/*"]
  }

  statement {
    sid    = "ListRawLogBucket"
    effect = "Allow"
    # Without s3:ListBucket, S3 answers GetObject on a missing key with 403
    # AccessDenied instead of 404 NoSuchKey; the handler needs the 404 to tell
    # "object deleted before it was read" (DLQ at once) from a permission error.
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
  }

  statement {
    sid       = "ConsumeMainQueue"
    effect    = "Allow"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [local.queue_arn]
  }

  statement {
    sid    = "DelayTransientRetries"
    effect = "Allow"
    # The function hides a message it reports for retry for an exponentially growing time
    # (ChangeMessageVisibility, one call per retried message; lambda/log_ingest/backoff.py).
    actions   = ["sqs:ChangeMessageVisibility"]
    resources = [local.queue_arn]
  }

  statement {
    sid    = "ContinueLargeObjects"
    effect = "Allow"
    # An object too large for one invocation is finished by the next one: the
    # handler sends a continuation message (resume after record N) to the queue
    # the event came from, whose URL it looks up from the event source ARN.
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = [local.queue_arn]
  }

  statement {
    sid    = "SendPermanentFailuresToDlq"
    effect = "Allow"
    # The handler routes permanently failed messages straight to the DLQ.
    actions   = ["sqs:SendMessage"]
    resources = [local.dlq_arn]
  }

  statement {
    sid       = "WriteServerLogsTable"
    effect    = "Allow"
    actions   = ["dynamodb:BatchWriteItem", "dynamodb:PutItem"]
    resources = [local.table_arn]
  }

  statement {
    sid    = "TrackObjectVersions"
    effect = "Allow"
    # The handler's head item per object (lambda/log_ingest/versions.py): UpdateItem claims and
    # completes it (conditional on the S3 sequencer); Query finds an older version's rejection
    # reports to delete; GetItem reads the newer version's S3 record when a superseded version
    # must hand it back. Deletes go through BatchWriteItem (no DeleteItem).
    actions   = ["dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:GetItem"]
    resources = [local.table_arn]
  }

  # X-Ray has no resource-level permissions: these actions only accept "*".
  dynamic "statement" {
    for_each = local.tracing_enabled ? [1] : []

    content {
      sid       = "WriteXRayTraces"
      effect    = "Allow"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }

  # Reading SSE-KMS objects and messages from the KMS-encrypted main queue, and
  # reading and writing the KMS-encrypted table.
  dynamic "statement" {
    for_each = local.kms_enabled ? [1] : []

    content {
      sid       = "DecryptWithPipelineKey"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [var.kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values = [
          "s3.${local.region}.${local.dns_suffix}",
          "sqs.${local.region}.${local.dns_suffix}",
          "dynamodb.${local.region}.${local.dns_suffix}",
        ]
      }
    }
  }

  # Sending to the KMS-encrypted DLQ and writing the KMS-encrypted table.
  dynamic "statement" {
    for_each = local.kms_enabled ? [1] : []

    content {
      sid       = "GenerateDataKeyWithPipelineKey"
      effect    = "Allow"
      actions   = ["kms:GenerateDataKey"]
      resources = [var.kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values = [
          "sqs.${local.region}.${local.dns_suffix}",
          "dynamodb.${local.region}.${local.dns_suffix}",
        ]
      }
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${local.function_name}-least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}
