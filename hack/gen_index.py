"""Generate the module and role index in README.md from the plugins' DOCUMENTATION and the roles'
meta/argument_specs.yml, so the index is never hand-kept.

    python hack/gen_index.py          # rewrite README.md
    python hack/gen_index.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- BEGIN GENERATED INDEX (hack/gen_index.py) -->", "<!-- END GENERATED INDEX -->"


def module_docs() -> list[tuple[str, str]]:
    rows = []
    for path in sorted((ROOT / "plugins" / "modules").glob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        doc = next(
            (
                node.value.value
                for node in tree.body
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "DOCUMENTATION" for t in node.targets)
                and isinstance(node.value, ast.Constant)
            ),
            None,
        )
        if doc is None:
            raise SystemExit(f"{path}: no DOCUMENTATION string")
        data = yaml.safe_load(doc)
        rows.append((data["module"], data.get("short_description", "")))
    return rows


def role_docs() -> list[tuple[str, str]]:
    rows = []
    for spec in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        entry = (yaml.safe_load(spec.read_text(encoding="utf-8")) or {}).get("argument_specs", {}).get("main", {})
        rows.append((spec.parents[1].name, entry.get("short_description", "")))
    return rows


def render() -> str:
    lines = [BEGIN, "", "| module | what it does |", "|---|---|"]
    lines += [f"| `mlops.k8s.{name}` | {desc} |" for name, desc in module_docs()]
    lines += ["", "| role | what it does |", "|---|---|"]
    lines += [f"| `mlops.k8s.{name}` | {desc} |" for name, desc in role_docs()]
    lines += [
        "",
        "Full documentation: `ansible-doc mlops.k8s.<module>` and `ansible-doc -t role mlops.k8s.<role>`.",
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"README.md has no {BEGIN} ... {END} block", file=sys.stderr)
        return 1
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + render() + tail
    if "--check" in argv:
        if new != text:
            print("README.md index is out of date: run `python hack/gen_index.py`", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
