"""How Terraform gets hashicorp/aws: plugin dir, CLI config, implied mirrors, or the registry (never probed here)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from s3pipe.errors import ProviderInstallError
from s3pipe.terraform import providers
from s3pipe.terraform.providers import (
    ProviderInstallation,
    has_aws_provider,
    implied_mirror_dirs,
)

AWS = Path("registry.terraform.io/hashicorp/aws")


def unpacked_mirror(root: Path, version: str = "5.80.0") -> Path:
    """``HOSTNAME/NAMESPACE/TYPE/VERSION/TARGET/terraform-provider-aws_vX_x5`` (what init -plugin-dir reads)."""
    target = root / AWS / version / "linux_amd64"
    target.mkdir(parents=True)
    (target / f"terraform-provider-aws_v{version}_x5").write_bytes(b"\x7fELF")
    return root


def packed_mirror(root: Path, version: str = "5.80.0") -> Path:
    """``HOSTNAME/NAMESPACE/TYPE/terraform-provider-TYPE_VERSION_TARGET.zip`` (``terraform providers mirror``)."""
    (root / AWS).mkdir(parents=True)
    (root / AWS / f"terraform-provider-aws_{version}_linux_amd64.zip").write_bytes(b"PK")
    return root


@pytest.fixture(autouse=True)
def no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib would send even 127.0.0.1 through an HTTP(S)_PROXY of the environment: keep these tests local."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    """A hermetic environment: HOME and the XDG data dirs point into tmp_path (no real mirror is found)."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "XDG_DATA_DIRS": str(tmp_path / "xdg-data-dirs")}


