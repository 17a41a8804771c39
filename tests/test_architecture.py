"""The packages import one another in one direction only (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import worldsim

ROOT = Path(worldsim.__file__).parent

# What each package may import, function-level imports included; the graph must stay acyclic.
ALLOWED: dict[str, set[str]] = {
    "paths": set(),
    "utils": set(),
    "sim": set(),
    "models": {"utils"},
    "diffusion": {"utils"},
    "data": {"sim", "models", "utils", "paths"},
    "runtime": {"models", "diffusion", "utils", "paths"},
    "env": {"runtime", "data", "sim", "models", "diffusion", "utils", "paths"},
    "training": {"runtime", "data", "models", "diffusion", "utils", "paths"},
    "eval": {"env", "runtime", "data", "sim", "models", "diffusion", "utils", "paths"},
    "play": {"env", "runtime", "data", "sim", "utils", "paths"},
    "cli": {
        "play",
        "eval",
        "training",
        "env",
        "runtime",
        "data",
        "sim",
        "models",
        "diffusion",
        "utils",
        "paths",
    },
    "assets": set(),
}


def _package(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return parts[0] if len(parts) > 1 else Path(parts[0]).stem


def import_edges() -> dict[str, dict[str, str]]:
    """For every package, the worldsim packages it imports and one file that does."""
    edges: dict[str, dict[str, str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        src = _package(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("worldsim.") and name.split(".")[1] != src:
                    edges.setdefault(src, {}).setdefault(name.split(".")[1], str(path))
    return edges


def test_packages_import_only_downwards() -> None:
    wrong = [
        f"{src} imports {dst} ({where})"
        for src, targets in import_edges().items()
        if src != "__init__"
        for dst, where in targets.items()
        if dst not in ALLOWED.get(src, set())
    ]
    assert not wrong, wrong


def test_the_allowed_graph_has_no_cycle() -> None:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError(f"import cycle: {' -> '.join([*trail, node])}")
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(ALLOWED.get(node, set())):
            visit(nxt, [*trail, node])
        state[node] = 2

    for package in ALLOWED:
        visit(package, [])
    assert set(ALLOWED) >= {_package(p) for p in ROOT.glob("*/")} - {"__pycache__"}
