"""The project's pytest configuration, found as pytest finds it, so the CLI reads the settings the plugin reads.

From the start directory upwards, in each directory: ``pytest.ini``, ``.pytest.ini`` (always the
configuration, even without a ``[pytest]`` section), ``pyproject.toml`` with
``[tool.pytest.ini_options]``, ``tox.ini`` with ``[pytest]``, ``setup.cfg`` with ``[tool:pytest]``;
the first one found is the configuration and its directory is the root that relative paths start
from (pytest's ``rootdir``). ini files are read with ``iniconfig``, pytest's own reader.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import iniconfig

#: (file name, section holding pytest's settings; None: the whole file is pytest's even without one)
_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("pytest.ini", "pytest"),
    (".pytest.ini", "pytest"),
    ("pyproject.toml", "tool.pytest.ini_options"),
    ("tox.ini", "pytest"),
    ("setup.cfg", "tool:pytest"),
)
_ALWAYS = frozenset({"pytest.ini", ".pytest.ini"})
_INLINE_COMMENT = re.compile(r"\s+[#;].*$")


def section_for(path: Path) -> str:
    """The section pytest reads in this file (``pytest``, ``tool.pytest.ini_options``, ``tool:pytest``)."""
    return next((section for name, section in _CANDIDATES if name == path.name), "pytest")


def strip_inline_comment(value: str) -> str:
    """``value  # note`` -> ``value``, line by line (pytest's ini reader keeps such comments in the value)."""
    return "\n".join(_INLINE_COMMENT.sub("", line) for line in value.splitlines()).strip()


@dataclass(frozen=True)
class IniFile:
    """The configuration file pytest would use, with its pytest section's values."""

    path: Path
    section: str
    values: Mapping[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    def where(self, key: str) -> str:
        """Where a key is (or would go): ``/p/pytest.ini [pytest] s3pipe_outputs``."""
        return f"{self.path} [{self.section}] {key}"

    def get(self, key: str) -> str | None:
        value = self.values.get(key)
        return strip_inline_comment(value) if value is not None and value.strip() else None


def find_ini(start: Path) -> IniFile | None:
    """The file pytest would take as its configuration when run in ``start``; None if there is none.

    Raises ``ValueError`` (naming the file) when the first candidate cannot be read.
    """
    for directory in (start, *start.parents):
        for name, section in _CANDIDATES:
            path = directory / name
            if path.is_file() and (found := _read(path, section)) is not None:
                return found
    return None


def _read(path: Path, section: str) -> IniFile | None:
    try:
        if path.suffix == ".toml":
            with path.open("rb") as handle:
                data = tomllib.load(handle)
            options = data.get("tool", {}).get("pytest", {}).get("ini_options")
            if not isinstance(options, dict):
                return None
            return IniFile(path, section, {str(k): _toml_value(v) for k, v in options.items()})
        parsed = iniconfig.IniConfig(str(path))
    except (OSError, ValueError, iniconfig.ParseError) as error:
        raise ValueError(f"{path}: cannot be read as pytest's configuration ({error})") from error
    if section in parsed:
        return IniFile(path, section, dict(parsed[section].items()))
    return IniFile(path, section) if path.name in _ALWAYS else None


def _toml_value(value: object) -> str:
    """A TOML ini option as pytest passes it on: strings as they are, lists one item per line."""
    if isinstance(value, list):
        return "\n".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
