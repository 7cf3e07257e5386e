################################################################################
# Queues
#
# The AWS provider waits a fixed ~25 s for attribute propagation inside every
# aws_sqs_queue create (and every aws_sqs_queue_policy or
# aws_sqs_queue_redrive_policy create, update or delete). Both policies of the
# main queue are therefore inline, and the graph is:
#
#   t =  0..25 s  DLQ. Its redrive allow policy names the main queue by a
#                 constructed ARN, so it does not wait for the main queue.
#   t = 25..50 s  main queue, with its access policy (ARNs constructed, so no
#                 wait for the bucket) and its redrive policy (SQS requires the
#                 DLQ to exist: hence the reference to aws_sqs_queue.dlq).
#   t = 50 s      bucket notification and event source mapping (seconds).
#
# A separate aws_sqs_queue_redrive_policy created in parallel with the two
# queues would let the notification and the mapping start at t = 25 s, but it
# costs the same two waits on create and adds a third on destroy (the provider
# clears the attribute and waits before the queues can go). Meanwhile the
# bucket's lifecycle configuration has its own fixed ~55 s wait in the provider
# (10 s delay + 10 consecutive polls 5 s apart), in parallel from t = 0, so the
# apply takes as long either way and the inline form destroys ~25 s faster.
################################################################################

data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "AllowRawLogsBucketToSendMessages"
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
      values   = [local.account_id]
    }
  }
}

resource "aws_sqs_queue" "dlq" {
  name = local.dlq_name

  # Maximum retention, so that failed messages can be inspected and redriven for two weeks.
  message_retention_seconds = 1209600

  sqs_managed_sse_enabled           = local.kms_enabled ? null : true
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = local.kms_enabled ? 300 : null

  # Only the main queue may use this queue as its dead-letter queue.
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [local.queue_arn]
  })
}

resource "aws_sqs_queue" "this" {
  name = local.queue_name

  visibility_timeout_seconds = local.visibility_timeout_seconds
  message_retention_seconds  = 345600 # 4 days (the SQS default), well under the DLQ's 14

  sqs_managed_sse_enabled           = local.kms_enabled ? null : true
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = local.kms_enabled ? 300 : null

  # Inline rather than a separate aws_sqs_queue_policy: the policy exists as
  # soon as the queue does, saving one ~25 s provider wait.
  policy = data.aws_iam_policy_document.queue.json

  # Inline too: SQS requires the DLQ to exist, hence the reference to it.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  lifecycle {
    precondition {
      condition     = local.visibility_timeout_seconds >= var.lambda_timeout
      error_message = "The main queue's visibility timeout (visibility_timeout_seconds = ${local.visibility_timeout_seconds}) must be at least the function timeout (lambda_timeout = ${var.lambda_timeout}); AWS refuses an SQS event source mapping otherwise. Leave visibility_timeout_seconds null to get 6 x lambda_timeout."
    }
  }
}
