"""Architecture checks: a tool may import ``finr1_core``, never another tool (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

TOOLS = ("finr1_distill", "finr1_judge", "finr1_train", "finr1_evaluate", "finr1_serve")


def cross_tool_imports(src_dir: Path, own: str) -> list[str]:
    """Return ``file:line module`` for every import of another finr1 tool under ``src_dir``."""
    found = []
    for path in sorted(Path(src_dir).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module",
                "__import__",
            ):
                names = [a.value for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            for name in names:
                top = name.split(".")[0]
                if top in TOOLS and top != own:
                    found.append(f"{path}:{getattr(node, 'lineno', 0)} {name}")
    return found
