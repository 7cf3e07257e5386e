variable "create_table" {
  description = "Controls whether the table is created."
  type        = bool
  default     = true
}

variable "name" {
  description = "The name of the table."
  type        = string
}

variable "billing_mode" {
  description = "PAY_PER_REQUEST (on demand) or PROVISIONED."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.billing_mode)
    error_message = "billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "read_capacity" {
  description = "Read capacity units (PROVISIONED only)."
  type        = number
  default     = null
}

variable "write_capacity" {
  description = "Write capacity units (PROVISIONED only)."
  type        = number
  default     = null
}

variable "hash_key" {
  description = "The partition key attribute; it must be listed in attributes."
  type        = string
}

variable "range_key" {
  description = "The sort key attribute, if any; it must be listed in attributes."
  type        = string
  default     = null
}

variable "attributes" {
  description = "The key attributes: name and type (S, N or B) of each."
  type = list(object({
    name = string
    type = string
  }))
}

variable "point_in_time_recovery_enabled" {
  description = "Continuous backups (point-in-time recovery)."
  type        = bool
  default     = false
}

variable "server_side_encryption_kms_key_arn" {
  description = "A customer managed KMS key for the table; null keeps the AWS owned key."
  type        = string
  default     = null
}

variable "deletion_protection_enabled" {
  description = "Refuse to delete the table."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags of the table."
  type        = map(string)
  default     = {}
}
