"""Consistency of the collection's metadata with its plugins and roles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _documentation(path: Path) -> dict:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError(f"{path} has no DOCUMENTATION")


def _modules() -> dict[str, dict]:
    return {p.stem: _documentation(p) for p in sorted((ROOT / "plugins/modules").glob("*.py")) if p.stem != "__init__"}


# Modules with the connection options that stay out of group/mlops.k8s.k8s, and why.
NOT_IN_GROUP = {
    # its validate_certs and request_timeout (older than its connection options) are the model URL's: group
    # module_defaults meant for the API server must not change them
    "model_predict",
}


def test_action_group_lists_exactly_the_kubernetes_modules():
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text(encoding="utf-8"))
    group = set(runtime["action_groups"]["k8s"])
    k8s_modules = {
        name
        for name, doc in _modules().items()
        if "mlops.k8s.k8s_auth" in (doc.get("extends_documentation_fragment") or []) and name not in NOT_IN_GROUP
    }
    assert set(_modules()) >= NOT_IN_GROUP, "NOT_IN_GROUP names a module that does not exist"
    assert group == k8s_modules, (
        f"meta/runtime.yml group k8s differs: missing {k8s_modules - group}, extra {group - k8s_modules}"
    )


def test_every_module_documents_its_identity():
    for name, doc in _modules().items():
        assert doc["module"] == name
        assert doc.get("short_description"), name
        assert doc.get("version_added"), name


def test_readme_index_is_generated_from_the_docs():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "hack/gen_index.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_every_role_has_argument_specs_and_a_state_variable():
    for role in sorted(ROOT.glob("roles/*/")):
        specs = role / "meta" / "argument_specs.yml"
        assert specs.is_file(), f"{role.name}: meta/argument_specs.yml is missing"
        options = yaml.safe_load(specs.read_text(encoding="utf-8"))["argument_specs"]["main"].get("options", {})
        state = f"{role.name}_state"
        assert state in options, f"{role.name}: no {state} option"
        assert set(options[state].get("choices", [])) >= {"present", "absent"}, f"{role.name}: {state} choices"
