# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options of modules that can wait for the objects they change.
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Whether to wait until the objects are ready (O(state=present)) or gone (O(state=absent)).
      - Ready means O(wait_condition) when given; otherwise a completed rollout for Deployments, StatefulSets and
        DaemonSets, C(Established) for CustomResourceDefinitions, phase C(Active) for Namespaces,
        C(status.state=Available) for SeldonDeployments (failing at once on C(Failed)), and existence for anything
        else.
      - Waits watch the API (no polling); on timeout the error says what was last seen.
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds to wait in total, from 0 to 31622400 (a year).
    type: int
    default: 120
  wait_condition:
    description:
      - A condition in C(status.conditions) to wait for instead of the kind's default readiness.
    type: dict
    suboptions:
      type:
        description:
          - The condition type, for example C(Available) or C(Ready).
        type: str
        required: true
      status:
        description:
          - The status the condition must have.
        type: str
        default: "True"
        choices: ["True", "False", "Unknown"]
      reason:
        description:
          - The reason the condition must have, when given.
        type: str
  wait_fail_fast:
    description:
      - While waiting for a rollout (a Deployment, StatefulSet or DaemonSet without O(wait_condition)), fail as
        soon as a pod of its current revision cannot start, instead of waiting out O(wait_timeout).
      - It gives up on an image that cannot be pulled (C(ErrImagePull), C(ImagePullBackOff), C(InvalidImageName),
        C(ErrImageNeverPull)), a container that cannot be created (C(CreateContainerConfigError),
        C(CreateContainerError)) and a container in C(CrashLoopBackOff) after O(wait_crashloop_restarts)
        restarts. The error names the pod, the container, the reason, the message and the last exit code.
      - The pods are looked at every 5 seconds of waiting; pods of an older revision being replaced do not count.
      - V(false) waits until the timeout, for problems expected to clear by themselves within it.
    type: bool
    default: true
  wait_crashloop_restarts:
    description:
      - Restarts of a crash-looping container after which O(wait_fail_fast) gives up, 0 or more.
    type: int
    default: 3
"""
