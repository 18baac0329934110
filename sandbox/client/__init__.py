"""The sandbox components' Kubernetes client: HTTPS requests and discovery (`rest`), shared informers (`cache`) and the
per-identity client the controllers write with (`remote`), so the same components run against the emulator or a
real kube-apiserver."""
