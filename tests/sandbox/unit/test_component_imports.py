"""The sandbox's components are ordinary API clients: none of them imports the emulator's internals
(`sandbox.apiserver`), so the same code runs against the emulator and a real kube-apiserver."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3] / "sandbox"
PACKAGES = ("controllers", "seldon", "argo", "gateway", "webhooks")


def _imports(path: pathlib.Path, pkg: list[str] | None = None) -> list[str]:
    """Every module a file imports, as an absolute dotted name (relative imports resolved against `pkg`, by
    default the file's package)."""
    pkg = pkg or ["sandbox", *path.relative_to(ROOT).parent.parts]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = pkg[:len(pkg) - node.level + 1] if node.level else []
            mod = ".".join([*base, node.module] if node.module else base)
            out += [mod] + [f"{mod}.{a.name}" for a in node.names]
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_components_do_not_import_the_emulator(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    bad = {str(f.relative_to(ROOT)): m for f in files for m in _imports(f)
           if m == "sandbox.apiserver" or m.startswith("sandbox.apiserver.")}
    assert bad == {}


def test_the_check_sees_relative_and_absolute_imports(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("from ..apiserver.objects import Ctx\nimport sandbox.apiserver.store\nfrom . import base\n",
                 encoding="utf-8")
    names = _imports(f, ["sandbox", "controllers"])
    assert "sandbox.apiserver.objects" in names
    assert "sandbox.apiserver.store" in names
    assert "sandbox.controllers.base" in names
