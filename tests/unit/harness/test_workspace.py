"""A stack's working copy: which files make up the module, sync, change hashes, the generated override."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from s3pipe.backends.base import Credentials, Endpoint
from s3pipe.terraform.hcl import Block, parse_blocks, tokenize
from s3pipe.terraform.workspace import (
    ENDPOINT_SERVICES,
    OVERRIDE_FILE,
    TFVARS_FILE,
    StackWorkspace,
    aws_provider_aliases,
    content_hash,
    module_files,
    render_override,
)

MODULE = {
    "main.tf": 'resource "aws_sqs_queue" "q" {}\n',
    "variables.tf": 'variable "region" {}\n',
    "outputs.tf.json": '{"output": {}}\n',
    "policy.json": "{}\n",
    "templates/user_data.tftpl": "echo ${x}\n",
    "modules/queue/main.tf": 'variable "name" {}\n',
}
NOT_MODULE = {
    ".terraform/providers/x.tf": "cached",
    ".terraform.lock.hcl": "lock",
    "terraform.tfstate": "{}",
    "terraform.tfstate.backup": "{}",
    "terraform.tfvars": 'region = "x"\n',
    "prod.auto.tfvars.json": "{}",
    "backend_override.tf": "terraform {}\n",
    "local_override.tf.json": "{}",
    "README.md": "# infra\n",
    ".git/config": "[core]\n",
    "__pycache__/x.json": "{}",
}
EMULATOR = Endpoint("http://127.0.0.1:4566", "ap-northeast-1", Credentials.fake())
REAL_AWS = Endpoint(None, "eu-west-1", Credentials("AKIAREAL", "real-secret"))


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def infra(tmp_path: Path) -> Path:
    return write(tmp_path / "infra", {**MODULE, **NOT_MODULE})


# ---------------------------------------------------------------------------- module_files


def test_module_files_are_the_module_and_nothing_else(infra: Path) -> None:
    found = [path.relative_to(infra).as_posix() for path in module_files(infra)]
    assert found == sorted(MODULE)


# ---------------------------------------------------------------------------- sync


def test_sync_mirrors_the_module_into_work(infra: Path, tmp_path: Path) -> None:
    workspace = StackWorkspace(tmp_path / "stack")
    digest = workspace.sync(infra)

    copied = sorted(p.relative_to(workspace.workdir).as_posix() for p in workspace.workdir.rglob("*") if p.is_file())
    assert copied == sorted(MODULE)
    for name, text in MODULE.items():
        assert (workspace.workdir / name).read_text() == text
    assert workspace.artifacts.is_dir()
    assert digest == content_hash(module_files(infra), infra)


def test_sync_removes_files_deleted_upstream_and_their_empty_dirs(infra: Path, tmp_path: Path) -> None:
    workspace = StackWorkspace(tmp_path / "stack")
    workspace.sync(infra)
    (infra / "variables.tf").unlink()
    (infra / "modules" / "queue" / "main.tf").unlink()

    workspace.sync(infra)

    assert not (workspace.workdir / "variables.tf").exists()
    assert not (workspace.workdir / "modules").exists()
    assert (workspace.workdir / "main.tf").exists()


def test_sync_keeps_terraform_dir_override_and_tfvars(infra: Path, tmp_path: Path) -> None:
    workspace = StackWorkspace(tmp_path / "stack")
    workspace.sync(infra)
    workspace.write_override(EMULATOR, [])
    workspace.write_variables({"name_prefix": "s3p-x"})
    write(
        workspace.workdir,
        {".terraform/providers/p": "binary", ".terraform/s3pipe-init": "key", ".terraform.lock.hcl": "lock"},
    )

    workspace.sync(infra)

    assert (workspace.workdir / OVERRIDE_FILE).exists()
    assert json.loads((workspace.workdir / TFVARS_FILE).read_text()) == {"name_prefix": "s3p-x"}
    assert (workspace.workdir / ".terraform" / "providers" / "p").read_text() == "binary"
    assert (workspace.workdir / ".terraform" / "s3pipe-init").read_text() == "key"
    assert (workspace.workdir / ".terraform.lock.hcl").read_text() == "lock"


def test_sync_updates_changed_files_and_leaves_unchanged_ones_alone(infra: Path, tmp_path: Path) -> None:
    workspace = StackWorkspace(tmp_path / "stack")
    workspace.sync(infra)
    os.utime(workspace.workdir / "variables.tf", (1_000_000, 1_000_000))
    (infra / "main.tf").write_text('resource "aws_sqs_queue" "other" {}\n')

    workspace.sync(infra)

    assert (workspace.workdir / "main.tf").read_text() == 'resource "aws_sqs_queue" "other" {}\n'
    assert (workspace.workdir / "variables.tf").stat().st_mtime == 1_000_000


def test_sync_of_a_directory_without_terraform_files_is_an_error(tmp_path: Path) -> None:
    empty = write(tmp_path / "infra", {"README.md": "nothing here"})
    with pytest.raises(FileNotFoundError, match=r"no Terraform files \(\*\.tf\) found in"):
        StackWorkspace(tmp_path / "stack").sync(empty)


def test_workspace_paths() -> None:
    workspace = StackWorkspace(Path("/s/stacks/dev"))
    assert workspace.workdir == Path("/s/stacks/dev/work")
    assert workspace.state_path == Path("/s/stacks/dev/terraform.tfstate")
    assert workspace.artifacts == Path("/s/stacks/dev/artifacts")
    assert workspace.record_path == Path("/s/stacks/dev/stack.json")


def test_remove_deletes_the_whole_stack_dir(infra: Path, tmp_path: Path) -> None:
    workspace = StackWorkspace(tmp_path / "stack")
    workspace.sync(infra)
    workspace.remove()
    assert not workspace.root.exists()
    workspace.remove()  # idempotent


def test_write_variables_is_sorted_json(tmp_path: Path) -> None:
    workspace = StackWorkspace(tmp_path / "stack")
    workspace.workdir.mkdir(parents=True)
    path = workspace.write_variables({"b": 1, "a": [True]})
    assert path.read_text() == '{\n  "a": [\n    true\n  ],\n  "b": 1\n}\n'


# ---------------------------------------------------------------------------- content_hash


def test_content_hash_is_stable_and_independent_of_input_order(infra: Path) -> None:
    files = module_files(infra)
    assert content_hash(files, infra) == content_hash(list(reversed(files)), infra)
    assert len(content_hash(files, infra)) == 64


def test_content_hash_changes_with_content(infra: Path) -> None:
    before = content_hash(module_files(infra), infra)
    (infra / "main.tf").write_text('resource "aws_sqs_queue" "q" {} # edited\n')
    assert content_hash(module_files(infra), infra) != before


def test_content_hash_changes_with_a_rename(infra: Path) -> None:
    before = content_hash(module_files(infra), infra)
    (infra / "variables.tf").rename(infra / "vars.tf")
    assert content_hash(module_files(infra), infra) != before


def test_content_hash_ignores_files_outside_the_module(infra: Path) -> None:
    before = content_hash(module_files(infra), infra)
    (infra / "terraform.tfstate").write_text('{"serial": 2}')
    (infra / ".terraform" / "new").write_text("x")
    assert content_hash(module_files(infra), infra) == before


def test_content_hash_does_not_depend_on_where_the_module_lives(tmp_path: Path) -> None:
    one = write(tmp_path / "one" / "infra", MODULE)
    two = write(tmp_path / "two", MODULE)
    assert content_hash(module_files(one), one) == content_hash(module_files(two), two)


# ---------------------------------------------------------------------------- render_override


def providers(text: str) -> list[Block]:
    return [block for block in parse_blocks(tokenize(text)) if block.kind == "provider"]


def test_override_for_an_emulator_sets_endpoints_fake_credentials_and_path_style(tmp_path: Path) -> None:
    text = render_override(EMULATOR, tmp_path / "terraform.tfstate")
    [provider] = providers(text)

    assert provider.labels == ["aws"]
    assert provider.attribute_string("region") == "ap-northeast-1"
    assert provider.attribute_string("access_key") == "test"
    assert provider.attribute_string("secret_key") == "test"
    for flag in ("skip_credentials_validation", "skip_metadata_api_check", "skip_requesting_account_id"):
        assert provider.attributes[flag].literal, flag
        assert f"{flag:<27} = true" in text
    assert "s3_use_path_style           = true" in text
    [endpoints] = provider.blocks
    assert endpoints.kind == "endpoints"
    assert set(endpoints.attributes) == set(ENDPOINT_SERVICES)
    for service in ENDPOINT_SERVICES:
        assert endpoints.attribute_string(service) == "http://127.0.0.1:4566", service


def test_override_forces_a_local_backend_at_the_stack_state_path(tmp_path: Path) -> None:
    state = tmp_path / 'odd "dir"' / "terraform.tfstate"
    blocks = parse_blocks(tokenize(render_override(EMULATOR, state)))
    [terraform] = [block for block in blocks if block.kind == "terraform"]
    [backend] = terraform.blocks
    assert (backend.kind, backend.labels) == ("backend", ["local"])
    assert json.loads(f'"{backend.attribute_string("path")}"') == str(state)


def test_override_has_one_provider_block_per_alias(tmp_path: Path) -> None:
    text = render_override(EMULATOR, tmp_path / "s", ["replica", "us_east_1"])
    blocks = providers(text)
    assert [block.attribute_string("alias") for block in blocks] == [None, "replica", "us_east_1"]
    for block in blocks:
        assert block.attribute_string("access_key") == "test"
        assert block.blocks[0].attribute_string("sqs") == "http://127.0.0.1:4566"
    assert text.startswith("# Generated by s3pipe")


def test_override_for_real_aws_sets_the_region_only(tmp_path: Path) -> None:
    text = render_override(REAL_AWS, tmp_path / "s", ["replica"])
    blocks = providers(text)
    assert len(blocks) == 2
    for block in blocks:
        assert set(block.attributes) <= {"region", "alias"}
        assert block.attribute_string("region") == "eu-west-1"
        assert block.blocks == []
    for secret in ("AKIAREAL", "real-secret", "access_key", "secret_key", "endpoints", "skip_"):
        assert secret not in text
    assert 'backend "local"' in text


def test_write_override_writes_the_rendered_text(tmp_path: Path) -> None:
    workspace = StackWorkspace(tmp_path / "stack")
    workspace.workdir.mkdir(parents=True)
    path = workspace.write_override(EMULATOR, ["replica"])
    assert path == workspace.workdir / OVERRIDE_FILE
    assert path.read_text() == render_override(EMULATOR, workspace.state_path, ["replica"])


# ---------------------------------------------------------------------------- aws_provider_aliases


def test_aliases_of_every_aws_provider_block_of_the_root_module(tmp_path: Path) -> None:
    """A block in a subfolder is a called module's (refused by the guard) or nobody's (a vendored examples/)."""
    infra = write(
        tmp_path / "infra",
        {
            "providers.tf": (
                'provider "aws" {\n  region = var.region\n}\n'
                'provider "aws" {\n  alias  = "replica"\n  region = "us-west-2"\n}\n'
                'provider "random" {\n  alias = "not_aws"\n}\n'
            ),
            "modules/m/providers.tf": 'provider "aws" {\n  alias = "in_module"\n}\n',
            "more.tf": 'provider "aws" {\n  alias = "replica"\n}\n',
        },
    )
    assert aws_provider_aliases(infra) == ["replica"]


def test_commented_out_provider_blocks_are_ignored(tmp_path: Path) -> None:
    infra = write(
        tmp_path / "infra",
        {
            "providers.tf": (
                '# provider "aws" {\n#   alias = "hash"\n# }\n'
                '// provider "aws" {\n//   alias = "slashes"\n// }\n'
                '/*\nprovider "aws" {\n  alias = "block"\n}\n*/\n'
                'provider "aws" {\n  alias = "live"\n}\n'
            ),
        },
    )
    assert aws_provider_aliases(infra) == ["live"]


def test_override_files_are_not_scanned_for_aliases(tmp_path: Path) -> None:
    infra = write(
        tmp_path / "infra",
        {
            "main.tf": 'provider "aws" {}\n',
            "x_override.tf": 'provider "aws" {\n  alias = "from_override"\n}\n',
        },
    )
    assert aws_provider_aliases(infra) == []
