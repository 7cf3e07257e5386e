output "landing_bucket" {
  description = "Where order files (.csv) are uploaded."
  value       = module.landing.s3_bucket_id
}

output "inbox_queue_url" {
  description = "The queue the bucket announces new order files on."
  value       = module.inbox.queue_url
}

output "inbox_queue_arn" {
  description = "Its ARN."
  value       = module.inbox.queue_arn
}

output "dead_letter_queue_url" {
  description = "Where an order file's message goes after inbox_max_receive_count failed receives."
  value       = module.inbox.dlq_url
}

output "orders_table" {
  description = "One item per order line: order_id (partition key), sku (sort key)."
  value       = module.orders.dynamodb_table_id
}

output "orders_table_arn" {
  description = "Its ARN."
  value       = module.orders.dynamodb_table_arn
}

output "worker_function" {
  description = "The function that turns order files into items."
  value       = aws_lambda_function.worker.function_name
}

output "worker_log_group" {
  description = "The worker's log group."
  value       = aws_cloudwatch_log_group.worker.name
}
