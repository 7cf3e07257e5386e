variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "team-orders"
}

variable "function_zip" {
  description = "Path of the worker's deployment package (a zip of handler/)."
  type        = string
}

variable "worker_timeout_seconds" {
  description = "The worker function's timeout."
  type        = number
  default     = 10
}

variable "inbox_visibility_timeout_seconds" {
  description = "How long a received order-file message stays hidden; a failed one is retried after it. At least the worker's timeout."
  type        = number
  default     = 20
}

variable "inbox_max_receive_count" {
  description = "Receives of an order-file message before it moves to the dead-letter queue."
  type        = number
  default     = 3
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default = {
    Team    = "orders"
    Service = "order-intake"
  }
}
