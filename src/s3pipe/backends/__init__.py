"""Backends: where a stack runs. See :mod:`s3pipe.backends.base` for the contract."""
