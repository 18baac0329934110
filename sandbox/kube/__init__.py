"""The real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) as a
sandbox backend: `python -m sandbox start --dir DIR --control-plane kube`. See controlplane.py."""
