output "region" {
  description = "AWS region of the pipeline."
  value       = local.region
}

output "name_prefix" {
  description = "Prefix of every resource name."
  value       = var.name_prefix
}

################################################################################
# Storage
################################################################################

output "bucket_name" {
  description = "Name of the raw-logs bucket that objects are uploaded to."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the raw-logs bucket."
  value       = aws_s3_bucket.this.arn
}

output "accepted_suffixes" {
  description = "Object key suffixes that trigger ingestion."
  value       = var.accepted_suffixes
}

################################################################################
# Queues
################################################################################

output "queue_name" {
  description = "Name of the main queue that receives the bucket's ObjectCreated events."
  value       = aws_sqs_queue.this.name
}

output "queue_url" {
  description = "URL of the main queue."
  value       = aws_sqs_queue.this.url
}

output "queue_arn" {
  description = "ARN of the main queue."
  value       = aws_sqs_queue.this.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "visibility_timeout_seconds" {
  description = "Effective visibility timeout of the main queue, in seconds."
  value       = aws_sqs_queue.this.visibility_timeout_seconds
}

output "max_receive_count" {
  description = "Receives after which SQS moves a message to the DLQ."
  value       = var.max_receive_count
}

################################################################################
# Function
################################################################################

output "function_name" {
  description = "Name of the ingest function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the ingest function."
  value       = aws_lambda_function.this.arn
}

output "lambda_timeout" {
  description = "Timeout of the ingest function, in seconds."
  value       = aws_lambda_function.this.timeout
}

output "role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "event_source_mapping_uuid" {
  description = "UUID of the event source mapping from the main queue to the function."
  value       = aws_lambda_event_source_mapping.this.uuid
}

################################################################################
# Table
################################################################################

output "table_name" {
  description = "Name of the server-logs table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the server-logs table."
  value       = aws_dynamodb_table.this.arn
}
