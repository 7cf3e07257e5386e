# A root module of its own (it configures the provider), for trying the module out:
# `terraform init && terraform apply` in this folder.
provider "aws" {
  region = local.region
}

locals {
  region = "eu-central-1"
  name   = "s3-bucket-complete-example"
}

module "bucket" {
  source = "../../"

  bucket        = local.name
  force_destroy = true

  versioning_enabled  = true
  sse_algorithm       = "AES256"
  block_public_access = true

  tags = {
    Example = local.name
  }
}

module "disabled" {
  source = "../../"

  create_bucket = false
  bucket        = "never-created"
}
