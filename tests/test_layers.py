"""The one-way dependencies of docs/architecture.md are import-linter contracts
(pyproject.toml, [tool.importlinter]); `make test` runs `lint-imports` before the suite.
These tests show the contracts bite: a forbidden import in a copy of the tree fails them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGES = PYPROJECT["tool"]["importlinter"]["root_packages"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_every_list_of_our_packages_names_the_same_packages() -> None:
    """pyproject.toml names them for packaging, mypy and import-linter (three tools, three
    lists): they must agree with each other and with the folders that are packages."""
    folders = sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests")
    tool = PYPROJECT["tool"]
    packaged = sorted(p.rstrip("*") for p in tool["setuptools"]["packages"]["find"]["include"])
    public_api = next(c for c in tool["importlinter"]["contracts"] if c["type"] == "public_api")
    assert sorted(PACKAGES) == folders
    assert packaged == folders
    assert sorted(tool["mypy"]["packages"]) == folders
    assert sorted(public_api["packages"]) == folders


def _tree_copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "tests").mkdir()
    for name in ("__init__.py", "import_contracts.py"):
        shutil.copy(ROOT / "tests" / name, tree / "tests" / name)
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(tree))  # the copy, not the installed packages
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_tree_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("media_gateway/codecs.py", "import signaling", "Layers"),
        ("recorder/chain.py", "import media_gateway", "Layers"),
        ("camera_agents/agent.py", "import cluster", "camera agent"),
        ("command_console/pages.py", "import media_gateway", "never the gateway"),
        ("signaling/api.py", "from recorder import writer", "public API"),
        ("command_console/pages.py", "import vdispatch.node", "Layers"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    tree = _tree_copy(tmp_path)
    path = tree / module
    source = path.read_text()
    # After the module docstring and `from __future__`, where an import may stand.
    head, sep, rest = source.partition("from __future__ import annotations\n")
    path.write_text(head + sep + line + "\n" + rest if sep else line + "\n" + source)
    result = _lint(tree)
    assert result.returncode != 0, f"{module}: `{line}` kept every contract"
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
