variable "create" {
  description = "Controls whether the queue (and its dead-letter queue) are created."
  type        = bool
  default     = true
}

variable "name" {
  description = "The name of the queue."
  type        = string
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays hidden from other consumers (0 to 43200 s)."
  type        = number
  default     = 30
}

variable "message_retention_seconds" {
  description = "How long the queue keeps a message (60 s to 14 days)."
  type        = number
  default     = 345600
}

variable "receive_wait_time_seconds" {
  description = "Long polling: how long a ReceiveMessage call waits for a message (0 to 20 s)."
  type        = number
  default     = 0
}

variable "sqs_managed_sse_enabled" {
  description = "Encrypt messages with SQS-owned keys (SSE-SQS)."
  type        = bool
  default     = true
}

variable "policy" {
  description = "The queue's access policy (JSON), set inline when the queue is created; null for none."
  type        = string
  default     = null
}

variable "create_dlq" {
  description = "Create a dead-letter queue and redrive the queue's messages to it."
  type        = bool
  default     = false
}

variable "dlq_name" {
  description = "The name of the dead-letter queue; null gives \"<name>-dlq\"."
  type        = string
  default     = null
}

variable "dlq_message_retention_seconds" {
  description = "How long the dead-letter queue keeps a message (defaults to 14 days, the maximum)."
  type        = number
  default     = 1209600
}

variable "max_receive_count" {
  description = "Receives of a message before SQS redrives it to the dead-letter queue (create_dlq = true)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "tags" {
  description = "Tags of both queues."
  type        = map(string)
  default     = {}
}

variable "dlq_tags" {
  description = "Extra tags of the dead-letter queue."
  type        = map(string)
  default     = {}
}
