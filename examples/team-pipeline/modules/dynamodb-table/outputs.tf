output "dynamodb_table_id" {
  description = "The name of the table."
  value       = try(aws_dynamodb_table.this[0].id, "")
}

output "dynamodb_table_arn" {
  description = "The ARN of the table."
  value       = try(aws_dynamodb_table.this[0].arn, "")
}
