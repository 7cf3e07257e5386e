"""The README's set-up commands are the ones CI runs, and the docs name files that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    assert block is not None, "the README must start with a bash block of set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_exactly_two_setup_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("s3pipe demo")
    assert commands[1].endswith("tox")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert readme_commands()[1] in ci


def test_tox_env_list_is_what_the_readme_promises() -> None:
    tox = (ROOT / "tox.ini").read_text(encoding="utf-8")
    assert re.search(r"^env_list = unit, integration, lint$", tox, re.MULTILINE)


def test_relative_links_in_the_readme_resolve() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#:]+)\)", text):
        assert (ROOT / target).exists(), f"README links to missing {target}"


def test_the_readme_layout_names_every_module_of_the_harness() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1]
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", section))  # module names may hold digits (s3)
    modules = [
        path.relative_to(ROOT / "src")
        for path in (ROOT / "src" / "s3pipe").rglob("*.py")
        if path.name != "__init__.py" and path.stem not in words
    ]
    assert modules == [], "README's Layout section does not name these modules; add them to its tree"
