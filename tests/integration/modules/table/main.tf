# Not a pipeline: a table and a bucket, for the generic module stack (s3pipe_module_factory).
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

variable "table_name" {
  type = string
}

# The harness passes a fresh one per run on AWS (s3pipe_name_prefix_variable); emulators pass none.
variable "name_prefix" {
  type    = string
  default = ""
}

locals {
  prefix = var.name_prefix == "" ? "" : "${var.name_prefix}-"
}

resource "aws_dynamodb_table" "this" {
  name         = "${local.prefix}${var.table_name}"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }
}

resource "aws_s3_bucket" "this" {
  bucket        = "${local.prefix}${lower(var.table_name)}-files"
  force_destroy = true
}

output "table" {
  value = aws_dynamodb_table.this.name
}

output "bucket" {
  value = aws_s3_bucket.this.id
}
