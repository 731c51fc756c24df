"""The answer path's hand-set numbers have one home, ``qa/tunables.py`` (issue 23)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from qa.tunables import TUNABLES, QATunables

QA = Path(__file__).resolve().parents[2] / "qa"
HOME = QA / "tunables.py"
# Numbers that are facts or fallbacks, not tunables: (module, name) -> why.
TRUE_CONSTANTS = {
    ("food_groups.py", "_NOUN_FOOD"): "WordNet's lexicographer file number of noun.food",
    ("food_groups.py", "_FOOD_OR_SOURCE"): "WordNet's lexicographer file numbers (animal, plant, person...)",
    ("food_groups.py", "_COMMON_SENSES"): "how food_groups.tsv was made from WordNet, not read when answering",
    ("food_groups.py", "_MAX_DEPTH"): "how food_groups.tsv was made from WordNet, not read when answering",
    ("followup.py", "FollowupCues.clause_min_words"): "default of a field read from followup_cues.toml",
}


def _is_number(node: ast.expr) -> bool:
    """Whether an expression is made of numeric literals only (``20_000``, ``-1.5``, ``(5, 13)``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _is_number(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_number(node.left) and _is_number(node.right)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return bool(node.elts) and all(_is_number(element) for element in node.elts)
    return False


def _is_zero(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value == 0


def _numeric_constants(source: str) -> list[str]:
    """Names bound to a number at module level or in a class body (dataclass field defaults too).

    A class field defaulting to zero is a record's empty value (a count, a timing), not a tunable.
    """
    found = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")
                continue
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                continue
            if _is_number(value) and not (prefix and _is_zero(value)):
                found.extend(prefix + ast.unparse(target) for target in targets)

    visit(ast.parse(source).body, "")
    return found


def test_no_qa_module_defines_a_number_of_its_own():
    stray = []
    for path in sorted(QA.rglob("*.py")):
        if path == HOME:
            continue
        for name in _numeric_constants(path.read_text(encoding="utf-8")):
            if (str(path.relative_to(QA)), name) not in TRUE_CONSTANTS:
                stray.append(f"qa/{path.relative_to(QA)}: {name}")
    assert not stray, f"hand-set numbers belong in qa/tunables.py (or TRUE_CONSTANTS, saying why): {stray}"


def test_the_check_finds_a_number():
    source = (
        "from x import y\nLIMIT = 20_000\nWEIGHTS = (0.5, -1)\nNAME = 'a'\nSTART = 0\n"
        "class C:\n    margin: float = 1.5\n    flag = True\n    count: int = 0\n"
    )
    assert _numeric_constants(source) == ["LIMIT", "WEIGHTS", "START", "C.margin"]


def test_the_allow_list_names_only_what_exists():
    for module, name in TRUE_CONSTANTS:
        assert name in _numeric_constants((QA / module).read_text(encoding="utf-8")), (module, name)


def _fields_with_values(tunables: object, prefix: str = "") -> list[tuple[str, object]]:
    values = []
    for item in dataclasses.fields(tunables):
        value = getattr(tunables, item.name)
        if dataclasses.is_dataclass(value):
            values.extend(_fields_with_values(value, f"{prefix}{item.name}."))
        else:
            values.append((prefix + item.name, value))
    return values


def test_every_tunable_is_frozen_and_says_why():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TUNABLES.retrieval.depth = 3  # type: ignore[misc]
    source = HOME.read_text(encoding="utf-8").splitlines()
    groups = {type(getattr(TUNABLES, item.name)).__name__ for item in dataclasses.fields(QATunables)}
    tree = ast.parse("\n".join(source))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in groups:
            for statement in node.body:
                if isinstance(statement, ast.AnnAssign):
                    assert "  # " in source[statement.lineno - 1], f"{node.name}.{ast.unparse(statement.target)} says no why"
    assert len(_fields_with_values(TUNABLES)) >= 30
