"""Webhook servers of the sandbox's components: plain HTTPS servers on 127.0.0.1 (`server.py`), registered in the
endpoints registry under the pod and containerPort they stand for, acting on the cluster only through their
component's API client.

* `seldon.py`: Seldon Core v1.18's validating admission webhook, served for the seldon_core role's operator pod;
* `tls.py`: serving certificates (a CA and a certificate for a Service's DNS names).
"""
