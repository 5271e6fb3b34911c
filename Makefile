# meta-cni build, test and demo targets. `make help` lists them.
GO      ?= go
BIN     := bin
GOFLAGS ?=
export CGO_ENABLED ?= 0

# Fuzz targets run briefly in `make test`; raise FUZZTIME for a longer hunt.
# A count of executions, not a duration: Go 1.26's fuzz coordinator can
# report a spurious "context deadline exceeded" failure when a duration
# runs out while a worker is mid-input (go.dev/issue/75804, fixed in 1.27).
FUZZTIME ?= 40000x
# `make fuzz-long` (and so `make soak`) runs every target for this long each:
# a duration, since a soak has a time budget and a count takes seconds or
# many minutes on a shared machine; hack/fuzz-long.sh tells the coordinator's
# spurious deadline failure apart from a finding. FUZZ_KEEP=1 copies the
# corpus found into testdata/fuzz/ to be committed.
FUZZ_BUDGET ?= 60s
FUZZ_KEEP ?= 0
# Benchmarks are slow by design (hundreds of real pods); one run each.
BENCHTIME ?= 1x

.PHONY: all build tools test unit fuzz fuzz-long bench demo image fmt vet lint clean help conformance e2e-node node-up node-down soak

IMAGE ?= ghcr.io/meta-cni/meta-cni:0.1.0
IMAGE_TAR ?= .cache/images/meta-cni.tar

all: build

help:
	@echo "build  - every binary into $(BIN)/"
	@echo "tools  - etcd, the Kubernetes binaries (kube-apiserver, kubelet, ...), helm, promcheck, Multus and Whereabouts for the tests, into .cache/tools/"
	@echo "test   - vet, gofmt check, every test layer (root needed for the network ones), fuzz seeds + short fuzz"
	@echo "conformance - meta-cni beside Multus v4.2.3 and v4.3.0 on every scenario (docs/multus-compat.md); part of test"
	@echo "fuzz-long - every fuzz target for FUZZ_BUDGET (60s) each; FUZZ_KEEP=1 keeps the corpus in testdata/fuzz/"
	@echo "bench  - benchmarks; figures go to docs/benchmarks.md by hand"
	@echo "soak   - issue 10's scenarios at full scale (10 nodes, 1000 pods a round; hours), then docs/reliability.md's tables; test runs them scaled down"
	@echo "demo   - a local control plane, a few pods with two networks each"
	@echo "e2e-node - the real-node tests (containerd + kubelet, internal/e2enode) with the long parts (pod-start figures) that test leaves out; REALNODE_NODES=1 for one node"
	@echo "node-up - a real cluster (control plane + kubelet node) left running; facts in .cache/node/env"
	@echo "node-down - tears node-up's cluster down and checks nothing is left"
	@echo "image  - the node image the Helm chart runs, without Docker, into $(IMAGE_TAR)"

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/meta-cni/meta-cni/pkg/release.Version=$(VERSION)

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

tools:
	$(GO) run ./hack/tools/build

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -count=1 -short ./pkg/...

# Every Fuzz target, per package: two packages may use the same target name.
fuzz:
	@set -e; grep -rHoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' pkg cmd internal | sort -u | \
	while IFS=: read -r file decl; do \
		target=$${decl#func }; pkg=./$$(dirname $$file); \
		echo "fuzz $$target in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# Every Fuzz target for a wall-clock budget each; part of `make soak`.
fuzz-long:
	@GO=$(GO) FUZZ_BUDGET=$(FUZZ_BUDGET) FUZZ_KEEP=$(FUZZ_KEEP) ./hack/fuzz-long.sh

test: vet build tools
	$(GO) test -count=1 -timeout 60m ./...
	cd hack/tools/promcheck && $(GO) test -count=1 ./...
	$(MAKE) fuzz

# The differential suite against Multus built from its module; `test` runs it
# too, with the rest of ./...
conformance: tools
	$(GO) test -count=1 -timeout 20m ./internal/conformance/

bench: build tools
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m ./...

# Issue 10's scenarios at full scale (internal/soak); `test` runs them
# scaled down. The run's figures go to $(SOAK_RESULTS), and soakreport
# prints docs/reliability.md's tables from them. SOAK_IMPL=meta-cni or
# SOAK_IMPL=multus-whereabouts runs one implementation alone.
SOAK_RESULTS ?= .cache/soak/full

soak: build tools
	SOAK=full SOAK_IMPL=$(SOAK_IMPL) SOAK_RESULTS=$(abspath $(SOAK_RESULTS)) $(GO) test -count=1 -v -timeout 6h ./internal/soak/
	$(GO) run ./hack/soakreport $(SOAK_RESULTS)
	$(MAKE) fuzz-long

# The demo builds only what it runs (the plugins, etcd, kube-apiserver), with
# progress; helm and bin/ are not needed for it.
demo:
	@echo "==> compiling the demo (with an empty Go build cache: a minute or two)"
	@$(GO) build -o $(BIN)/.demo ./hack/demo
	@$(BIN)/.demo

# A real node (internal/testenv/realnode): containerd and a kubelet per node,
# in their own netns and mount namespace. Root, containerd and runc needed;
# the Kubernetes binaries are built on first use, with progress.
REALNODE_NODES ?= 2

e2e-node:
	E2ENODE_LONG=1 REALNODE_NODES=$(REALNODE_NODES) $(GO) test -count=1 -v -timeout 60m ./internal/e2enode/

node-up:
	@$(GO) build -o $(BIN)/.node ./hack/node
	@REALNODE_NODES=$(REALNODE_NODES) $(BIN)/.node up

node-down:
	@$(GO) build -o $(BIN)/.node ./hack/node
	@$(BIN)/.node down

# No Docker engine: hack/image compiles ./cmd/... and packs the image tagged
# $(IMAGE) as a docker-archive tarball (ctr import, docker load, crane push).
# images/Dockerfile builds the same layout for those who have Docker.
image:
	@echo "==> building the node image $(IMAGE) into $(IMAGE_TAR)"
	$(GO) run ./hack/image --out $(IMAGE_TAR) --ref $(IMAGE) --version $(VERSION)

clean:
	rm -rf $(BIN) .cache
