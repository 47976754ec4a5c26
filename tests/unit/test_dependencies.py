"""What the server imports, it declares: `make run` installs Keystead without the test
extras, so a module that only the test extras bring in would pass every test here and
fail on an operator's machine at the first page that imports it."""

from __future__ import annotations

import ast
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

import keystead

SERVER_SOURCE = Path(keystead.__file__).parent


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


def _installed_without_extras(distribution: str) -> set[str]:
    """The distributions ``distribution`` needs, itself included, asked for without extras
    (as ``pip install .`` asks), by their normalised names."""
    needed: set[str] = set()
    waiting = [(distribution, frozenset())]
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


def test_every_module_the_server_imports_comes_with_its_own_dependencies():
    provided_by = metadata.packages_distributions()
    installed = _installed_without_extras("keystead")
    missing = {}
    for module, where in _imported_top_level_modules(SERVER_SOURCE).items():
        if module in sys.stdlib_module_names or module == "keystead":
            continue
        distributions = {d.lower().replace("_", "-") for d in provided_by.get(module, [])}
        if not distributions & installed:
            missing[module] = where
    assert not missing, (f"imported by the server but not brought in by its dependencies "
                         f"(pyproject.toml [project] dependencies): {missing}")
