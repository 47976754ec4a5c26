"""What the server and the endpoint agent import, they declare: `make run` installs
Keystead without the test extras (and a computer installs the agent with only its
own), so a module that only the test extras bring in would pass every test here and
fail on an operator's machine at the first page that imports it."""

from __future__ import annotations

import ast
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import keystead
import keystead_agent


def _imported_top_level_modules(root: Path) -> dict[str, str]:
    """Each module name imported absolutely under ``root``, with one file importing it."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(root.parent)))
    return found


def _installed(distribution: str, extras: frozenset[str]) -> set[str]:
    """The distributions ``distribution`` needs, itself included, asked for with ``extras``
    only (``pip install .`` asks for none), by their normalised names."""
    needed: set[str] = set()
    waiting = [(distribution, extras)]
    while waiting:
        name, extras = waiting.pop()
        key = name.lower().replace("_", "-")
        if key in needed and not extras:
            continue
        needed.add(key)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if requirement.marker is None or any(
                    requirement.marker.evaluate(environment) for environment in environments):
                waiting.append((requirement.name, frozenset(requirement.extras)))
    return needed


@pytest.mark.parametrize(("package", "extras"), [
    (keystead, frozenset()),  # make run: pip install -e .
    (keystead_agent, frozenset({"agent"})),  # pip install ".[agent]" (docs/agent.md)
], ids=["server", "agent"])
def test_every_module_imported_comes_with_the_dependencies_installed(package, extras):
    provided_by = metadata.packages_distributions()
    installed = _installed("keystead", extras)
    missing = {}
    own = {"keystead", "keystead_agent"}
    for module, where in _imported_top_level_modules(Path(package.__file__).parent).items():
        if module in sys.stdlib_module_names or module in own:
            continue
        distributions = {d.lower().replace("_", "-") for d in provided_by.get(module, [])}
        if not distributions & installed:
            missing[module] = where
    assert not missing, (f"imported by the server but not brought in by its dependencies "
                         f"(pyproject.toml's dependencies, and the extras named): {missing}")
