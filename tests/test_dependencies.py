"""Every third-party package the bot imports is a declared runtime dependency: the test extras
install more, so a green test run alone would not notice `pip install .` missing one."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ("bot", "cogs", "db")
# Extras the bot imports only when configured to, after checking they are installed
# (bot/ops/eventloop.py for uvloop).
RUNTIME_EXTRAS = ("uvloop",)


def imported_top_levels() -> set[str]:
    names: set[str] = set()
    for package in PRODUCTION:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - set(PRODUCTION)


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = [spec for name in RUNTIME_EXTRAS for spec in project["optional-dependencies"][name]]
    return {
        re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].strip().lower().replace("_", "-")
        for spec in [*project["dependencies"], *extras]
    }


def test_every_third_party_import_is_a_runtime_dependency() -> None:
    owners = packages_distributions()
    wanted = declared()
    missing = {
        name: owners.get(name, ["?"])
        for name in imported_top_levels()
        if not {d.lower().replace("_", "-") for d in owners.get(name, [])} & wanted
    }
    assert missing == {}, f"imported but not in [project] dependencies: {missing}"
