output "dynamodb_table_id" {
  description = "The name of the table."
  value       = module.table.dynamodb_table_id
}

output "dynamodb_table_arn" {
  description = "The ARN of the table."
  value       = module.table.dynamodb_table_arn
}

output "provisioned_table_arn" {
  description = "The ARN of the provisioned table."
  value       = module.provisioned.dynamodb_table_arn
}
