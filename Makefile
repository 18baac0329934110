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

# Every benchmark in turn, each printing its tables (tens of minutes; run on an otherwise idle machine), then the
# pictures in benchmarks/results/ from the JSON some of them write (plot.py needs benchmarks/requirements-bench.txt).
BENCHMARKS := bench_imports bench_bulk_apply bench_apiserver bench_s3_upload bench_tasks bench_converge \
  bench_seldon_scale bench_predict
bench: setup
	@$(BIN)/uv pip install -q --python $(BIN)/python -r benchmarks/requirements-bench.txt -c constraints.txt
	@set -e; for script in $(BENCHMARKS); do echo; $(BIN)/python benchmarks/$$script.py; done
	@$(BIN)/python benchmarks/plot.py

clean:
	rm -rf build ansible_collections .pytest_cache .ruff_cache .hypothesis
