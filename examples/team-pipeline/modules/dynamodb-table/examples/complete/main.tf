# A root module of its own (it configures the provider), for trying the module out:
# `terraform init && terraform apply` in this folder.
provider "aws" {
  region = local.region
}

locals {
  region = "eu-west-2"
  name   = "dynamodb-table-complete-example"
}

module "table" {
  source = "../../"

  name      = local.name
  hash_key  = "id"
  range_key = "title"
  attributes = [
    { name = "id", type = "N" },
    { name = "title", type = "S" },
  ]

  point_in_time_recovery_enabled = true

  tags = {
    Example = local.name
  }
}

module "provisioned" {
  source = "../../"

  name           = "${local.name}-provisioned"
  billing_mode   = "PROVISIONED"
  read_capacity  = 5
  write_capacity = 5
  hash_key       = "pk"
  attributes     = [{ name = "pk", type = "S" }]
}
