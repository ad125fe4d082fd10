"""The packages of generator/ import each other without a cycle.

A ring (rules import manifest while manifest.validation imported the catalog; the account
layer in aws imported the catalog while rules import aws; aws.scan_policy imported
pipeline.iam_actions, which imported aws.session) makes every package depend on every
other: nothing can be understood, tested or moved alone, and import order starts to
matter. Here the catalog is passed in (validate_pair, the fleet's home regions, the scan
session policy), the IAM vocabulary is the neutral generator.iam, and what needs both
the manifests and the catalog (folder_checks, schema) sits above both.

Read with ``ast``, nothing imported: every ``import generator.x`` and ``from generator.x``
anywhere in a module (inside functions too: a lazy import is still a dependency), except
under ``if TYPE_CHECKING:`` (annotations only, never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GENERATOR = Path(__file__).parent.parent / "generator"
PACKAGES = sorted(p.name for p in GENERATOR.iterdir() if (p / "__init__.py").is_file())


def _unit(path: Path) -> str:
    """A subpackage's name for any module in it; a top-level module's own name."""
    parts = path.relative_to(GENERATOR).with_suffix("").parts
    return parts[0]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST) -> list[str]:
    """Modules imported at run time (``if TYPE_CHECKING:`` bodies skipped)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    """Unit → the other units it imports (a unit: a subpackage or a top-level module)."""
    edges: dict[str, set[str]] = {}
    for path in sorted(GENERATOR.rglob("*.py")):
        source = _unit(path)
        targets = edges.setdefault(source, set())
        for module in _imported(ast.parse(path.read_text(), str(path))):
            parts = module.split(".")
            if (
                parts[0] == "generator"
                and len(parts) > 1
                and parts[1] != source
                and ((GENERATOR / parts[1]).is_dir() or (GENERATOR / f"{parts[1]}.py").is_file())
            ):
                targets.add(parts[1])
    return edges


def _cycle(edges: dict[str, set[str]], nodes: set[str]) -> list[str] | None:
    """One cycle among ``nodes`` (following only edges between them), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, set()) & nodes):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(nodes):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_packages_import_each_other_without_a_cycle() -> None:
    edges = _graph()
    assert {"aws", "iam", "manifest", "rules", "pipeline"} <= set(PACKAGES)
    cycle = _cycle(edges, set(PACKAGES))
    assert cycle is None, " -> ".join(cycle or ())


def test_no_cycle_runs_through_a_top_level_module_either() -> None:
    """aws -> config -> rules -> aws is a ring too: the account layer takes the
    configuration's types only under TYPE_CHECKING, and ALL_ENABLED lives in aws.regions."""
    edges = _graph()
    cycle = _cycle(edges, set(edges))
    assert cycle is None, " -> ".join(cycle or ())


def test_the_iam_vocabulary_is_neutral() -> None:
    """Rules declare their scopes with it and the policies compose them: it may use
    nothing of reclaim but its errors and the shared service models."""
    assert _graph()["iam"] <= {"errors", "service_models"}


@pytest.mark.parametrize(
    ("package", "catalog_free"),
    [("manifest", "rules"), ("aws", "rules"), ("aws", "pipeline"), ("rules", "pipeline")],
)
def test_a_package_below_another_does_not_import_it(package: str, catalog_free: str) -> None:
    assert catalog_free not in _graph()[package]


def test_the_checker_sees_a_cycle_and_lazy_imports(tmp_path: Path) -> None:
    """The checker itself: a lazy import counts, a TYPE_CHECKING one does not."""
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from generator.rules import Rule\n"
        "def f():\n    from generator.pipeline.policy import role_policies\n"
    )
    imported = _imported(tree)
    assert "generator.pipeline.policy" in imported and "generator.rules" not in imported
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}, {"a", "b", "c"}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}, {"a", "b", "c"}) is None
