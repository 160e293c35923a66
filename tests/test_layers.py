"""The one-way dependencies of docs/architecture.md hold: parse every import."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
OURS = {
    "bitstream",
    "media_gateway",
    "recorder",
    "catalog",
    "signaling",
    "command_console",
    "camera_agents",
    "cluster",
    "vdispatch",
}
ALLOWED = {
    "bitstream": set(),
    "media_gateway": {"cluster", "bitstream"},
    "recorder": {"cluster", "bitstream"},
    "catalog": {"recorder"},
    "signaling": {"media_gateway", "recorder", "catalog", "cluster"},
    "command_console": {"signaling", "recorder", "catalog", "cluster"},
    "camera_agents": {"recorder", "bitstream"},
    "cluster": set(),
    "vdispatch": OURS,
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


def test_packages_import_only_what_the_architecture_allows() -> None:
    violations = []
    for package, allowed in ALLOWED.items():
        for path in sorted((SRC / package).rglob("*.py")):
            for dep in _imports(path) - allowed - {package}:
                violations.append(f"{path.relative_to(SRC)} imports {dep}")
    assert violations == []


def test_nothing_imports_the_composition_root() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for package in OURS - {"vdispatch"}
        for p in (SRC / package).rglob("*.py")
        if "vdispatch" in _imports(p)
    ]
    assert offenders == []
