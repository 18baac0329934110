"""hack/vendor_crds.py and hack/upstream-crds.lock.json: the CRDs the platform roles ship are the releases' files.

- every vendored file has the sha256 the lock records (always);
- ``vendor_crds.py --check`` re-reads the releases' Go modules and finds the role files and the lock unchanged
  (offline: GOPROXY=off, so only with the modules in the Go module cache; skipped, saying so, without them);
- the extraction of CRD documents from a multi-document release manifest keeps each document byte for byte.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "hack" / "vendor_crds.py"
LOCK = json.loads((REPO / "hack" / "upstream-crds.lock.json").read_text())
HOME = os.environ.get("HOME", "")  # at import: the unit tests' fixtures give each test a private HOME (and Go cache)


def load_script():
    spec = importlib.util.spec_from_file_location("vendor_crds", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_vendored_file_has_the_locked_sha256():
    files = {name: entry for role in LOCK.values() for name, entry in role["files"].items()}
    assert len(files) == 16 + 1  # Argo: minimal + full, 8 each; Emissary: one file of 14 CRDs
    for name, entry in files.items():
        assert hashlib.sha256((REPO / name).read_bytes()).hexdigest() == entry["sha256"], name
    # every file under roles/*/files/crds is locked (none added by hand)
    on_disk = {str(p.relative_to(REPO)) for p in REPO.glob("roles/*/files/crds/**/*.yaml")}
    assert on_disk == set(files)


def test_the_lock_names_the_pinned_releases_and_the_refused_module():
    assert LOCK["argo_workflows"]["version"] == "v3.7.18" and LOCK["ambassador"]["version"] == "v3.10.0"
    defaults = (REPO / "roles" / "argo_workflows" / "defaults" / "main.yml").read_text()
    assert "argo_workflows_version: %s\n" % LOCK["argo_workflows"]["version"] in defaults
    defaults = (REPO / "roles" / "ambassador" / "defaults" / "main.yml").read_text()
    assert 'ambassador_version: "%s"\n' % LOCK["ambassador"]["version"].lstrip("v") in defaults
    # Seldon Core's operator module is not served by the proxy: the lock says so and vendors nothing
    assert LOCK["seldon_core"]["files"] == {} and "403" in LOCK["seldon_core"]["error"]


def test_crd_documents_keeps_each_crd_document_unchanged():
    crd_a = ("# head comment\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
             "metadata:\n  name: a\n")
    other = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"
    crd_b = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  x: '---'\n"
    text = crd_a + "---\n" + other + "---\n" + crd_b
    assert load_script().crd_documents(text) == crd_a + "---\n" + crd_b


@pytest.mark.timeout(600)
def test_vendor_check_finds_the_role_files_and_the_lock_unchanged():
    if shutil.which("go") is None:
        pytest.skip("go is not on the PATH: the releases' modules cannot be read")
    env = dict(os.environ, GOPROXY="off", HOME=HOME)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    refused = [line for line in proc.stdout.splitlines()
               if line.startswith(("argo_workflows ", "ambassador ")) and "refused" in line]
    if refused:
        pytest.skip("release module not in the Go module cache (GOPROXY=off): %s" % refused[0][:200])
    assert proc.returncode == 0, proc.stdout + proc.stderr
