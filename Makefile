# mlops.k8s — developer entry points. `make demo` runs the main job, `make test` runs every test.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test lint unit integration sandbox-tests sanity ansible-lint galaxy-test kube kube-test bench clean

setup:
	@bash hack/setup.sh

demo: setup
	@bash hack/demo.sh

test: setup
	@bash hack/test.sh

lint: setup
	@bash hack/test.sh lint

unit: setup
	@bash hack/test.sh unit

integration: setup
	@bash hack/test.sh integration

sanity: setup
	@bash hack/test.sh sanity

galaxy-test: setup
	@bash hack/test.sh galaxy

# The real control plane from the Kubernetes Go modules (hack/kube): cached outside the checkout by version.
kube:
	@bash hack/kube/build.sh

kube-test: setup
	@bash hack/test.sh kube

# Every benchmark in turn, each printing its tables (minutes; run on an otherwise idle machine).
bench: setup
	@set -e; for script in bench_imports bench_bulk_apply bench_apiserver bench_s3_upload bench_tasks; do \
	  echo; $(BIN)/python benchmarks/$$script.py; done

clean:
	rm -rf build ansible_collections .pytest_cache .ruff_cache .hypothesis
