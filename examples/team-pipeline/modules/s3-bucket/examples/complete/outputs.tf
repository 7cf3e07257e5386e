output "s3_bucket_id" {
  description = "The name of the bucket."
  value       = module.bucket.s3_bucket_id
}

output "s3_bucket_arn" {
  description = "The ARN of the bucket."
  value       = module.bucket.s3_bucket_arn
}

output "s3_bucket_region" {
  description = "The region the bucket lives in."
  value       = module.bucket.s3_bucket_region
}
