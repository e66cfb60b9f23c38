"""The shape rules the project keeps (DEVELOPERS.md, CONTRIBUTING.md), checked on every run.

Function complexity is ruff's `C90` (max-complexity 15, in pyproject.toml); these are the
rules ruff has no check for.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ("bot", "cogs", "db")
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 60
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.S)


def modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _definitions(tree: ast.AST) -> Iterator[ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


@pytest.mark.parametrize("path", modules(*PRODUCTION), ids=_name)
def test_no_production_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_name(path)} has {lines} lines"


@pytest.mark.parametrize("path", modules(*PRODUCTION), ids=_name)
def test_no_class_over_300_lines_and_no_function_over_60(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in _definitions(tree):
        size = (node.end_lineno or node.lineno) - node.lineno + 1
        limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
        assert size <= limit, f"{_name(path)}:{node.lineno} {node.name} has {size} lines"


@pytest.mark.parametrize("path", sorted((ROOT / "cogs").glob("*.py")), ids=_name)
def test_no_cog_imports_another_cog(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cogs = {p.stem for p in (ROOT / "cogs").glob("*.py") if p.stem != "__init__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            assert not (parts[0] == "cogs" and len(parts) > 1 and parts[1] in cogs), (
                f"{_name(path)} imports the cog {node.module}"
            )


@pytest.mark.parametrize("path", modules("bot", "cogs"), ids=_name)
def test_sql_lives_only_in_db(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not SQL.search(node.value.upper()), f"SQL in {_name(path)}:{node.lineno}"


@pytest.mark.parametrize("path", sorted((ROOT / "cogs").glob("*.py")), ids=_name)
def test_every_cog_ends_in_an_async_setup(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if not any(isinstance(n, ast.ClassDef) for n in tree.body):
        pytest.skip("not a cog module")
    last = tree.body[-1]
    assert isinstance(last, ast.AsyncFunctionDef) and last.name == "setup", _name(path)
