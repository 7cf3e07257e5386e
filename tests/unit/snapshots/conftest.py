"""Fixtures of the snapshot unit tests: nothing here needs an emulator, Terraform or the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3pipe.config import HarnessConfig
from s3pipe.snapshots import SnapshotStore


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "cache" / "snapshots")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HarnessConfig:
    """A minimal project as the working directory: module, handler, provider mirror, a fake terraform."""
    for name in list(os.environ):
        if name.startswith(("S3PIPE_", "TF_CLI_CONFIG_FILE")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "none"))
    root = tmp_path / "project"
    (root / "infra").mkdir(parents=True)
    (root / "infra" / "main.tf").write_text('resource "aws_sqs_queue" "q" {}\n')
    (root / "lambda" / "log_ingest").mkdir(parents=True)
    (root / "lambda" / "log_ingest" / "app.py").write_text("def handler(event, context):\n    return {}\n")
    plugins = tmp_path / "plugins" / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / "linux_amd64"
    plugins.mkdir(parents=True)
    (plugins / "terraform-provider-aws_v5.100.0_x5").write_text("")
    terraform = tmp_path / "terraform"
    terraform.write_text('#!/bin/sh\necho \'{"terraform_version": "1.11.4"}\'\n')
    terraform.chmod(0o755)
    monkeypatch.setenv("S3PIPE_TERRAFORM", str(terraform))
    monkeypatch.setenv("S3PIPE_TF_PLUGIN_DIR", str(tmp_path / "plugins"))
    monkeypatch.setenv("S3PIPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(root)
    return HarnessConfig(root=root, tf_plugin_dir=tmp_path / "plugins", cache_dir=tmp_path / "cache")
