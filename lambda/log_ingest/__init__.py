"""log_ingest: the Lambda function of the s3-event-pipeline reference pipeline.

S3 object created -> S3 event notification in SQS -> this function -> DynamoDB.

Entry point (Terraform's handler setting): ``log_ingest.handler.lambda_handler``.
Only the standard library and boto3/botocore (provided by the Lambda runtime) are used.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
