"""Embedded Kubernetes-like cluster for tests: an API server emulator plus in-process components."""
