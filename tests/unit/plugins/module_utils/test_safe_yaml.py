"""The bounded YAML loader: alias bombs, deep nesting and recursive aliases are refused with a position, fast."""

from __future__ import annotations

import time

import pytest
import yaml
from ansible_collections.mlops.k8s.plugins.module_utils import manifests, safe_yaml
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

BILLION_LAUGHS = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + ["a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 9)) for i in range(1, 10)]
    + ["kind: ConfigMap", "apiVersion: v1", "metadata: {name: bomb}", "data: {x: *a9}"])


def test_billion_laughs_is_refused_in_milliseconds():
    started = time.monotonic()
    with pytest.raises(yaml.YAMLError, match="aliases expand it to more than 1000000 nodes"):
        safe_yaml.load_all(BILLION_LAUGHS)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "".join("%sa:\n" % ("  " * i) for i in range(1500)),
                                  "[" * 101 + "]" * 101])
def test_deep_nesting_is_refused_without_recursion_error(text):
    with pytest.raises(yaml.YAMLError, match="nested deeper than 100 levels"):
        safe_yaml.load_all(text)


def test_aliases_cannot_build_depth_either():
    text = "a: &x " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 50 + "*x" + "]" * 50
    with pytest.raises(yaml.YAMLError, match="aliases expand it deeper than 100 levels"):
        safe_yaml.load_all(text)


def test_recursive_alias_is_refused():
    with pytest.raises(yaml.YAMLError, match="recursive structure"):
        safe_yaml.load_all("&a [*a]")


def test_ordinary_documents_and_aliases_load_as_before():
    text = "base: &b {cpu: 1}\nlimits: *b\nrequests: [*b, *b]\n---\n" + "[" * 99 + "]" * 99 + "\n---\n"
    docs = safe_yaml.load_all(text)
    assert docs[0] == {"base": {"cpu": 1}, "limits": {"cpu": 1}, "requests": [{"cpu": 1}, {"cpu": 1}]}
    assert docs == list(yaml.safe_load_all(text))


def test_size_limit(monkeypatch):
    monkeypatch.setattr(safe_yaml, "MAX_CHARS", 10)
    with pytest.raises(safe_yaml.YAMLLimitError, match="more than the"):
        safe_yaml.load_all("a: 12345678901")
    with pytest.raises(K8sError, match="definition: YAML refused"):
        manifests.load_manifests("a: 12345678901")


def test_depth_over():
    assert not safe_yaml.depth_over({"a": [{"b": 1}]}, 3)
    assert safe_yaml.depth_over({"a": [{"b": {}}]}, 3)


@pytest.mark.parametrize(("definition", "message"), [
    (BILLION_LAUGHS, "definition: invalid YAML (line 7, column 5): aliases expand it to more than"),
    ("[" * 400 + "]" * 400, "definition: invalid YAML (line 1, column 101): nested deeper than 100 levels"),
])
def test_manifests_from_hostile_yaml_fail_cleanly(definition, message):
    with pytest.raises(K8sError) as err:
        manifests.load_manifests(definition)
    assert err.value.msg.startswith(message)


def test_deep_objects_fail_cleanly():
    deep = {"leaf": 1}
    for _level in range(900):
        deep = {"nested": deep}
    with pytest.raises(K8sError, match="definition: nested deeper than 100 levels"):
        manifests.load_manifests(deep)


@pytest.mark.parametrize(("meta", "message"), [
    ({"name": "a/b"}, "metadata.name 'a/b' is not a valid name"),
    ({"name": ".."}, "metadata.name '..' is not a valid name"),
    ({"name": "x?watch=1"}, "metadata.name 'x?watch=1' is not a valid name"),
    ({"name": "ok", "namespace": "Models"}, "metadata.namespace 'Models' is not a valid name"),
    ({"name": "ok", "namespace": "models\n"}, "metadata.namespace 'models\\n' is not a valid name"),
])
def test_manifest_names_that_would_change_the_url(meta, message):
    manifest = manifests.Manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}, "definition")
    with pytest.raises(K8sError) as err:
        manifests.validate_manifest(manifest)
    assert message in err.value.msg


def test_rbac_style_names_stay_valid():
    for name in ("system:controller:job-controller", "Admin_Role", "user@example.com"):
        obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}}
        manifests.validate_manifest(manifests.Manifest(obj, "definition"))
