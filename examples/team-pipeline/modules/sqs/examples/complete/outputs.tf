output "queue_url" {
  description = "The URL of the queue."
  value       = module.queue.queue_url
}

output "queue_arn" {
  description = "The ARN of the queue."
  value       = module.queue.queue_arn
}

output "dlq_url" {
  description = "The URL of the dead-letter queue."
  value       = module.queue.dlq_url
}

output "plain_queue_url" {
  description = "The URL of the queue without a dead-letter queue."
  value       = module.plain.queue_url
}
