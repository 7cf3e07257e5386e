# The only provider configuration of this module. Endpoints and credentials are
# deliberately absent: callers (the s3-event-pipeline test harness, CI, an
# operator's shell) supply them through the environment or through a
# `*_override.tf` file that Terraform merges into this block.
provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}
