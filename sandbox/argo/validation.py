"""The Workflow controller's one-time validation of a workflow's spec (a mixin of `sandbox.argo.workflow.Operation`)."""

from __future__ import annotations

from .nodes import LEAF
from .template import TemplateError, depends_tasks, references


class Validation:
    """Upstream's validation of the entrypoint, the templates and their references."""

    def validate(self) -> None:
        """Upstream's one-time validation (messages as upstream's, without the "invalid spec: " prefix)."""
        spec = self.spec
        entry = spec.get("entrypoint")
        if not entry:
            raise TemplateError("spec.entrypoint is required")
        local = {t.get("name"): t for t in spec.get("templates") or []}
        for holder in ({"template": entry}, {"template": spec.get("onExit")}):
            if holder["template"]:
                tmpl = self.check_holder(holder, local, "", args=(spec.get("arguments") or {}))
                self.check_template(tmpl, local)
        strategy = (spec.get("podGC") or {}).get("strategy")
        if strategy and strategy not in ("OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion",
                                         "OnWorkflowSuccess"):
            raise TemplateError(f"podGC.strategy unknown strategy '{strategy}'")
        for name, tmpl in local.items():
            try:
                self.check_template(tmpl, local)
            except TemplateError as e:
                raise TemplateError(f"templates.{name} {e}") from None

    def check_holder(self, holder: dict, templates: dict, prefix: str, args: dict | None = None) -> dict:
        try:
            tmpl, _ = self.resolve(holder, templates)
        except TemplateError as e:
            raise TemplateError(f"{prefix}{e}") from None
        if args is not None:
            given = {p.get("name") for p in args.get("parameters") or []}
            for ip in (tmpl.get("inputs") or {}).get("parameters") or []:
                if ip.get("name") not in given and ip.get("value") is None and ip.get("default") is None:
                    raise TemplateError(f"{prefix}templates.{tmpl.get('name')} inputs.parameters."
                                        f"{ip.get('name')} was not supplied")
        return tmpl

    def check_template(self, tmpl: dict, templates: dict) -> None:
        kinds = [k for k in ("container", "script", "resource", "steps", "dag", "suspend") if k in tmpl]
        if not kinds:
            raise TemplateError("template type unspecified. choose one of: container, containerSet, steps, "
                                "script, resource, dag, suspend, template, template ref")
        if len(kinds) > 1:
            raise TemplateError("multiple template types specified. choose one of: container, containerSet, "
                                "steps, script, resource, dag, suspend, template, template ref")
        name = tmpl.get("name")
        for i, group in enumerate(tmpl.get("steps") or []):
            for step in group if isinstance(group, list) else (group or {}).get("steps") or []:
                holder = step if step.get("templateRef") or step.get("inline") else {"template": step.get("template")}
                self.check_holder(holder, templates, f"templates.{name}.steps[{i}].{step.get('name')} ",
                                  args=step.get("arguments") or {})
        tasks = {t.get("name"): t for t in (tmpl.get("dag") or {}).get("tasks") or []}
        if "dag" in tmpl and not tasks:
            raise TemplateError("must have at least one task")
        for tname, task in tasks.items():
            holder = task if task.get("templateRef") or task.get("inline") else {"template": task.get("template")}
            self.check_holder(holder, templates, f"templates.{name}.tasks.{tname} ", args=task.get("arguments") or {})
            deps = depends_tasks(task["depends"]) if task.get("depends") else task.get("dependencies") or []
            for d in deps:
                if d not in tasks:
                    raise TemplateError(f"templates.{name}.tasks.{tname} dependency '{d}' not defined")
        if any(k in tmpl for k in LEAF):
            declared = {f"inputs.parameters.{p.get('name')}" for p in (tmpl.get("inputs") or {}).get("parameters")
                        or []}
            body = {k: tmpl.get(k) for k in (*LEAF, "volumes", "metadata")}
            for ref in references(body):
                if ref.startswith("inputs.") and ref not in declared:
                    raise TemplateError(f"templates.{name}: failed to resolve {{{{{ref}}}}}")
