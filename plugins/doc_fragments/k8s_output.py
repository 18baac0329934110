# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options of modules that return live objects (args.OUTPUT_ARG_SPEC): Secret masking and field hiding.
    DOCUMENTATION = r"""
options:
  reveal_secrets:
    description:
      - Return the values of Secrets in clear. By default the values of C(data) and C(stringData) (and those kept in
        the C(kubectl.kubernetes.io/last-applied-configuration) annotation) are replaced by C(********), so they
        reach neither the output nor the logs; the key names are kept.
    type: bool
    default: false
  hide_fields:
    description:
      - Fields removed from every returned object, as dotted paths with C([n]) list indexes, for example
        C(metadata.annotations), C(data) or C(spec.template.spec.containers[0].env) (as C(hide_fields) of
        C(kubernetes.core.k8s_info)). A path that does not exist is ignored.
    type: list
    elements: str
    default: []
"""
