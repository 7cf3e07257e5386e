output "queue_id" {
  description = "The URL of the queue."
  value       = try(aws_sqs_queue.this[0].id, null)
}

output "queue_arn" {
  description = "The ARN of the queue."
  value       = try(aws_sqs_queue.this[0].arn, null)
}

output "queue_url" {
  description = "The URL of the queue (same as queue_id)."
  value       = try(aws_sqs_queue.this[0].url, null)
}

output "queue_name" {
  description = "The name of the queue."
  value       = try(aws_sqs_queue.this[0].name, null)
}

output "dlq_arn" {
  description = "The ARN of the dead-letter queue."
  value       = try(aws_sqs_queue.dlq[0].arn, null)
}

output "dlq_url" {
  description = "The URL of the dead-letter queue."
  value       = try(aws_sqs_queue.dlq[0].url, null)
}

output "dlq_name" {
  description = "The name of the dead-letter queue."
  value       = try(aws_sqs_queue.dlq[0].name, null)
}
