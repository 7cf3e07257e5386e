output "s3_bucket_id" {
  description = "The name of the bucket."
  value       = try(aws_s3_bucket.this[0].id, "")
}

output "s3_bucket_arn" {
  description = "The ARN of the bucket (arn:aws:s3:::bucketname)."
  value       = try(aws_s3_bucket.this[0].arn, "")
}

output "s3_bucket_region" {
  description = "The region the bucket lives in."
  value       = try(aws_s3_bucket.this[0].region, "")
}
