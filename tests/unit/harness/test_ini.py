"""One configuration for the CLI and the plugin: the ini file pytest would use, found the way pytest finds it."""

from __future__ import annotations

import argparse
import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from s3pipe import cli
from s3pipe.errors import HarnessError
from s3pipe.ini import find_ini, strip_inline_comment

ARTICLE_INI = """
[pytest]
testpaths = tests
# the README's example, comments after values included
s3pipe_infra_dir = .                 # the Terraform root module
s3pipe_lambda_dir = handler          # zipped by the harness, reproducibly
s3pipe_zip_variable = handler_zip    # the module's variable that receives the zip's path
s3pipe_outputs =                     # role = your output's name
    bucket = raw_bucket
    queue_url = work_queue_url
    dlq_url = failed_queue_url   # the DLQ
    table = logs_table
    function = function
"""


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("S3PIPE_"):
            monkeypatch.delenv(name)


def project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def args(**flags: str) -> argparse.Namespace:
    return argparse.Namespace(**flags)


def test_the_cli_reads_the_projects_pytest_ini_from_any_subfolder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: None
) -> None:
    root = project(tmp_path / "team", {"pytest.ini": ARTICLE_INI, "main.tf": "", "tests/unit/x.py": ""})
    monkeypatch.chdir(root / "tests" / "unit")

    config = cli.load_config(args())

    assert config.root == root
    assert config.settings_file == root / "pytest.ini"
    assert config.path(config.infra_dir) == root
    assert config.path(config.lambda_dir) == root / "handler"
    assert config.zip_variable == "handler_zip"
    assert config.outputs["dlq_url"] == "failed_queue_url"
    assert config.where("zip_variable") == f"{root / 'pytest.ini'} [pytest] s3pipe_zip_variable"
    assert config.where_to_set("outputs") == f"`s3pipe_outputs = ...` in {root / 'pytest.ini'} [pytest]"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "pyproject.toml",
            '[tool.pytest.ini_options]\ns3pipe_infra_dir = "terraform"\ns3pipe_outputs = ["bucket = b", "table = t"]\n',
        ),
        (
            "tox.ini",
            "[tox]\nenv_list = py\n\n[pytest]\ns3pipe_infra_dir = terraform\ns3pipe_outputs = bucket=b,table=t\n",
        ),
        (
            "setup.cfg",
            "[metadata]\nname = x\n\n[tool:pytest]\ns3pipe_infra_dir = terraform\ns3pipe_outputs = bucket=b,table=t\n",
        ),
    ],
)
def test_every_file_pytest_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: None, name: str, text: str
) -> None:
    root = project(tmp_path / "p", {name: text})
    monkeypatch.chdir(root)
    config = cli.load_config(args())
    assert config.path(config.infra_dir) == root / "terraform"
    assert dict(config.outputs) == {"bucket": "b", "table": "t"}
    assert str(root / name) in config.where("infra_dir")


def test_files_pytest_would_skip_are_skipped_and_a_plain_pytest_ini_stops_the_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(
        tmp_path / "outer",
        {
            "pytest.ini": "[pytest]\ns3pipe_region = eu-west-1\n",
            "inner/pyproject.toml": "[tool.black]\nline-length = 100\n",  # no pytest section: not pytest's
            "inner/tox.ini": "[tox]\n",  # no [pytest]: not pytest's either
            "inner/deeper/pytest.ini": "# empty, still pytest's configuration\n",
        },
    )
    assert find_ini(root / "inner") is not None
    assert find_ini(root / "inner").path == root / "pytest.ini"  # type: ignore[union-attr]
    found = find_ini(root / "inner" / "deeper")
    assert found is not None
    assert (found.path, found.get("s3pipe_region")) == (root / "inner" / "deeper" / "pytest.ini", None)
    monkeypatch.chdir(root / "inner" / "deeper")
    assert cli.load_config(args()).root == root / "inner" / "deeper"


