variable "create_bucket" {
  description = "Controls whether the bucket and its settings are created."
  type        = bool
  default     = true
}

variable "bucket" {
  description = "The name of the bucket."
  type        = string
}

variable "force_destroy" {
  description = "Delete every object (and version) when the bucket is destroyed, so that the destroy does not fail."
  type        = bool
  default     = false
}

variable "versioning_enabled" {
  description = "Keep every version of every object."
  type        = bool
  default     = true
}

variable "sse_algorithm" {
  description = "Server-side encryption by default: AES256 (SSE-S3) or aws:kms (SSE-KMS)."
  type        = string
  default     = "AES256"

  validation {
    condition     = contains(["AES256", "aws:kms"], var.sse_algorithm)
    error_message = "sse_algorithm must be AES256 or aws:kms."
  }
}

variable "kms_master_key_id" {
  description = "The KMS key for SSE-KMS (sse_algorithm = aws:kms); null uses the AWS managed key."
  type        = string
  default     = null
}

variable "block_public_access" {
  description = "Block every kind of public access (ACLs and policies) on the bucket."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags of the bucket."
  type        = map(string)
  default     = {}
}
