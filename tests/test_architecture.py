"""The shape of the code (issue 23): layers import only downward, no module cycles, and imports
of project modules inside functions are few and each says why.

Layers: core ``verbatim/`` (settings, embedding, index format, text, safety policy) <- ``ingest/``
<- ``qa/`` <- ``web/`` and ``eval/`` <- the CLI (``verbatim/cli/``). The contracts are under
``[tool.importlinter]`` in pyproject.toml; ``lint-imports`` prints the same report by hand.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("verbatim", "ingest", "qa", "web", "eval")
MAX_FUNCTION_IMPORTS = 12  # issue 23: 81 before


def test_imports_go_only_downward_and_never_in_a_cycle():
    # Every import counts, those inside functions too (grimp reads them all). In a child process:
    # import-linter reconfigures logging, which would silence the loggers of later tests.
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, "an import breaks a contract of [tool.importlinter]:\n" + result.stdout[-4000:] + result.stderr[-2000:]


def _function_imports() -> list[tuple[Path, int, bool]]:
    """Every import of a project module inside a function: (file, line, has a comment saying why).

    An import is explained by a comment on its own line, or by one on the line above it or
    above the run of imports it belongs to.
    """
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            lines = source.splitlines()
            for function in ast.walk(ast.parse(source)):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.Import):
                        modules = [alias.name for alias in node.names]
                    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                        modules = [node.module]
                    else:
                        continue
                    if not any(module.split(".")[0] in PACKAGES for module in modules):
                        continue
                    explained = "#" in lines[node.lineno - 1]
                    above = node.lineno - 2
                    while not explained and above >= 0:
                        line = lines[above].strip()
                        if line.startswith("#"):
                            explained = True
                        elif not (line.startswith(("from ", "import ")) or line == "" and above == node.lineno - 2):
                            break
                        above -= 1
                    found.append((path.relative_to(REPO), node.lineno, explained))
    return found


def test_few_imports_inside_functions_and_each_says_why():
    found = _function_imports()
    unexplained = [f"{path}:{line}" for path, line, explained in found if not explained]
    assert not unexplained, f"imports inside functions without a comment saying why: {unexplained}"
    assert len(found) <= MAX_FUNCTION_IMPORTS, (
        f"{len(found)} imports of project modules inside functions (at most {MAX_FUNCTION_IMPORTS}): "
        + ", ".join(f"{path}:{line}" for path, line, _ in found)
    )