@pytest.fixture
def registry_probes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the network probe: reachable, and record that it was asked."""
    asked: list[str] = []

    def reachable(url: str = providers.REGISTRY_PROBE_URL, timeout: float = 4.0) -> tuple[bool, str]:
        asked.append(url)
        return True, "HTTP 200"

    monkeypatch.setattr(providers, "registry_reachable", reachable)
    return asked


# ---------------------------------------------------------------------------- layouts


def test_unpacked_layout_has_the_provider(tmp_path: Path) -> None:
    assert has_aws_provider(unpacked_mirror(tmp_path))


def test_other_providers_do_not_count(tmp_path: Path) -> None:
    target = tmp_path / "registry.terraform.io/hashicorp/random/3.6.0/linux_amd64"
    target.mkdir(parents=True)
    (target / "terraform-provider-random_v3.6.0_x5").write_bytes(b"")
    assert not has_aws_provider(tmp_path)
    assert not has_aws_provider(tmp_path / "does-not-exist")


def test_packed_layout_has_the_provider(tmp_path: Path) -> None:
    assert has_aws_provider(packed_mirror(tmp_path))


# ---------------------------------------------------------------------------- plugin dir


def test_plugin_dir_with_the_provider_is_passed_to_init(
    tmp_path: Path, environ: dict[str, str], registry_probes: list[str]
) -> None:
    mirror = unpacked_mirror(tmp_path / "mirror")
    installation = ProviderInstallation.resolve(mirror, tmp_path / "cache", environ)
    assert installation.init_args == (f"-plugin-dir={mirror}",)
    assert installation.source == f"plugin dir {mirror}"
    assert installation.env == {}
    assert installation.unset == ()
    assert registry_probes == []


def test_plugin_dir_without_the_provider_fails_with_where_it_looked(
    tmp_path: Path, environ: dict[str, str], registry_probes: list[str]
) -> None:
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    with pytest.raises(ProviderInstallError) as raised:
        ProviderInstallation.resolve(empty, tmp_path / "cache", environ)
    assert str(empty) in raised.value.summary
    assert f"{empty}/registry.terraform.io/hashicorp/aws" in raised.value.tried
    assert "--s3pipe-tf-plugin-dir" in raised.value.fix
    assert registry_probes == []


def test_plugin_dir_with_a_missing_cli_config_unsets_it(
    tmp_path: Path, environ: dict[str, str], registry_probes: list[str]
) -> None:
    environ["TF_CLI_CONFIG_FILE"] = str(tmp_path / "missing.tfrc")
    installation = ProviderInstallation.resolve(unpacked_mirror(tmp_path / "m"), tmp_path / "cache", environ)
    assert set(installation.unset) == {"TF_CLI_CONFIG_FILE", "TERRAFORM_CONFIG"}


# ---------------------------------------------------------------------------- CLI config


def test_existing_cli_config_is_left_to_terraform(
    tmp_path: Path, environ: dict[str, str], registry_probes: list[str]
) -> None:
    config = tmp_path / "terraform.rc"
    config.write_text('provider_installation {\n  filesystem_mirror {\n    path = "/m"\n  }\n}\n')
    environ["TF_CLI_CONFIG_FILE"] = str(config)
    installation = ProviderInstallation.resolve(None, tmp_path / "cache", environ)
    assert installation.source == f"CLI config {config}"
    assert (installation.init_args, dict(installation.env), installation.unset) == ((), {}, ())
    assert registry_probes == []


def test_legacy_terraform_config_variable_counts_too(
    tmp_path: Path, environ: dict[str, str], registry_probes: list[str]
) -> None:
    config = tmp_path / "legacy.rc"
    config.write_text("")
    environ["TERRAFORM_CONFIG"] = str(config)
    assert ProviderInstallation.resolve(None, tmp_path / "cache", environ).source == f"CLI config {config}"


def test_missing_cli_config_is_unset_and_the_registry_is_used(
    tmp_path: Path, environ: dict[str, str], registry_probes: list[str]
) -> None:
    environ["TF_CLI_CONFIG_FILE"] = str(tmp_path / "nope.rc")
    installation = ProviderInstallation.resolve(None, tmp_path / "cache", environ)
    assert set(installation.unset) == {"TF_CLI_CONFIG_FILE", "TERRAFORM_CONFIG"}
    assert installation.source == "registry.terraform.io (plugin cache)"
    assert registry_probes == [providers.REGISTRY_PROBE_URL]


# ---------------------------------------------------------------------------- implied mirrors


def test_implied_mirror_dirs_follow_home_and_xdg_defaults() -> None:
    assert implied_mirror_dirs({"HOME": "/h"}) == [
        Path("/h/.terraform.d/plugins"),
        Path("/h/.local/share/terraform/plugins"),
        Path("/usr/local/share/terraform/plugins"),
        Path("/usr/share/terraform/plugins"),
    ]


def test_implied_mirror_dirs_honour_xdg_variables() -> None:
    assert implied_mirror_dirs({"HOME": "/h", "XDG_DATA_HOME": "/data", "XDG_DATA_DIRS": "/a::/b"}) == [
        Path("/h/.terraform.d/plugins"),
        Path("/data/terraform/plugins"),
        Path("/a/terraform/plugins"),
        Path("/b/terraform/plugins"),
    ]


@pytest.mark.parametrize("where", ["home", "xdg_data_home", "xdg_data_dirs"])
def test_a_provider_in_an_implied_mirror_is_used_without_the_registry(
    tmp_path: Path, environ: dict[str, str], registry_probes: list[str], where: str
) -> None:
    if where == "home":
        directory = Path(environ["HOME"]) / ".terraform.d" / "plugins"
    elif where == "xdg_data_home":
        environ["XDG_DATA_HOME"] = str(tmp_path / "data-home")
        directory = tmp_path / "data-home" / "terraform" / "plugins"
    else:
        environ["XDG_DATA_DIRS"] = f"{tmp_path / 'first'}:{tmp_path / 'second'}"
        directory = tmp_path / "second" / "terraform" / "plugins"
    unpacked_mirror(directory)
    environ["TF_CLI_CONFIG_FILE"] = str(tmp_path / "missing.rc")

    installation = ProviderInstallation.resolve(None, tmp_path / "cache", environ)

    assert installation.source == f"implied local mirror {directory}"
    assert installation.init_args == ()
    assert dict(installation.env) == {}
    assert "TF_CLI_CONFIG_FILE" in installation.unset
    assert registry_probes == []


# ---------------------------------------------------------------------------- registry


def test_unreachable_registry_fails_fast_with_how_to_give_a_mirror(
    tmp_path: Path, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(providers, "registry_reachable", lambda *a, **k: (False, "URLError: timed out"))
    with pytest.raises(ProviderInstallError) as raised:
        ProviderInstallation.resolve(None, tmp_path / "cache", environ)
    error = raised.value
    assert "registry is unreachable" in error.summary
    assert error.seen == [
        "registry.terraform.io: URLError: timed out",
        "no TF_CLI_CONFIG_FILE and no --s3pipe-tf-plugin-dir given",
    ]
    assert "S3PIPE_TF_PLUGIN_DIR" in error.fix


def test_unreachable_registry_mentions_the_missing_cli_config(
    tmp_path: Path, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(providers, "registry_reachable", lambda *a, **k: (False, "OSError: no route"))
    environ["TF_CLI_CONFIG_FILE"] = str(tmp_path / "gone.rc")
    with pytest.raises(ProviderInstallError) as raised:
        ProviderInstallation.resolve(None, tmp_path / "cache", environ)
    assert f"TF_CLI_CONFIG_FILE={tmp_path / 'gone.rc'} (file does not exist)" in raised.value.seen


def test_reachable_registry_uses_a_plugin_cache_under_the_cache_dir(
    tmp_path: Path, environ: dict[str, str], registry_probes: list[str]
) -> None:
    installation = ProviderInstallation.resolve(None, tmp_path / "cache", environ)
    cache = tmp_path / "cache" / "terraform-plugin-cache"
    assert dict(installation.env) == {"TF_PLUGIN_CACHE_DIR": str(cache)}
    assert cache.is_dir()  # Terraform does not create the plugin cache dir itself
    assert installation.init_args == ()
    assert installation.unset == ()
    assert registry_probes == [providers.REGISTRY_PROBE_URL]


def test_an_existing_plugin_cache_setting_is_kept(
    tmp_path: Path, environ: dict[str, str], registry_probes: list[str]
) -> None:
    environ["TF_PLUGIN_CACHE_DIR"] = str(tmp_path / "user-cache")
    installation = ProviderInstallation.resolve(None, tmp_path / "cache", environ)
    assert dict(installation.env) == {"TF_PLUGIN_CACHE_DIR": str(tmp_path / "user-cache")}
    assert (tmp_path / "user-cache").is_dir()


def test_probe_false_skips_the_registry_check(
    tmp_path: Path, environ: dict[str, str], registry_probes: list[str]
) -> None:
    installation = ProviderInstallation.resolve(None, tmp_path / "cache", environ, probe=False)
    assert installation.source == "registry.terraform.io (plugin cache)"
    assert registry_probes == []


def test_registry_reachable_reports_a_failure_without_raising() -> None:
    # a URL on a closed loopback port: refused at once, no network involved
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reachable, detail = providers.registry_reachable(f"http://127.0.0.1:{port}/", timeout=2)
    assert reachable is False
    assert detail.startswith(("URLError", "ConnectionRefusedError"))
