"""The import-boundary check itself must catch a cross-tool import."""

from __future__ import annotations

from finr1_core.testing.boundaries import cross_tool_imports


def test_detects_cross_tool_imports(tmp_path):
    (tmp_path / "a.py").write_text("import finr1_core\nfrom finr1_judge.rounds import x\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("import importlib\nimportlib.import_module('finr1_train.cli')\n", encoding="utf-8")
    (tmp_path / "c.py").write_text("from finr1_distill import cli\n", encoding="utf-8")
    found = cross_tool_imports(tmp_path, "finr1_distill")
    assert [f.split(" ")[1] for f in found] == ["finr1_judge.rounds", "finr1_train.cli"]
