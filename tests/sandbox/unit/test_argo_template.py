"""Unit tests of sandbox/argo/template.py: Argo variable substitution and the `when` / `depends` evaluator."""

from __future__ import annotations

import pytest

from sandbox.argo.template import (
    TemplateError,
    depends_tasks,
    evaluate,
    evaluate_bool,
    expand_depends,
    item_scope,
    references,
    substitute,
    task_results,
    to_str,
)


def test_substitute_strings_everywhere_with_spaces_inside_braces():
    scope = {"inputs.parameters.x": "1", "workflow.name": "wf"}
    obj = {"args": ["echo {{inputs.parameters.x}}", "{{ workflow.name }}-{{inputs.parameters.x}}"],
           "env": [{"name": "A", "value": "{{workflow.name}}"}], "n": 3}
    assert substitute(obj, scope) == {"args": ["echo 1", "wf-1"], "env": [{"name": "A", "value": "wf"}], "n": 3}


def test_unresolved_variable_fails_naming_it_unless_lenient():
    with pytest.raises(TemplateError, match=r"failed to resolve \{\{steps.a.outputs.result\}\}"):
        substitute("x {{steps.a.outputs.result}}", {})
    assert substitute("x {{steps.a.outputs.result}}", {}, strict=False) == "x {{steps.a.outputs.result}}"


def test_custom_references_are_left_alone():
    assert substitute("{{ .Values.x }} {{foo}}", {}) == "{{ .Values.x }} {{foo}}"


def test_references_lists_argo_variables_only():
    assert references({"a": ["{{inputs.parameters.x}} {{other}}", "{{ item.k }}"]}) == ["inputs.parameters.x",
                                                                                           "item.k"]


def test_item_scope_and_to_str():
    assert item_scope("a") == {"item": "a"}
    assert item_scope({"k": 1, "v": {"x": True}}) == {"item": '{"k":1,"v":{"x":true}}', "item.k": "1",
                                                     "item.v": '{"x":true}'}
    assert to_str(2.0) == "2"
    assert to_str(False) == "false"


@pytest.mark.parametrize(("expr", "want"), [
    ("heads == heads", True),
    ("heads == tails", False),
    ("'a b' == \"a b\"", True),
    ("5 > 3", True),
    ("5 >= 5 && 2 < 1", False),
    ("2 < 1 || 1 <= 1", True),
    ("!(1 == 2)", True),
    ("(a == a) && !(b != b)", True),
    ("10 == 10.0", True),
    ("'5' == 5", False),
    ("true", True),
    ("foo =~ '^f'", True),
    ("foo !~ '^f'", False),
    ("-1 < 0", True),
    ("my-value != other-value", True),
])
def test_evaluate_bool(expr, want):
    assert evaluate_bool(expr) is want


def test_evaluate_variables_and_errors():
    assert evaluate("a.Succeeded && !b.Failed", {"a.Succeeded": True, "b.Failed": False}) is True
    with pytest.raises(TemplateError, match="Expected boolean"):
        evaluate_bool("hello")
    for bad in ("(1 == 1", "1 == ", "a && 3", "", "5 > x", "1 == 1 )"):
        with pytest.raises(TemplateError):
            evaluate_bool(bad)


def test_depends_expansion_and_tasks():
    assert expand_depends("a && b.Failed") == "(a.Succeeded || a.Skipped || a.Daemoned) && b.Failed"
    assert depends_tasks("(train-1.Succeeded || skip) && !x.Failed") == ["train-1", "skip", "x"]
    env = {**task_results("a", "Succeeded"), **task_results("b", "Failed")}
    assert evaluate_bool(expand_depends("a && b.Failed"), env) is True
    assert evaluate_bool(expand_depends("a && b"), env) is False
    group = task_results("g", "Failed", ["Succeeded", "Failed"])
    assert group["g.AnySucceeded"] is True
    assert group["g.AllFailed"] is False
