################################################################################
# General
################################################################################

variable "region" {
  description = "AWS region every resource of the pipeline is created in."
  type        = string
  default     = "ap-northeast-1"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "The region must be an AWS region code such as \"ap-northeast-1\"."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (bucket \"<prefix>-raw-logs\", queues \"<prefix>-queue\"/\"<prefix>-dlq\", table \"<prefix>-server-logs\", function and role \"<prefix>-ingest\"). Parallel stacks in one account and region must use distinct prefixes. 3 to 32 characters: lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen, which keeps the bucket name within 63 and the role and function names within 64 characters."
  type        = string
  default     = "s3-event-pipeline"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "The name_prefix must match ^[a-z][a-z0-9-]{1,30}[a-z0-9]$ (3-32 characters: lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen)."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource through the provider's default_tags."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key. When set, it encrypts the bucket (SSE-KMS with an S3 Bucket Key), both queues, the table, the function's log group and the function's environment variables, and the function's role gets kms:Decrypt/kms:GenerateDataKey on this key only (through S3, SQS and DynamoDB). The key policy must let s3.amazonaws.com use the key for the queues (kms:GenerateDataKey, kms:Decrypt), let logs.<region>.amazonaws.com use it for the log group, and let the account's IAM policies grant access. When null, AWS-managed encryption is used everywhere (SSE-S3, SQS-managed SSE, the DynamoDB AWS managed key)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "The kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key-id>); aliases cannot be used in IAM policies."
  }
}

variable "force_destroy" {
  description = "Whether `terraform destroy` may delete the bucket while it still holds objects (including noncurrent versions). Keep false in production; throwaway test stacks set it to true."
  type        = bool
  default     = false
  nullable    = false
}

variable "deletion_protection" {
  description = "Whether deletion protection is enabled on the DynamoDB table. Throwaway test stacks set it to false so that they can be destroyed."
  type        = bool
  default     = true
  nullable    = false
}

################################################################################
# Storage (S3)
################################################################################

variable "accepted_suffixes" {
  description = "Object key suffixes that produce an ObjectCreated notification to the queue (one S3 notification configuration per suffix). Also passed to the function as ACCEPTED_SUFFIXES (comma-joined). No suffix may end with another one, because S3 rejects overlapping notification configurations."
  type        = list(string)
  default     = [".json", ".jsonl", ".ndjson", ".log", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".log.gz"]
  nullable    = false

  validation {
    condition     = length(var.accepted_suffixes) > 0
    error_message = "The accepted_suffixes list must not be empty."
  }

  validation {
    condition     = alltrue([for s in var.accepted_suffixes : length(s) > 0 && length(s) <= 1024 && !strcontains(s, ",")])
    error_message = "Every accepted suffix must be a non-empty string of at most 1024 characters without commas (the function receives them comma-joined)."
  }

  validation {
    condition = alltrue(flatten([
      for i, a in var.accepted_suffixes : [
        for j, b in var.accepted_suffixes : i == j || !endswith(a, b)
      ]
    ]))
    error_message = "No accepted suffix may be a suffix of another one (or a duplicate): S3 rejects overlapping notification configurations for the same event type."
  }
}

variable "enable_lifecycle_rules" {
  description = "Create the raw-logs bucket's lifecycle rules. Keep true in production; throwaway test stacks turn it off because the aws provider waits a fixed ~55 s after creating a lifecycle configuration, longer than the rest of the stack takes."
  type        = bool
  default     = true
  nullable    = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions of the raw-logs bucket are permanently deleted."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "The noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after initiation after which incomplete multipart uploads to the raw-logs bucket are aborted and their parts deleted."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "The abort_incomplete_multipart_upload_days must be a whole number of days, at least 1."
  }
}

variable "access_log_bucket" {
  description = "Name of an existing bucket that receives S3 server access logs of the raw-logs bucket (under the prefix \"<bucket name>/\"). The target bucket must grant logging.s3.amazonaws.com s3:PutObject. Null disables server access logging."
  type        = string
  default     = null

  validation {
    condition     = var.access_log_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.access_log_bucket))
    error_message = "The access_log_bucket must be null or a valid S3 bucket name."
  }
}

################################################################################
# Queues (SQS)
################################################################################

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the main queue, in seconds. Null means 6 x lambda_timeout (AWS's recommendation for Lambda event sources). It must be at least lambda_timeout, otherwise AWS refuses the event source mapping."
  type        = number
  default     = null

  validation {
    condition     = var.visibility_timeout_seconds == null || try(var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200 && floor(var.visibility_timeout_seconds) == var.visibility_timeout_seconds, false)
    error_message = "The visibility_timeout_seconds must be null or a whole number of seconds between 0 and 43200."
  }
}

variable "retry_backoff_base_seconds" {
  description = "Visibility backoff of messages the function reports for retry (transient failures: throttling, 5xx, timeouts): the function hides a failed message for base x 2^(receive count - 1) seconds, capped at retry_backoff_max_seconds, instead of the queue's whole visibility timeout. 0 turns the backoff off (every retry waits the visibility timeout)."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.retry_backoff_base_seconds >= 0 && var.retry_backoff_base_seconds <= 43200 && floor(var.retry_backoff_base_seconds) == var.retry_backoff_base_seconds
    error_message = "The retry_backoff_base_seconds must be a whole number between 0 and 43200."
  }
}

variable "retry_backoff_max_seconds" {
  description = "Cap of the visibility backoff (seconds; SQS allows at most 43200)."
  type        = number
  default     = 900
  nullable    = false

  validation {
    condition     = var.retry_backoff_max_seconds >= 0 && var.retry_backoff_max_seconds <= 43200 && floor(var.retry_backoff_max_seconds) == var.retry_backoff_max_seconds
    error_message = "The retry_backoff_max_seconds must be a whole number between 0 and 43200."
  }
}

