"""s3-event-pipeline harness: backends, Terraform driver, pytest plugin, CLI."""
