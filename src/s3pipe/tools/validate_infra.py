"""``terraform validate`` of infra/ from a scratch copy, with the same provider installation as the harness."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from s3pipe.config import HarnessConfig
from s3pipe.errors import HarnessError
from s3pipe.terraform.cli import Terraform
from s3pipe.terraform.providers import ProviderInstallation
from s3pipe.terraform.workspace import StackWorkspace


def main() -> int:
    config = HarnessConfig.resolve(Path.cwd())
    installation = ProviderInstallation.resolve(config.tf_plugin_dir, config.cache_dir)
    env = {k: v for k, v in os.environ.items() if k not in installation.unset}
    env.update(installation.env)
    with tempfile.TemporaryDirectory(prefix="s3pipe-validate-") as scratch:
        workspace = StackWorkspace(Path(scratch))
        workspace.sync(config.path(config.infra_dir))
        terraform = Terraform(workspace.workdir, env, config.terraform_binary)
        try:
            terraform.init(("-backend=false", *installation.init_args))
            result = terraform.validate()
        except HarnessError as error:
            print(error, file=sys.stderr)
            return 1
    print("\n".join(result.lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