variable "on_object_removed" {
  description = "What removing an object does to its items. \"retain\" (default): the bucket notifies creations only and the items stay; the bucket is versioned, so a delete only adds a delete marker and the data stays recoverable. \"delete\": the bucket also notifies s3:ObjectRemoved:*, and a removal newer than the stored version deletes the object's records and rejection reports (a permanent delete of a noncurrent version changes nothing); the object's head item stays as a tombstone so an older creation that arrives late is ignored."
  type        = string
  default     = "retain"
  nullable    = false

  validation {
    condition     = contains(["retain", "delete"], var.on_object_removed)
    error_message = "The on_object_removed must be \"retain\" or \"delete\"."
  }
}

variable "max_receive_count" {
  description = "Number of receives after which SQS moves a message from the main queue to the DLQ."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "The max_receive_count must be a whole number between 1 and 1000."
  }
}

################################################################################
# Function (Lambda)
################################################################################

variable "lambda_zip_path" {
  description = "Path of the deployment package (a reproducible zip built by the project). A relative path is resolved against the directory Terraform runs in. The function's code is updated whenever the file's SHA-256 changes."
  type        = string
  nullable    = false

  validation {
    condition     = endswith(var.lambda_zip_path, ".zip")
    error_message = "The lambda_zip_path must be the path of a .zip deployment package."
  }
}

variable "lambda_handler" {
  description = "Handler of the function, as module.function."
  type        = string
  default     = "log_ingest.handler.lambda_handler"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)+$", var.lambda_handler))
    error_message = "The lambda_handler must be a dotted Python path such as \"package.module.function\"."
  }
}

variable "lambda_runtime" {
  description = "Python runtime of the function."
  type        = string
  default     = "python3.12"
  nullable    = false

  validation {
    condition     = can(regex("^python3\\.[0-9]+$", var.lambda_runtime))
    error_message = "The lambda_runtime must be a Python Lambda runtime such as \"python3.12\"."
  }
}

variable "lambda_memory_size" {
  description = "Memory of the function, in MB (CPU scales with it)."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240 && floor(var.lambda_memory_size) == var.lambda_memory_size
    error_message = "The lambda_memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "lambda_timeout" {
  description = "Timeout of the function, in seconds."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.lambda_timeout >= 1 && var.lambda_timeout <= 900 && floor(var.lambda_timeout) == var.lambda_timeout
    error_message = "The lambda_timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrent executions of the function. Null leaves the function unreserved (it shares the account's unreserved pool); 0 stops all invocations. A reservation below maximum_concurrency makes the event source mapping throttle, which returns messages to the queue and counts towards max_receive_count."
  type        = number
  default     = null

  validation {
    condition     = var.lambda_reserved_concurrency == null || try(var.lambda_reserved_concurrency >= 0 && floor(var.lambda_reserved_concurrency) == var.lambda_reserved_concurrency, false)
    error_message = "The lambda_reserved_concurrency must be null or a whole number >= 0."
  }
}

variable "lambda_tracing_mode" {
  description = "X-Ray tracing mode of the function: \"Active\" samples and traces invocations, \"PassThrough\" only propagates an upstream trace header."
  type        = string
  default     = "Active"
  nullable    = false

  validation {
    condition     = contains(["PassThrough", "Active"], var.lambda_tracing_mode)
    error_message = "The lambda_tracing_mode must be \"PassThrough\" or \"Active\"."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's CloudWatch log group, in days (0 keeps the logs forever)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be one of the values CloudWatch Logs accepts: 0 (never expire), 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_level" {
  description = "Log level of the function's Python logger (LOG_LEVEL environment variable)."
  type        = string
  default     = "INFO"
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "The log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
  }
}

variable "extra_environment" {
  description = "Additional environment variables of the function, merged over the module's own (TABLE_NAME, DLQ_URL, ACCEPTED_SUFFIXES, LOG_LEVEL); on a key collision the value given here wins. Production leaves it empty; the test harness uses it for fault injection and recording endpoints."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.extra_environment) : can(regex("^[A-Za-z][A-Za-z0-9_]*$", k))])
    error_message = "The extra_environment keys must be valid environment variable names (letters, digits, underscores, starting with a letter)."
  }

  # The keys Lambda reserves (its runtime sets them; AWS rejects a function that sets them).
  # AWS_ENDPOINT_URL* is not reserved: the harness points the SDK at its recording gateway with it.
  validation {
    condition = length(setintersection(keys(var.extra_environment), [
      "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
      "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
      "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
      "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
      "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    ])) == 0
    error_message = "The extra_environment keys must not include the environment variables Lambda reserves (AWS_REGION, AWS_ACCESS_KEY_ID, _HANDLER, LAMBDA_TASK_ROOT, ...)."
  }
}

################################################################################
# Event source mapping
################################################################################

variable "batch_size" {
  description = "Maximum number of SQS messages passed to one invocation. Values above 10 require maximum_batching_window_in_seconds >= 1."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000 && floor(var.batch_size) == var.batch_size
    error_message = "The batch_size must be a whole number between 1 and 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "Maximum time, in seconds, the event source mapping gathers messages before invoking the function (0 invokes as soon as messages are available)."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300 && floor(var.maximum_batching_window_in_seconds) == var.maximum_batching_window_in_seconds
    error_message = "The maximum_batching_window_in_seconds must be a whole number between 0 and 300."
  }
}

variable "maximum_concurrency" {
  description = "Maximum number of concurrent function instances the SQS event source mapping invokes."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000 && floor(var.maximum_concurrency) == var.maximum_concurrency
    error_message = "The maximum_concurrency must be a whole number between 2 and 1000 (the range AWS accepts)."
  }
}
