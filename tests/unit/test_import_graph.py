"""The package's import graph has no cycle (a static read: module-level imports, no execution).

Imports inside functions and under ``if TYPE_CHECKING:`` are not followed: they run late or never,
so they cannot make a module see a half-initialised other. Importing ``a.b.c`` runs the package
``__init__`` of ``a`` and ``a.b`` first, so those count as imported too, except from inside ``a.b``
itself, whose parents are initialising already (a package ``__init__`` re-exporting its modules is
not a cycle; a module importing names from its own package's ``__init__`` is).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "s3pipe"


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported (also inside try/if at module level)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _module_level(block)


def _with_parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def imported_modules(path: Path, modules: Mapping[str, Path], root: Path = SRC) -> set[str]:
    """The package's modules that importing ``path`` runs (directly), parents included."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _module_level(ast.parse(path.read_text(encoding="utf-8")).body):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            # A module's own ancestor packages are initialising already when it runs: importing a
            # sibling through them runs only the sibling. Importing the ancestor itself still counts.
            found.update(
                parent
                for parent in _with_parents(target)
                if parent in modules and (parent == target or not name.startswith(parent + "."))
            )
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in (SRC / PACKAGE).rglob("*.py")}
    return {name: imported_modules(path, modules) for name, path in modules.items()}


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == 1:
                return [*stack[stack.index(successor) :], successor]
            if successor not in state and (cycle := visit(successor)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 20, f"the static read found too few modules under {SRC / PACKAGE}: {sorted(graph)}"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"a.b"}, "a.b": {"a"}}, ["a", "a.b", "a"]),
    ],
)
def test_the_cycle_finder_sees_cycles(graph: dict[str, set[str]], expected: list[str] | None) -> None:
    assert find_cycle(graph) == expected


def test_the_reader_follows_module_level_imports_only(tmp_path: Path) -> None:
    source = tmp_path / "pkg" / "mod.py"
    source.parent.mkdir()
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from pkg import other\n"
        "if TYPE_CHECKING:\n    from pkg import typed\n"
        "def late():\n    from pkg import lazy\n"
    )
    modules = dict.fromkeys(("pkg", "pkg.mod", "pkg.other", "pkg.typed", "pkg.lazy"), tmp_path)
    assert imported_modules(source, modules, tmp_path) == {"pkg", "pkg.other"}


def _imported_top_levels(path: Path) -> set[str]:
    """Top-level names of every import in ``path``, wherever it stands (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
    return found


def test_hypothesis_is_imported_only_by_the_strategies() -> None:
    """Hypothesis is an optional extra: the harness must run without it."""
    strategies = SRC / PACKAGE / "strategies"
    users = sorted(
        module_name(path)
        for path in (SRC / PACKAGE).rglob("*.py")
        if strategies not in path.parents and "hypothesis" in _imported_top_levels(path)
    )
    assert users == []
    assert "hypothesis" in _imported_top_levels(strategies / "__init__.py")


def test_the_strategies_stand_alone() -> None:
    """s3pipe.strategies imports nothing of the harness (nor boto3): a handler's unit tests need no emulator stack."""
    modules = {module_name(path): path for path in (SRC / PACKAGE).rglob("*.py")}
    strategies = {n: p for n, p in modules.items() if n == "s3pipe.strategies" or n.startswith("s3pipe.strategies.")}
    assert "s3pipe.strategies.sqs" in strategies
    for name, path in strategies.items():
        harness = {m for m in imported_modules(path, modules) if not m.startswith("s3pipe.strategies")} - {"s3pipe"}
        assert harness == set(), f"{name} imports {sorted(harness)}"
        assert not {"boto3", "botocore"} & _imported_top_levels(path), name
