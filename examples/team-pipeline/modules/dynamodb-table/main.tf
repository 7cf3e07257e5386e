resource "aws_dynamodb_table" "this" {
  count = var.create_table ? 1 : 0

  name           = var.name
  billing_mode   = var.billing_mode
  read_capacity  = var.billing_mode == "PROVISIONED" ? var.read_capacity : null
  write_capacity = var.billing_mode == "PROVISIONED" ? var.write_capacity : null
  hash_key       = var.hash_key
  range_key      = var.range_key

  deletion_protection_enabled = var.deletion_protection_enabled

  dynamic "attribute" {
    for_each = var.attributes

    content {
      name = attribute.value.name
      type = attribute.value.type
    }
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }

  dynamic "server_side_encryption" {
    for_each = var.server_side_encryption_kms_key_arn != null ? [var.server_side_encryption_kms_key_arn] : []

    content {
      enabled     = true
      kms_key_arn = server_side_encryption.value
    }
  }

  tags = merge(var.tags, { Name = var.name })
}
