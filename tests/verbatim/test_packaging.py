"""Packaging: every third-party package the code imports is declared in pyproject.toml, and the
code's license is there."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"verbatim", "ingest", "qa", "web", "eval", "tests"}


def _imported_modules(folders: list[str]) -> dict[str, str]:
    """Top-level modules imported anywhere in ``folders``, with one file that imports each."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in PROJECT_PACKAGES:
                        found.setdefault(top, str(path.relative_to(REPO)))
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    return {_normalise(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]) for requirement in requirements}


def test_every_imported_package_is_declared():
    distributions = packages_distributions()
    declared = _declared()
    imported = _imported_modules(["verbatim", "ingest", "qa", "web", "eval", "tests"])
    missing = {
        module: where
        for module, where in imported.items()
        if not declared & {_normalise(dist) for dist in distributions.get(module, [module])}
    }
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_code_has_a_license_and_the_corpus_says_whose_terms_apply():
    license_text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    assert "own terms" in (REPO / "corpus" / "README.md").read_text(encoding="utf-8")
