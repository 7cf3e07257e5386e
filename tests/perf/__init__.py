"""Performance tools that must not ship in the Lambda zip (the handler bench, used by ``s3pipe bench``)."""