def test_flags_beat_the_ini_which_beats_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: None
) -> None:
    root = project(tmp_path / "p", {"pytest.ini": "[pytest]\ns3pipe_region = eu-west-1\ns3pipe_lambda_dir = fn\n"})
    monkeypatch.chdir(root)
    monkeypatch.setenv("S3PIPE_REGION", "us-east-1")
    monkeypatch.setenv("S3PIPE_STATE_DIR", "/tmp/elsewhere")
    config = cli.load_config(args(region=None))
    assert (config.region, config.where("region")) == ("eu-west-1", f"{root / 'pytest.ini'} [pytest] s3pipe_region")
    assert (config.state_dir, config.where("state_dir")) == (Path("/tmp/elsewhere"), "S3PIPE_STATE_DIR")
    flagged = cli.load_config(args(region="sa-east-1"))
    assert (flagged.region, flagged.where("region")) == ("sa-east-1", "--region")


def test_without_an_ini_the_project_root_is_found_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: None
) -> None:
    root = project(tmp_path / "repo", {"infra/main.tf": "", "lambda/x/h.py": "", "src/deep/x": ""})
    monkeypatch.chdir(root / "src" / "deep")
    if find_ini(root) is not None:
        pytest.skip("a pytest configuration above the temporary directory takes precedence, as for pytest")
    config = cli.load_config(args())
    assert (config.root, config.settings_file) == (root, None)


def test_an_unreadable_ini_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path / "p", {"pyproject.toml": "[tool.pytest.ini_options\nbroken = \n"})
    monkeypatch.chdir(root)
    with pytest.raises(HarnessError) as raised:
        cli.load_config(args())
    assert str(root / "pyproject.toml") in str(raised.value)


def test_a_bad_value_names_where_it_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: None) -> None:
    root = project(tmp_path / "p", {"pytest.ini": "[pytest]\ns3pipe_port = many\n"})
    monkeypatch.chdir(root)
    with pytest.raises(HarnessError) as raised:
        cli.load_config(args())
    assert "s3pipe_port" in str(raised.value)
    assert "'many'" in str(raised.value)


def test_inline_comments_are_not_part_of_a_value() -> None:
    assert strip_inline_comment(".                 # the Terraform root module") == "."
    assert strip_inline_comment("bucket = b  # the bucket\ntable = t") == "bucket = b\ntable = t"
    assert strip_inline_comment("s3://x#fragment") == "s3://x#fragment"


def test_the_plugin_and_the_cli_resolve_the_same_configuration(
    suite: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: None
) -> None:
    """pytest run in the project and ``s3pipe`` run there see the same module, handler, mapping and region."""
    suite.makeini(
        ARTICLE_INI.replace("[pytest]", "[pytest]\ns3pipe_region = eu-west-1").replace("testpaths = tests", "")
    )
    suite.makepyfile(
        test_dump="""
        import json
        def test_dump(s3pipe_config):
            c = s3pipe_config
            print("CONFIG=" + json.dumps({"root": str(c.root), "infra": str(c.path(c.infra_dir)),
                  "handler": str(c.path(c.lambda_dir)), "zip": c.zip_variable, "outputs": dict(c.outputs),
                  "region": c.region, "where": c.where("outputs")}))
        """
    )
    result = suite.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    line = next(line for line in result.outlines if "CONFIG=" in line)
    from_plugin = json.loads(line.split("CONFIG=", 1)[1])
    monkeypatch.chdir(suite.path)
    config = cli.load_config(args())
    from_cli = {
        "root": str(config.root),
        "infra": str(config.path(config.infra_dir)),
        "handler": str(config.path(config.lambda_dir)),
        "zip": config.zip_variable,
        "outputs": dict(config.outputs),
        "region": config.region,
        "where": config.where("outputs"),
    }
    assert from_cli == from_plugin


def test_demo_on_a_module_of_your_own_offers_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: None) -> None:
    root = project(tmp_path / "team", {"pytest.ini": ARTICLE_INI, "main.tf": "", "handler/main.py": "def h(e, c): ..."})
    monkeypatch.chdir(root)
    with pytest.raises(HarnessError) as raised:
        cli.cmd_demo(args())
    message = str(raised.value)
    assert "needs the shipped handler and its samples" in message
    assert "`s3pipe up` brings up your module" in message
    assert str(root / "pytest.ini") in message
