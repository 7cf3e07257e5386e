"""Terraform: CLI wrapper, provider installation, stack working copies."""
