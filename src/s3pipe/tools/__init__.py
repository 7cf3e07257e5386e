"""Small project tools run from tox (``python -m s3pipe.tools.<name>``)."""
