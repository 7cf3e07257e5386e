# A root module of its own (it configures the provider), for trying the module out:
# `terraform init && terraform apply` in this folder.
provider "aws" {
  region = local.region
}

locals {
  region = "us-east-1"
  name   = "sqs-complete-example"
}

module "queue" {
  source = "../../"

  name                       = local.name
  visibility_timeout_seconds = 60
  receive_wait_time_seconds  = 10

  create_dlq        = true
  max_receive_count = 3

  tags = {
    Example = local.name
  }
}

module "plain" {
  source = "../../"

  name = "${local.name}-plain"
}
