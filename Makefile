# fuser: the two commands of the README are `make demo` and `make test`.
.PHONY: setup build demo test lit cargo-test example docs clean conformance conformance-supported model-tests fuzz-corpus

CARGO ?= cargo
LIT := .venv/bin/lit
FILECHECK_DIR := /usr/lib/llvm-22/bin

setup:
	@./scripts/setup.sh

build: setup
	$(CARGO) build --release --workspace --bins
	$(CARGO) build --release -p fuser-runtime --lib

# The main job on the bundled default models: a fuser-opt pipeline over a graph-dialect
# model (it prints the simplified module), then the bundled JSON model compiled for this
# CPU and run beside the reference evaluator, kernel by kernel.
DEMO_MODEL := testdata/demo/resnet_bottleneck.onnx
demo: build
	@mkdir -p target/demo
	@echo "== fuser import $(DEMO_MODEL)"
	@./target/release/fuser import $(DEMO_MODEL) -o target/demo/model.mlir
	@echo "== fuser explain target/demo/model.mlir --svg target/demo/fusion.svg   (e-graph fusion)"
	@./target/release/fuser explain target/demo/model.mlir --svg target/demo/fusion.svg
	@echo "== fuser run target/demo/model.mlir --target cpu --compare-with reference"
	@./target/release/fuser run target/demo/model.mlir --target cpu --compare-with reference \
		--random-inputs --seed 1 --output-dir target/demo/out

# The runtime's kernels and the fused-kernel property tests once more under each f32
# vector tier the CPU has (FUSER_VECTOR_BITS, docs/cpu-backend.md): the default run covers
# only the tier this CPU picks.
cargo-test: build
	$(CARGO) test --release --workspace
	FUSER_VECTOR_BITS=256 $(CARGO) test --release -p fuser-runtime --lib
	FUSER_VECTOR_BITS=256 $(CARGO) test --release -p fuser-passes --lib fused_kernel
	FUSER_VECTOR_BITS=512 $(CARGO) test --release -p fuser-runtime --lib
	FUSER_VECTOR_BITS=512 $(CARGO) test --release -p fuser-passes --lib fused_kernel

example: setup
	$(CARGO) run --release -p fuser-embedding-example

lit: build
	PATH="$(CURDIR)/target/release:$(FILECHECK_DIR):$$PATH" $(LIT) -sv lit-tests

# The ONNX backend node cases of the installed onnx package, in onnx's own layout.
CASES := target/onnx-node-cases
$(CASES)/manifest.json: scripts/onnx_node_cases.py | setup
	.venv/bin/python scripts/onnx_node_cases.py $(CASES) 2>/dev/null

# Every case whose ops are all supported, on the reference evaluator and compiled for
# the CPU, in one process; fails on any wrong result. Then the same cases written back as
# ONNX by fuser's exporter and imported again, on the reference evaluator.
conformance-supported: build $(CASES)/manifest.json
	./target/release/fuser conformance $(CASES) --targets reference,cpu
	./target/release/fuser conformance $(CASES) --targets reference --through-onnx-export

# Every case on both targets, and the per-op report docs/conformance.md.
conformance: build $(CASES)/manifest.json
	./target/release/fuser conformance $(CASES) --all --targets reference,cpu --report docs/conformance.md || true
	@echo "wrote docs/conformance.md"

# Models built with the onnx helper API, run by fuser (reference and cpu) and onnxruntime.
model-tests: build
	.venv/bin/python scripts/model_tests.py ./target/release/fuser target/model-tests

test: cargo-test example lit conformance-supported model-tests

# Seeds for the importers' fuzz targets (docs/frontends.md has the fuzzing commands).
fuzz-corpus: $(CASES)/manifest.json
	mkdir -p fuzz/corpus/onnx_import fuzz/corpus/json_import
	for d in $(CASES)/*/; do cp "$$d/model.onnx" "fuzz/corpus/onnx_import/$$(basename $$d).onnx"; done
	cp testdata/json/*.json fuzz/corpus/json_import/

# Regenerate the generated docs (docs/passes.md, docs/dialects/*.md).
docs: setup
	FUSER_BLESS=1 $(CARGO) test --release --workspace --lib -- doc_is_current

clean:
	$(CARGO) clean
